package stratum

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/quarrychain/quarry/chain"
)

// Request is one line from a client: a JSON-RPC 1.0 style call. ID is
// echoed verbatim in the response (a number, a string or null).
type Request struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method"`
	Params []json.RawMessage `json:"params"`
}

// Message is any line the server sends: a Response (Method empty) or a
// Notification (Method set).
type Message struct {
	ID     json.RawMessage   `json:"id"`
	Method string            `json:"method,omitempty"`
	Params []json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage   `json:"result,omitempty"`
	Error  *ProtocolError    `json:"error,omitempty"`
}

// Method names.
const (
	methodSubscribe       = "mining.subscribe"
	methodAuthorize       = "mining.authorize"
	methodSubmit          = "mining.submit"
	methodExtranonceSub   = "mining.extranonce.subscribe"
	methodConfigure       = "mining.configure"
	methodSuggestDiff     = "mining.suggest_difficulty"
	extVersionRolling     = "version-rolling"
	extVersionRollingMask = "version-rolling.mask"
)

// Extra-nonce sizes: the coinbase's 8-byte extra-nonce is extranonce1 (the
// server's, per connection) followed by extranonce2 (the miner's).
const (
	Extranonce1Size = 4
	Extranonce2Size = chain.ExtraNonceSize - Extranonce1Size
)

// VersionRollingMask is the set of header version bits miners may roll
// (BIP 320's general-purpose bits). Quarry's consensus only requires a
// version >= 1, and the template's version (1) has none of these bits.
const VersionRollingMask uint32 = 0x1fffe000

// PrevHashHex encodes a previous-block hash the way mining.notify carries
// it: the hash's internal (little-endian) bytes as eight 4-byte words, each
// word byte-swapped, hex-encoded. cpuminer reads it back with le32dec per
// word into a big-endian-word header buffer, which restores the internal
// order.
func PrevHashHex(h chain.Hash) string {
	var b [chain.HashSize]byte
	for i := 0; i < chain.HashSize; i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = h[i+3], h[i+2], h[i+1], h[i]
	}
	return hex.EncodeToString(b[:])
}

// ParsePrevHashHex inverts PrevHashHex.
func ParsePrevHashHex(s string) (chain.Hash, error) {
	var h chain.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != chain.HashSize {
		return h, fmt.Errorf("prevhash %q: want %d hex characters", s, 2*chain.HashSize)
	}
	for i := 0; i < chain.HashSize; i += 4 {
		h[i], h[i+1], h[i+2], h[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	return h, nil
}

// Uint32Hex encodes a header integer (version, nbits, ntime, nonce) as
// stratum carries it: big-endian hex, 8 characters.
func Uint32Hex(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return hex.EncodeToString(b[:])
}

// ParseUint32Hex decodes exactly 8 hex characters, big-endian.
func ParseUint32Hex(s string) (uint32, error) {
	if len(s) != 8 {
		return 0, fmt.Errorf("%q: want 8 hex characters", s)
	}
	var b [4]byte
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return 0, fmt.Errorf("%q: not hex", s)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// BranchHex encodes a merkle branch for mining.notify: each hash in its
// internal byte order (the client concatenates the bytes as they are).
func BranchHex(branch []chain.Hash) []string {
	out := make([]string, len(branch))
	for i, h := range branch {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

// DifficultyJSON formats a share difficulty for mining.set_difficulty:
// the shortest decimal that round-trips, never an exponent-free integer
// overflow, so fractional difficulties (dev, regtest) survive.
func DifficultyJSON(d float64) string {
	return strconv.FormatFloat(d, 'g', -1, 64)
}

// appendQuoted appends s, known to be hex (JSON-safe), as a JSON string.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// stringParam decodes params[i] as a string.
func stringParam(params []json.RawMessage, i int, name string) (string, *ProtocolError) {
	if i >= len(params) {
		return "", protoErr(CodeOther, "missing parameter %d (%s)", i, name)
	}
	var s string
	if err := json.Unmarshal(params[i], &s); err != nil {
		return "", protoErr(CodeOther, "parameter %d (%s) must be a string", i, name)
	}
	return s, nil
}

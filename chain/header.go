package chain

import (
	"encoding/binary"
	"fmt"
	"time"
)

// HeaderSize is the serialized size of a block header: Bitcoin's 80-byte layout.
const HeaderSize = 80

// Header is a block header in Bitcoin's exact layout. All integers are
// little-endian on the wire. A Header is a plain value; copies are independent.
type Header struct {
	Version    uint32
	PrevBlock  Hash
	MerkleRoot Hash
	Timestamp  uint32 // seconds since the Unix epoch
	Bits       uint32 // compact target
	Nonce      uint32
}

// Bytes returns the canonical 80-byte serialization of h.
func (h *Header) Bytes() [HeaderSize]byte {
	var b [HeaderSize]byte
	h.put(b[:])
	return b
}

func (h *Header) put(b []byte) {
	binary.LittleEndian.PutUint32(b[0:4], h.Version)
	copy(b[4:36], h.PrevBlock[:])
	copy(b[36:68], h.MerkleRoot[:])
	binary.LittleEndian.PutUint32(b[68:72], h.Timestamp)
	binary.LittleEndian.PutUint32(b[72:76], h.Bits)
	binary.LittleEndian.PutUint32(b[76:80], h.Nonce)
}

// BlockHash returns SHA-256d of the 80 header bytes.
func (h *Header) BlockHash() Hash {
	b := h.Bytes()
	return DoubleSHA256(b[:])
}

// Time returns the header timestamp as a time.Time.
func (h *Header) Time() time.Time { return time.Unix(int64(h.Timestamp), 0).UTC() }

// DecodeHeader decodes exactly HeaderSize bytes into a Header.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) != HeaderSize {
		return h, fmt.Errorf("%w: header is %d bytes, want %d", ErrMalformed, len(b), HeaderSize)
	}
	h.Version = binary.LittleEndian.Uint32(b[0:4])
	copy(h.PrevBlock[:], b[4:36])
	copy(h.MerkleRoot[:], b[36:68])
	h.Timestamp = binary.LittleEndian.Uint32(b[68:72])
	h.Bits = binary.LittleEndian.Uint32(b[72:76])
	h.Nonce = binary.LittleEndian.Uint32(b[76:80])
	return h, nil
}

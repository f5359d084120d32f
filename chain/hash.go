package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HashSize is the size in bytes of a block hash, transaction id or merkle node.
const HashSize = 32

// Hash is a SHA-256d digest in internal (little-endian) byte order. Its text
// form follows Bitcoin's convention: the bytes reversed, hex-encoded, so a
// proof-of-work hash shows its leading zeros. Hash is a value type and safe
// for concurrent use.
type Hash [HashSize]byte

// ZeroHash is the all-zero hash, used as the previous hash of a genesis block.
var ZeroHash Hash

// String returns the byte-reversed hex form of h.
func (h Hash) String() string {
	var r [HashSize]byte
	for i := 0; i < HashSize; i++ {
		r[i] = h[HashSize-1-i]
	}
	return hex.EncodeToString(r[:])
}

// IsZero reports whether h is the zero hash.
func (h Hash) IsZero() bool { return h == ZeroHash }

// MarshalText implements encoding.TextMarshaler with the byte-reversed hex form.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler for the byte-reversed hex form.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash parses the byte-reversed hex form produced by Hash.String. It
// requires exactly 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("hash must be %d hex characters, got %d", 2*HashSize, len(s))
	}
	var r [HashSize]byte
	if _, err := hex.Decode(r[:], []byte(s)); err != nil {
		return h, fmt.Errorf("invalid hash hex: %w", err)
	}
	for i := 0; i < HashSize; i++ {
		h[i] = r[HashSize-1-i]
	}
	return h, nil
}

// DoubleSHA256 returns SHA-256(SHA-256(b)).
func DoubleSHA256(b []byte) Hash {
	first := sha256.Sum256(b)
	return Hash(sha256.Sum256(first[:]))
}

package chain

import (
	"crypto/sha256"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

// AddressSize is the size of an account address.
const AddressSize = 20

// Address identifies an account: the first 20 bytes of SHA-256 of the
// owner's 33-byte compressed secp256k1 public key. Its text form is bech32m
// with the network's human-readable prefix (Params.AddressHRP) and no witness
// version, so an address of another network is rejected by its prefix and a
// mistyped one by its checksum.
type Address [AddressSize]byte

// AddressFromPubKey derives the address of a compressed public key.
func AddressFromPubKey(pub []byte) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:AddressSize])
	return a
}

// IsZero reports whether a is the all-zero address (used by genesis, which
// pays nobody).
func (a Address) IsZero() bool { return a == Address{} }

// Encode returns the bech32m text form of a for the given network.
func (a Address) Encode(p *Params) string {
	conv, err := bech32.ConvertBits(a[:], 8, 5, true)
	if err != nil {
		panic(err) // cannot happen for 20 bytes
	}
	s, err := bech32.EncodeM(p.AddressHRP, conv)
	if err != nil {
		panic(err) // cannot happen: fixed HRP and length
	}
	return s
}

// DecodeAddress parses the bech32m text form and checks it belongs to network p.
func DecodeAddress(s string, p *Params) (Address, error) {
	var a Address
	hrp, data, version, err := bech32.DecodeGeneric(s)
	if err != nil {
		return a, fmt.Errorf("invalid address %q: %w", s, err)
	}
	if version != bech32.VersionM {
		return a, fmt.Errorf("invalid address %q: not bech32m", s)
	}
	if hrp != p.AddressHRP {
		return a, fmt.Errorf("address %q is for another network (prefix %q, this network %s uses %q)", s, hrp, p.Name, p.AddressHRP)
	}
	raw, err := bech32.ConvertBits(data, 5, 8, false)
	if err != nil {
		return a, fmt.Errorf("invalid address %q: %w", s, err)
	}
	if len(raw) != AddressSize {
		return a, fmt.Errorf("invalid address %q: payload is %d bytes, want %d", s, len(raw), AddressSize)
	}
	copy(a[:], raw)
	return a, nil
}

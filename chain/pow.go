package chain

import (
	"math/big"
	"sync/atomic"
)

// Proof-of-work arithmetic, bit-for-bit compatible with Bitcoin Core
// (arith_uint256::SetCompact / GetCompact, CheckProofOfWork, GetBlockProof).
//
// Compact target ("bits"): exponent = bits >> 24, mantissa = bits & 0x007fffff,
// target = mantissa * 256^(exponent-3) (a right shift when exponent < 3, which
// drops low mantissa bytes). Bit 0x00800000 is a sign bit. Core's SetCompact
// reports a negative value (sign set and non-zero mantissa after the shift)
// and an overflow (non-zero mantissa shifted past 256 bits) separately; here
// both, and a zero target, are errors of kind ErrBadBits. Nothing is clamped.

// compactSignBit is the sign bit of the compact mantissa.
const compactSignBit = 0x00800000

// oneLsh256 is 2^256; work and range checks use it. It is never mutated.
var oneLsh256 = new(big.Int).Lsh(big.NewInt(1), 256)

// CompactToBig decodes Bitcoin's compact target. A set sign bit with non-zero
// mantissa (negative), a mantissa shifted past 256 bits (overflow) and a zero
// target are errors of kind ErrBadBits (never clamped).
func CompactToBig(bits uint32) (*big.Int, error) {
	size := bits >> 24
	word := bits & 0x007fffff

	// Same order of operations as Core: the mantissa is shifted first, and the
	// negative/overflow flags look at the shifted mantissa.
	if size <= 3 {
		word >>= 8 * (3 - size)
	}
	if word != 0 && bits&compactSignBit != 0 {
		return nil, ruleErr(ErrBadBits, "bits %08x encode a negative target", bits)
	}
	if word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32)) {
		return nil, ruleErr(ErrBadBits, "bits %08x overflow 256 bits", bits)
	}
	if word == 0 {
		return nil, ruleErr(ErrBadBits, "bits %08x encode a zero target", bits)
	}
	t := new(big.Int).SetUint64(uint64(word))
	if size > 3 {
		t.Lsh(t, uint(8*(size-3)))
	}
	return t, nil
}

// BigToCompact encodes a non-negative target in normalised compact form (if
// the top mantissa bit would be set, shift one byte and bump the exponent).
// Only the three most significant bytes survive; lower bits are truncated, as
// in Core's GetCompact. Zero encodes as 0. A negative t is outside the domain
// and encodes as 0 (an invalid compact value), and so does a value too wide
// for the 8-bit exponent (more than 254 bytes); values of 2^256 or more but
// narrower than that encode to bits that CompactToBig rejects as overflow.
func BigToCompact(t *big.Int) uint32 {
	if t.Sign() <= 0 {
		return 0
	}
	size := uint((t.BitLen() + 7) / 8)
	if size > 254 {
		return 0
	}
	var compact uint32
	if size <= 3 {
		compact = uint32(t.Uint64()) << (8 * (3 - size))
	} else {
		compact = uint32(new(big.Int).Rsh(t, 8*(size-3)).Uint64())
	}
	// The top mantissa bit is the sign bit: move the mantissa one byte right
	// and grow the exponent instead of encoding a negative number.
	if compact&compactSignBit != 0 {
		compact >>= 8
		size++
	}
	return compact | uint32(size)<<24
}

// HashToBig reads a hash as a little-endian 256-bit unsigned integer.
func HashToBig(h Hash) *big.Int {
	var be [HashSize]byte
	for i := 0; i < HashSize; i++ {
		be[i] = h[HashSize-1-i]
	}
	return new(big.Int).SetBytes(be[:])
}

// CalcWork returns floor(2^256 / (target+1)) computed as
// (~target / (target+1)) + 1 for the target of bits; zero for invalid bits.
// As in Core's GetBlockProof, bits are not compared with any PoW limit here.
func CalcWork(bits uint32) *big.Int {
	t, err := CompactToBig(bits)
	if err != nil {
		return new(big.Int)
	}
	// ~target within 256 bits is 2^256 - 1 - target; target < 2^256 here.
	denom := new(big.Int).Add(t, big.NewInt(1))
	notT := new(big.Int).Sub(oneLsh256, denom)
	notT.Quo(notT, denom)
	return notT.Add(notT, big.NewInt(1))
}

// workCache remembers the work of the last compact target it was asked
// about: consecutive blocks mostly share their bits, so connecting or
// indexing a block does not divide 256-bit numbers again. The work it
// returns is shared and must not be modified. Safe for concurrent use.
type workCache struct {
	last atomic.Pointer[bitsWork]
}

type bitsWork struct {
	bits uint32
	work *big.Int
}

// of returns CalcWork(bits), shared: the caller must not modify it.
func (w *workCache) of(bits uint32) *big.Int {
	if p := w.last.Load(); p != nil && p.bits == bits {
		return p.work
	}
	work := CalcWork(bits)
	w.last.Store(&bitsWork{bits: bits, work: work})
	return work
}

// CheckProofOfWork checks that bits decode to a valid target <= powLimit (else
// ErrBadBits) and hash <= target (else ErrHighHash), the hash read as a
// little-endian 256-bit integer.
func CheckProofOfWork(hash Hash, bits uint32, powLimit *big.Int) error {
	target, err := CompactToBig(bits)
	if err != nil {
		return err
	}
	if target.Cmp(powLimit) > 0 {
		return ruleErr(ErrBadBits, "target of bits %08x is above the proof-of-work limit", bits)
	}
	// Compare byte-wise from the most significant end: no big.Int per hash.
	tle := TargetBytesLE(target)
	if cmpLE256(hash[:], tle[:]) > 0 {
		return ruleErr(ErrHighHash, "block hash %s is above target of bits %08x", hash, bits)
	}
	return nil
}

// cmpLE256 compares two 32-byte little-endian unsigned integers.
func cmpLE256(a, b []byte) int {
	for i := 31; i >= 0; i-- {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// TargetBytesLE returns the target as 32 little-endian bytes (for the miner
// kernel, which compares the hash's little-endian 256-bit value against it).
// The target must be in [0, 2^256): a negative target yields all zero bytes
// and a target of 2^256 or more saturates to all 0xff bytes (every hash
// passes), so the result is always a usable comparison bound.
func TargetBytesLE(target *big.Int) [32]byte {
	var out [32]byte
	switch {
	case target.Sign() < 0:
		return out
	case target.BitLen() > 256:
		for i := range out {
			out[i] = 0xff
		}
		return out
	}
	target.FillBytes(out[:]) // big-endian
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

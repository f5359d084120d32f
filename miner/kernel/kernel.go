package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
	"sync"
)

// Job is one unit of work: an 80-byte Bitcoin-layout block header (bytes
// 76..79 = nonce, little-endian; the kernel overwrites them) and a 256-bit
// target given as 32 bytes little-endian (same byte order as the hash: the
// hash, read as a little-endian 256-bit integer, must be <= target).
type Job struct {
	Header [80]byte
	Target [32]byte
}

// Prepared is a Job with everything that does not depend on the nonce
// precomputed (midstate of the first 64 bytes, nonce-independent rounds and
// schedule words, target top word). Build once per work unit, read-only
// afterwards, safe for concurrent use by many workers.
type Prepared struct {
	// slots are the nonce-independent values read by the generated
	// kernels (see sha_gen.go); slots8 the same, each replicated 8 times
	// for AVX2 memory operands.
	slots  [numSlots]uint32
	slots8 [numSlots][8]uint32
	// shani is the SHA-NI kernel's job state (layout in internal/asmgen/shani.go).
	shani [24]uint32

	header    [80]byte
	target    [32]byte
	targetTop uint32
}

// Prepare precomputes everything about j that does not depend on the nonce.
func Prepare(j *Job) *Prepared {
	p := &Prepared{header: j.Header, target: j.Target}
	p.targetTop = binary.LittleEndian.Uint32(j.Target[28:])

	mid := sha256IV
	var blk [16]uint32
	for i := range blk {
		blk[i] = binary.BigEndian.Uint32(j.Header[4*i:])
	}
	compress(&mid, &blk)

	var in [numInputs]uint32
	copy(in[:8], mid[:])
	for i := 0; i < 3; i++ {
		in[8+i] = binary.BigEndian.Uint32(j.Header[64+4*i:])
	}
	in[11] = p.targetTop
	prepSlots(&in, &p.slots)
	for i, v := range p.slots {
		for k := range p.slots8[i] {
			p.slots8[i][k] = v
		}
	}

	// SHA-NI: message words 16..18, the state after rounds 0 and 1 of the
	// second block and the midstate, in the ABEF/CDGH register layout.
	p.shani[0], p.shani[1], p.shani[2] = in[8], in[9], in[10]
	st := mid
	round(&st, 0, in[8])
	round(&st, 1, in[9])
	abef := func(s *[8]uint32) [4]uint32 { return [4]uint32{s[5], s[4], s[1], s[0]} }
	cdgh := func(s *[8]uint32) [4]uint32 { return [4]uint32{s[7], s[6], s[3], s[2]} }
	a, c := abef(&st), cdgh(&st)
	copy(p.shani[4:8], a[:])
	copy(p.shani[8:12], c[:])
	a, c = abef(&mid), cdgh(&mid)
	copy(p.shani[12:16], a[:])
	copy(p.shani[16:20], c[:])
	p.shani[20] = p.targetTop
	return p
}

// check reports whether the full SHA-256d hash of the header with nonce n
// is <= the target. It is called only for candidates that passed the
// top-word test, so it favours clarity over speed.
func (p *Prepared) check(n uint32) bool {
	h := p.header
	binary.LittleEndian.PutUint32(h[76:], n)
	d := HashHeader(&h)
	return lessOrEqual(&d, &p.target)
}

// lessOrEqual reports whether hash <= target, both read as little-endian
// 256-bit integers.
func lessOrEqual(hash, target *[32]byte) bool {
	for i := 24; i >= 0; i -= 8 {
		h := binary.LittleEndian.Uint64(hash[i:])
		t := binary.LittleEndian.Uint64(target[i:])
		if h != t {
			return h < t
		}
	}
	return true
}

// HashHeader returns SHA-256d of an 80-byte header (reference, for tests
// and callers).
func HashHeader(h *[80]byte) [32]byte {
	first := sha256.Sum256(h[:])
	return sha256.Sum256(first[:])
}

// Kernel searches nonces.
type Kernel interface {
	Name() string // "avx512", "shani2x", "avx2", "generic"
	// Search tries nonces start, start+1, ... for count nonces (count may
	// be any value 1..2^32; nonces wrap modulo 2^32). It returns the first
	// nonce (in increasing order of trial from start) whose SHA-256d
	// header hash is <= target, found=true, and tried = number of nonces
	// tried up to and including it; or found=false and tried=count. No
	// allocation, no channel op, no shared write.
	Search(p *Prepared, start uint32, count uint64) (nonce uint32, found bool, tried uint64)
}

var (
	availOnce sync.Once
	avail     []Kernel
)

// Available returns the kernels this CPU supports, fastest first; it always
// ends with "generic". An assembly kernel is listed only after it passed a
// short known-answer self-test on this machine (see selfTest).
func Available() []Kernel {
	availOnce.Do(func() {
		for _, k := range archKernels() {
			if selfTest(k) == nil {
				avail = append(avail, k)
			}
		}
		avail = append(avail, genericKernel{})
	})
	return append([]Kernel(nil), avail...)
}

// Best returns Available()[0].
func Best() Kernel { return Available()[0] }

// ByName returns the available kernel with the given name.
func ByName(name string) (Kernel, bool) {
	for _, k := range Available() {
		if k.Name() == name {
			return k, true
		}
	}
	return nil, false
}

// genericKernel is the portable kernel: the generated straight-line Go
// compression (sha_gen.go) with the same precomputation and early exit as
// the vector kernels, one nonce at a time.
type genericKernel struct{}

func (genericKernel) Name() string { return "generic" }

func (genericKernel) Search(p *Prepared, start uint32, count uint64) (uint32, bool, uint64) {
	n := start
	for i := uint64(0); i < count; i++ {
		if genericTop(&p.slots, n) <= p.targetTop && p.check(n) {
			return n, true, i + 1
		}
		n++
	}
	return 0, false, count
}

// lanesSearch drives a kernel that hashes `width` consecutive nonces per
// call and returns a candidate mask (bit i = nonce+i passed the top-word
// test). Candidates are confirmed with the full 256-bit compare in lane
// order, so the first hit in trial order is returned; lanes past count are
// masked off.
func lanesSearch(p *Prepared, start uint32, count uint64, width uint64, batch func(p *Prepared, nonce uint32) uint16) (uint32, bool, uint64) {
	for off := uint64(0); off < count; off += width {
		base := start + uint32(off)
		mask := batch(p, base)
		if mask == 0 {
			continue
		}
		if rem := count - off; rem < width {
			mask &= uint16(1)<<rem - 1
		}
		for mask != 0 {
			l := uint64(bits.TrailingZeros16(mask))
			if n := base + uint32(l); p.check(n) {
				return n, true, off + l + 1
			}
			mask &= mask - 1
		}
	}
	return 0, false, count
}

// The scalar SHA-256 compression, used only by Prepare.

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

var sha256K = [64]uint32{
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

// round applies SHA-256 round i with message word w to state s.
func round(s *[8]uint32, i int, w uint32) {
	a, b, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	t1 := h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + sha256K[i] + w
	t2 := (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
	*s = [8]uint32{t1 + t2, a, b, c, d + t1, e, f, g}
}

// compress applies the SHA-256 compression function to state s.
func compress(s *[8]uint32, blk *[16]uint32) {
	var w [64]uint32
	copy(w[:], blk[:])
	for i := 16; i < 64; i++ {
		s0 := bits.RotateLeft32(w[i-15], -7) ^ bits.RotateLeft32(w[i-15], -18) ^ (w[i-15] >> 3)
		s1 := bits.RotateLeft32(w[i-2], -17) ^ bits.RotateLeft32(w[i-2], -19) ^ (w[i-2] >> 10)
		w[i] = s1 + w[i-7] + s0 + w[i-16]
	}
	st := *s
	for i := 0; i < 64; i++ {
		round(&st, i, w[i])
	}
	for i := range s {
		s[i] += st[i]
	}
}

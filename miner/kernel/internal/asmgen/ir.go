package main

// The SHA-256d nonce search is described once, as a straight-line program
// over 32-bit words (the IR below), and lowered three ways: to AVX-512 and
// AVX2 assembly (one lane per nonce) and to portable Go (one nonce per
// call). Every value is classified while the program is built:
//
//   - Const: known when the generator runs (round constants, padding);
//     folded on the spot.
//   - Job:   depends only on the work unit (midstate, header words 16..18,
//     target); computed once per Prepare by generated Go code and read by
//     the kernels from a table of "job slots".
//   - Vec:   depends on the nonce; emitted as per-lane instructions.
//
// Dead values (rounds 61..63 of the last compression, the unused "a"
// computations before the early exit, unused schedule words) are removed
// before lowering.

import (
	"fmt"
	"math/bits"
)

type VKind uint8

const (
	KConst VKind = iota
	KJob
	KVec
)

type V struct {
	K  VKind
	C  uint32 // KConst: value
	ID int    // KJob: job value index; KVec: vector op index
}

func C(c uint32) V { return V{K: KConst, C: c} }

type IROp struct {
	Code string // in, nonce, add, S0, S1, s0, s1, ch, maj, bswap
	Args []V
}

type Prog struct {
	NIn  int
	Jobs []IROp // job values; the first NIn are inputs ("in")
	Vecs []IROp // vector ops in program order
	Out  V      // the top 32-bit word of the hash (little-endian reading)
}

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

var sha256IV = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

func ror(x uint32, n int) uint32 { return bits.RotateLeft32(x, -n) }

// Rotation/shift amounts of the four sigma functions; the third amount of
// the small sigmas is a shift.
var sigmaRot = map[string][3]int{
	"S0": {2, 13, 22},
	"S1": {6, 11, 25},
	"s0": {7, 18, 3},
	"s1": {17, 19, 10},
}

func eval(code string, a []uint32) uint32 {
	switch code {
	case "add":
		return a[0] + a[1]
	case "S0", "S1":
		r := sigmaRot[code]
		return ror(a[0], r[0]) ^ ror(a[0], r[1]) ^ ror(a[0], r[2])
	case "s0", "s1":
		r := sigmaRot[code]
		return ror(a[0], r[0]) ^ ror(a[0], r[1]) ^ (a[0] >> r[2])
	case "ch":
		return (a[0] & a[1]) ^ (^a[0] & a[2])
	case "maj":
		return (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2])
	case "bswap":
		return bits.ReverseBytes32(a[0])
	}
	panic("eval: " + code)
}

func newProg(nIn int) *Prog {
	p := &Prog{NIn: nIn}
	for i := 0; i < nIn; i++ {
		p.Jobs = append(p.Jobs, IROp{Code: "in"})
	}
	return p
}

func (p *Prog) In(i int) V { return V{K: KJob, ID: i} }

func (p *Prog) op(code string, args ...V) V {
	allConst, anyVec := true, false
	for _, a := range args {
		if a.K != KConst {
			allConst = false
		}
		if a.K == KVec {
			anyVec = true
		}
	}
	if allConst {
		cs := make([]uint32, len(args))
		for i, a := range args {
			cs[i] = a.C
		}
		return C(eval(code, cs))
	}
	if !anyVec {
		p.Jobs = append(p.Jobs, IROp{Code: code, Args: args})
		return V{K: KJob, ID: len(p.Jobs) - 1}
	}
	p.Vecs = append(p.Vecs, IROp{Code: code, Args: args})
	return V{K: KVec, ID: len(p.Vecs) - 1}
}

// add sums its arguments modulo 2^32, folding every constant and job term
// into a single non-vector term that is added to the first vector term.
func (p *Prog) add(args ...V) V {
	var c uint32
	var jobs, vecs []V
	for _, a := range args {
		switch a.K {
		case KConst:
			c += a.C
		case KJob:
			jobs = append(jobs, a)
		case KVec:
			vecs = append(vecs, a)
		}
	}
	var nv V
	hasNV := false
	if len(jobs) > 0 {
		nv = jobs[0]
		for _, j := range jobs[1:] {
			nv = p.op("add", nv, j)
		}
		if c != 0 {
			nv = p.op("add", nv, C(c))
		}
		hasNV = true
	} else if c != 0 {
		nv, hasNV = C(c), true
	}
	if len(vecs) == 0 {
		if !hasNV {
			return C(0)
		}
		return nv
	}
	r := vecs[0]
	if hasNV {
		r = p.op("add", r, nv)
	}
	for _, v := range vecs[1:] {
		r = p.op("add", r, v)
	}
	return r
}

// Job inputs.
const (
	inMid     = 0  // 8 words: midstate after the first 64 header bytes
	inW       = 8  // 3 words: big-endian header words 16, 17, 18 (merkle tail, time, bits)
	inTarget  = 11 // top 32 bits of the target (little-endian 256-bit reading)
	numInputs = 12
)

// rounds runs SHA-256 rounds [0, n) on state s with schedule w.
func (p *Prog) rounds(s [8]V, w *[64]V, n int) [8]V {
	a, b, c, d, e, f, g, h := s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
	for i := 0; i < n; i++ {
		if i >= 16 {
			// Message schedule, computed just in time to keep few words live.
			w[i] = p.add(p.op("s1", w[i-2]), w[i-7], p.op("s0", w[i-15]), w[i-16])
		}
		t1 := p.add(h, C(sha256K[i]), w[i], p.op("S1", e), p.op("ch", e, f, g))
		t2 := p.add(p.op("S0", a), p.op("maj", a, b, c))
		h, g, f = g, f, e
		e = p.add(d, t1)
		d, c, b = c, b, a
		a = p.add(t1, t2)
	}
	return [8]V{a, b, c, d, e, f, g, h}
}

// buildSHA256d builds the nonce -> top-word program.
func buildSHA256d() *Prog {
	p := newProg(numInputs)
	var mid [8]V
	for i := range mid {
		mid[i] = p.In(inMid + i)
	}
	// Second block of the header: words 16..18, nonce, padding, length 640.
	var w [64]V
	w[0], w[1], w[2] = p.In(inW), p.In(inW+1), p.In(inW+2)
	p.Vecs = append(p.Vecs, IROp{Code: "nonce"})
	nonce := V{K: KVec, ID: len(p.Vecs) - 1}
	w[3] = p.op("bswap", nonce)
	w[4] = C(0x80000000)
	for i := 5; i < 15; i++ {
		w[i] = C(0)
	}
	w[15] = C(640)
	s := p.rounds(mid, &w, 64)
	var h1 [8]V
	for i := range h1 {
		h1[i] = p.add(mid[i], s[i])
	}
	// Second hash: one block, the 32-byte digest plus padding, length 256.
	var w2 [64]V
	copy(w2[:8], h1[:])
	w2[8] = C(0x80000000)
	for i := 9; i < 15; i++ {
		w2[i] = C(0)
	}
	w2[15] = C(256)
	var iv [8]V
	for i := range iv {
		iv[i] = C(sha256IV[i])
	}
	// Early exit: the final H7 = IV7 + h after round 63 = IV7 + e after
	// round 60; rounds 61..63 are never computed.
	s2 := p.rounds(iv, &w2, 61)
	h7 := p.add(s2[4], C(sha256IV[7]))
	p.Out = p.op("bswap", h7)
	if p.Out.K != KVec {
		panic("output not a vector value")
	}
	return p
}

// Analysis of a built program.
type Analysis struct {
	LiveVec  []bool
	Slots    []int // job id -> slot index in the job table, or -1
	SlotJobs []int // slot -> job id
	NeedJob  []bool
	Uses     [][]int // vec id -> indices of the live ops using it (program order); Out adds len(Vecs)
}

func (p *Prog) analyze() *Analysis {
	an := &Analysis{
		LiveVec: make([]bool, len(p.Vecs)),
		Slots:   make([]int, len(p.Jobs)),
		NeedJob: make([]bool, len(p.Jobs)),
		Uses:    make([][]int, len(p.Vecs)),
	}
	an.LiveVec[p.Out.ID] = true
	for i := len(p.Vecs) - 1; i >= 0; i-- {
		if !an.LiveVec[i] {
			continue
		}
		for _, a := range p.Vecs[i].Args {
			if a.K == KVec {
				an.LiveVec[a.ID] = true
			}
		}
	}
	for i := range an.Slots {
		an.Slots[i] = -1
	}
	addSlot := func(j int) {
		if an.Slots[j] < 0 {
			an.Slots[j] = len(an.SlotJobs)
			an.SlotJobs = append(an.SlotJobs, j)
		}
	}
	addSlot(inTarget)
	for i, op := range p.Vecs {
		if !an.LiveVec[i] {
			continue
		}
		for _, a := range op.Args {
			switch a.K {
			case KJob:
				addSlot(a.ID)
			case KVec:
				an.Uses[a.ID] = append(an.Uses[a.ID], i)
			}
		}
	}
	an.Uses[p.Out.ID] = append(an.Uses[p.Out.ID], len(p.Vecs))
	for _, j := range an.SlotJobs {
		an.NeedJob[j] = true
	}
	for j := len(p.Jobs) - 1; j >= 0; j-- {
		if !an.NeedJob[j] {
			continue
		}
		for _, a := range p.Jobs[j].Args {
			if a.K == KJob {
				an.NeedJob[a.ID] = true
			}
		}
	}
	return an
}

func (p *Prog) stats(an *Analysis) string {
	n := 0
	for _, l := range an.LiveVec {
		if l {
			n++
		}
	}
	return fmt.Sprintf("%d vector ops live of %d, %d job slots", n, len(p.Vecs), len(an.SlotJobs))
}

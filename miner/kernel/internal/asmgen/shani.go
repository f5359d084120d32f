package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// SHA-NI, two nonces per iteration. SHA256RNDS2 has a multi-cycle latency
// and each round pair depends on the previous one, so a single stream
// leaves the SHA unit idle most of the time; two independent streams (A =
// nonce n, B = nonce n+1) are interleaved instruction by instruction.
//
// Job state layout (uint32 index into s):
//
//	0..3   [W16, W17, W18, 0] of the header (lane 3 receives the nonce)
//	4..7   ABEF after rounds 0..1 of the second block
//	8..11  CDGH after rounds 0..1 of the second block
//	12..15 midstate ABEF
//	16..19 midstate CDGH
//	20     target top word
//
// Register layout follows Go's crypto/sha256 SHA-NI code: state0 = ABEF,
// state1 = CDGH, m0..m3 the sliding message window, X0 the implicit
// W+K operand of SHA256RNDS2.

type shaStream struct {
	st0, st1, t VecPhysical
	m           [4]VecPhysical
}

const (
	shaK    = 0   // 16 rows of K
	shaPad1 = 256 // [0x80000000, 0, 0, 0]
	shaLen2 = 272 // [0, 0, 0, 640]
	shaLen3 = 288 // [0, 0, 0, 256]
	shaIV0  = 304 // IV ABEF
	shaIV1  = 320 // IV CDGH
)

func shaConst(off int) Mem { return NewDataAddr(NewStaticSymbol("shaconst"), off) }

// shaGroups runs round groups g in [from, 16) (4 rounds each) on both
// streams, extending the message schedule as it goes. skipFirst skips the
// first round pair of group `from` (it was precomputed); lastHalf stops
// after the first round pair of group 15 (rounds 60, 61).
func shaGroups(ss []shaStream, from int, skipFirst, lastHalf bool) {
	for g := from; g < 16; g++ {
		for _, s := range ss {
			MOVO(s.m[g%4], s.t)
			PADDD(shaConst(shaK+16*g), s.t)
		}
		if !(skipFirst && g == from) {
			for _, s := range ss {
				MOVO(s.t, X0)
				SHA256RNDS2(X0, s.st0, s.st1)
			}
		}
		if !(lastHalf && g == 15) {
			for _, s := range ss {
				PSHUFD(U8(0x0e), s.t, X0)
				SHA256RNDS2(X0, s.st1, s.st0)
			}
		}
		for _, s := range ss {
			switch {
			case g >= 1 && g <= 2:
				SHA256MSG1(s.m[g], s.m[g-1])
			case g >= 3 && g <= 14:
				m, a, t := s.m[g%4], s.m[(g+3)%4], s.m[(g+1)%4]
				MOVO(m, s.t)
				PALIGNR(U8(4), a, s.t)
				PADDD(s.t, t)
				SHA256MSG2(m, t)
				if g <= 12 {
					SHA256MSG1(m, a)
				}
			}
		}
	}
}

func genSHANI() {
	TEXT("shaniPairs", NOSPLIT, "func(s *uint32, start uint32, pairs uint64) uint64")
	Doc("shaniPairs hashes nonces start, start+1, ... two at a time for `pairs` pairs and",
		"returns the offset (from start) of the first nonce whose top hash word is <= the",
		"target's top word, or ^0 if none. Requires SHA, SSE4.1.")
	sp, n, cnt, idx := RSI, RDX, RCX, RBX
	tgt, na, nbb := R10L, R8L, R9L
	Load(Param("s"), sp)
	Load(Param("start"), EDX)
	Load(Param("pairs"), cnt)
	MOVL(Mem{Base: sp}.Offset(80), tgt)
	XORQ(idx, idx)
	TESTQ(cnt, cnt)
	JZ(LabelRef("none"))

	A := shaStream{st0: X1, st1: X2, t: X7, m: [4]VecPhysical{X3, X4, X5, X6}}
	B := shaStream{st0: X8, st1: X9, t: X14, m: [4]VecPhysical{X10, X11, X12, X13}}
	ss := []shaStream{A, B}

	Label("loop")
	MOVL(EDX, na)
	BSWAPL(na)
	LEAL(Mem{Base: n}.Offset(1), nbb)
	BSWAPL(nbb)
	Comment("second block of the header: [W16 W17 W18 nonce] [pad] [0] [len]")
	for k, s := range ss {
		MOVOU(Mem{Base: sp}, s.m[0])
		PINSRD(U8(3), []Register{na, nbb}[k], s.m[0])
		MOVO(shaConst(shaPad1), s.m[1])
		PXOR(s.m[2], s.m[2])
		MOVO(shaConst(shaLen2), s.m[3])
		MOVOU(Mem{Base: sp}.Offset(16), s.st1) // ABEF after rounds 0, 1
		MOVOU(Mem{Base: sp}.Offset(32), s.st0) // CDGH after rounds 0, 1
	}
	shaGroups(ss, 0, true, false)
	Comment("feed-forward of the midstate, then digest -> message of the second hash")
	MOVOU(Mem{Base: sp}.Offset(48), X15)
	PADDD(X15, A.st0)
	PADDD(X15, B.st0)
	MOVOU(Mem{Base: sp}.Offset(64), X15)
	PADDD(X15, A.st1)
	PADDD(X15, B.st1)
	for _, s := range ss {
		PSHUFD(U8(0x1b), s.st0, s.m[0]) // A B E F
		PSHUFD(U8(0xb1), s.st1, s.m[1]) // G H C D
		MOVO(s.m[0], s.t)
		PBLENDW(U8(0xf0), s.m[1], s.m[0]) // A B C D
		PALIGNR(U8(8), s.t, s.m[1])       // E F G H
		MOVO(shaConst(shaPad1), s.m[2])
		MOVO(shaConst(shaLen3), s.m[3])
		MOVO(shaConst(shaIV0), s.st0)
		MOVO(shaConst(shaIV1), s.st1)
	}
	Comment("second hash, rounds 0..61: F of ABEF is then the final h, i.e. H7 - IV7")
	shaGroups(ss, 0, false, true)
	PEXTRD(U8(0), A.st1, na)
	PEXTRD(U8(0), B.st1, nbb)
	for k, r := range []Register{na, nbb} {
		ADDL(U32(sha256IV[7]), r)
		BSWAPL(r)
		CMPL(r, tgt)
		JLS(LabelRef([]string{"foundA", "foundB"}[k]))
	}
	INCQ(idx)
	ADDL(U8(2), EDX)
	CMPQ(idx, cnt)
	JB(LabelRef("loop"))

	Label("none")
	MOVQ(I32(-1), RAX)
	Store(RAX, ReturnIndex(0))
	RET()
	Label("foundA")
	LEAQ(Mem{Base: idx, Index: idx, Scale: 1}, RAX)
	Store(RAX, ReturnIndex(0))
	RET()
	Label("foundB")
	LEAQ(Mem{Base: idx, Index: idx, Scale: 1}.Offset(1), RAX)
	Store(RAX, ReturnIndex(0))
	RET()

	GLOBL("shaconst", RODATA|NOPTR)
	for i, k := range sha256K {
		DATA(4*i, U32(k))
	}
	quad := func(off int, w [4]uint32) {
		for i, v := range w {
			DATA(off+4*i, U32(v))
		}
	}
	quad(shaPad1, [4]uint32{0x80000000, 0, 0, 0})
	quad(shaLen2, [4]uint32{0, 0, 0, 640})
	quad(shaLen3, [4]uint32{0, 0, 0, 256})
	iv := sha256IV
	quad(shaIV0, [4]uint32{iv[5], iv[4], iv[1], iv[0]})
	quad(shaIV1, [4]uint32{iv[7], iv[6], iv[3], iv[2]})
}

func genCPUID() {
	TEXT("cpuid", NOSPLIT, "func(leaf, sub uint32) (eax, ebx, ecx, edx uint32)")
	Doc("cpuid executes CPUID with EAX=leaf, ECX=sub.")
	Load(Param("leaf"), EAX)
	Load(Param("sub"), ECX)
	CPUID()
	Store(EAX, Return("eax"))
	Store(EBX, Return("ebx"))
	Store(ECX, Return("ecx"))
	Store(EDX, Return("edx"))
	RET()
}

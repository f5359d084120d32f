package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Operand of a lowered vector op.
type Operand struct {
	K    VKind
	Reg  int    // KVec
	C    uint32 // KConst
	Slot int    // KJob
}

// KSpill marks an operand read directly from its spill slot.
const KSpill VKind = 3

type backend interface {
	nregs() int
	// memArgs reports whether op code accepts spilled vector arguments as
	// memory operands (instead of reloading them into registers).
	memArgs(code string) bool
	spill(slot, r int)
	reload(r, slot int)
	emit(code string, dst int, args []Operand)
}

// lower runs a furthest-next-use register allocator over the straight-line
// program (SSA: a value is spilled at most once, to its own stack slot) and
// hands each op to the backend with physical register numbers. It returns
// the register holding the output and the number of spill slots used.
func lower(p *Prog, an *Analysis, be backend) (outReg, nslots int) {
	const never = 1 << 30
	n := be.nregs()
	regVal := make([]int, n)
	for i := range regVal {
		regVal[i] = -1
	}
	vreg := make([]int, len(p.Vecs))
	vslot := make([]int, len(p.Vecs))
	usePos := make([]int, len(p.Vecs))
	for i := range vreg {
		vreg[i], vslot[i] = -1, -1
	}
	nextUse := func(v int) int {
		if usePos[v] < len(an.Uses[v]) {
			return an.Uses[v][usePos[v]]
		}
		return never
	}
	get := func(protect map[int]bool) int {
		for r := 0; r < n; r++ {
			if regVal[r] < 0 && !protect[r] {
				return r
			}
		}
		victim, far := -1, -1
		for r := 0; r < n; r++ {
			if protect[r] {
				continue
			}
			if u := nextUse(regVal[r]); u > far {
				victim, far = r, u
			}
		}
		v := regVal[victim]
		if vslot[v] < 0 {
			vslot[v] = nslots
			nslots++
			be.spill(vslot[v], victim)
		}
		vreg[v] = -1
		regVal[victim] = -1
		return victim
	}
	for i, op := range p.Vecs {
		if !an.LiveVec[i] {
			continue
		}
		protect := map[int]bool{}
		for _, a := range op.Args {
			if a.K == KVec && vreg[a.ID] >= 0 {
				protect[vreg[a.ID]] = true
			}
		}
		fromMem := map[int]bool{}
		for _, a := range op.Args {
			if a.K == KVec && vreg[a.ID] < 0 && be.memArgs(op.Code) {
				fromMem[a.ID] = true
				continue
			}
			if a.K == KVec && vreg[a.ID] < 0 {
				r := get(protect)
				be.reload(r, vslot[a.ID])
				vreg[a.ID], regVal[r] = r, a.ID
				protect[r] = true
			}
		}
		for _, a := range op.Args {
			if a.K == KVec {
				if an.Uses[a.ID][usePos[a.ID]] != i {
					panic("use list out of sync")
				}
				usePos[a.ID]++
			}
		}
		dies := func(k int) bool {
			a := op.Args[k]
			return a.K == KVec && nextUse(a.ID) == never
		}
		inReg := func(k int) bool { return op.Args[k].K == KVec && vreg[op.Args[k].ID] >= 0 }
		dst := -1
		switch {
		case len(op.Args) > 0 && dies(0) && inReg(0):
			dst = vreg[op.Args[0].ID]
		case op.Code == "add" && dies(1) && inReg(1):
			dst = vreg[op.Args[1].ID]
		default:
			dst = get(protect)
		}
		ops := make([]Operand, len(op.Args))
		for k, a := range op.Args {
			switch a.K {
			case KConst:
				ops[k] = Operand{K: KConst, C: a.C}
			case KJob:
				ops[k] = Operand{K: KJob, Slot: an.Slots[a.ID]}
			case KVec:
				if fromMem[a.ID] {
					ops[k] = Operand{K: KSpill, Slot: vslot[a.ID]}
				} else {
					ops[k] = Operand{K: KVec, Reg: vreg[a.ID]}
				}
			}
		}
		be.emit(op.Code, dst, ops)
		for k, a := range op.Args {
			if dies(k) && vreg[a.ID] >= 0 {
				regVal[vreg[a.ID]] = -1
				vreg[a.ID] = -1
			}
		}
		regVal[dst], vreg[i] = i, dst
	}
	return vreg[p.Out.ID], nslots
}

// ternImm returns the VPTERNLOGD immediate for f(a, b, c), where a is the
// destination's original value, b the middle operand and c the last
// (register or memory) operand.
func ternImm(f func(a, b, c bool) bool) uint8 {
	var imm uint8
	for i := 0; i < 8; i++ {
		if f(i&4 != 0, i&2 != 0, i&1 != 0) {
			imm |= 1 << i
		}
	}
	return imm
}

func logicFn(code string) func(x, y, z bool) bool {
	switch code {
	case "ch":
		return func(e, f, g bool) bool {
			if e {
				return f
			}
			return g
		}
	case "maj":
		return func(a, b, c bool) bool { return (a && b) || (a && c) || (b && c) }
	}
	panic(code)
}

// constPool collects 32-bit constants into a read-only table; each entry is
// replicated `rep` times (1 for broadcast operands, 8 for AVX2 operands).
type constPool struct {
	name string
	rep  int
	idx  map[uint32]int
	vals []uint32
}

func newPool(name string, rep int) *constPool {
	return &constPool{name: name, rep: rep, idx: map[uint32]int{}}
}

func (cp *constPool) mem(c uint32) Mem {
	i, ok := cp.idx[c]
	if !ok {
		i = len(cp.vals)
		cp.idx[c] = i
		cp.vals = append(cp.vals, c)
	}
	return NewDataAddr(NewStaticSymbol(cp.name), 4*cp.rep*i)
}

func (cp *constPool) emitData() {
	if len(cp.vals) == 0 {
		return
	}
	GLOBL(cp.name, RODATA|NOPTR)
	for i, v := range cp.vals {
		for r := 0; r < cp.rep; r++ {
			DATA(4*(cp.rep*i+r), U32(v))
		}
	}
}

func zreg(i int) VecPhysical {
	return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
}

func yreg(i int) VecPhysical {
	return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
}

// ---------------------------------------------------------------- AVX-512

type avx512 struct {
	p      Register // job slot table base
	nonce  Register
	pool   *constPool
	slots  []Mem
	t1, t2 VecPhysical // scratch
	t3     VecPhysical
}

func (b *avx512) nregs() int               { return 29 }
func (b *avx512) memArgs(code string) bool { return false }

func (b *avx512) slot(i int) Mem {
	for len(b.slots) <= i {
		b.slots = append(b.slots, AllocLocal(64))
	}
	return b.slots[i]
}

func (b *avx512) spill(slot, r int)  { VMOVDQU32(zreg(r), b.slot(slot)) }
func (b *avx512) reload(r, slot int) { VMOVDQU32(b.slot(slot), zreg(r)) }

// mem returns the broadcast memory operand of a non-vector operand.
func (b *avx512) mem(o Operand) Mem {
	if o.K == KConst {
		return b.pool.mem(o.C)
	}
	return Mem{Base: b.p}.Offset(4 * o.Slot)
}

func (b *avx512) emit(code string, dst int, args []Operand) {
	D := zreg(dst)
	switch code {
	case "nonce":
		VPBROADCASTD(b.nonce, D)
		VPADDD(NewDataAddr(NewStaticSymbol("lane16"), 0), D, D)
	case "bswap":
		// bswap(x) = 0x00FF00FF ? rol8(x) : ror8(x), bytewise select.
		x := zreg(args[0].Reg)
		VPRORD(U8(24), x, b.t1)
		VPRORD(U8(8), x, D)
		VPTERNLOGD_BCST(U8(ternImm(func(a, bb, c bool) bool {
			if c {
				return bb
			}
			return a
		})), b.pool.mem(0x00FF00FF), b.t1, D)
	case "add":
		x, y := args[0], args[1]
		if x.K != KVec {
			x, y = y, x
		}
		if y.K == KVec {
			VPADDD(zreg(y.Reg), zreg(x.Reg), D)
		} else {
			VPADDD_BCST(b.mem(y), zreg(x.Reg), D)
		}
	case "S0", "S1", "s0", "s1":
		r := sigmaRot[code]
		x := zreg(args[0].Reg)
		VPRORD(U8(r[1]), x, b.t1)
		if code[0] == 's' {
			VPSRLD(U8(r[2]), x, b.t2)
		} else {
			VPRORD(U8(r[2]), x, b.t2)
		}
		VPRORD(U8(r[0]), x, D)
		VPTERNLOGD(U8(0x96), b.t2, b.t1, D)
	case "ch", "maj":
		b.ternary(logicFn(code), D, args)
	default:
		panic(code)
	}
}

func (b *avx512) ternary(fn func(x, y, z bool) bool, D VecPhysical, args []Operand) {
	// Role of each original argument: 0 = destination (a), 1 = b, 2 = c.
	var role [3]int
	i0 := 0
	if args[0].K != KVec {
		for k := range args {
			if args[k].K == KVec {
				i0 = k
				break
			}
		}
	}
	rest := []int{}
	for k := 0; k < 3; k++ {
		if k != i0 {
			rest = append(rest, k)
		}
	}
	ib, ic := rest[0], rest[1]
	if args[ib].K != KVec && args[ic].K == KVec {
		ib, ic = ic, ib
	}
	role[i0], role[ib], role[ic] = 0, 1, 2
	imm := ternImm(func(a, bb, c bool) bool {
		var v [3]bool
		roles := [3]bool{a, bb, c}
		for k := 0; k < 3; k++ {
			v[k] = roles[role[k]]
		}
		return fn(v[0], v[1], v[2])
	})
	// Middle operand must be a register.
	var mid VecPhysical
	if args[ib].K == KVec {
		mid = zreg(args[ib].Reg)
	} else {
		VPBROADCASTD(b.mem(args[ib]), b.t3)
		mid = b.t3
	}
	switch {
	case args[i0].K != KVec:
		VPBROADCASTD(b.mem(args[i0]), D)
	case zreg(args[i0].Reg) != D:
		VMOVDQA32(zreg(args[i0].Reg), D)
	}
	if args[ic].K == KVec {
		VPTERNLOGD(U8(imm), zreg(args[ic].Reg), mid, D)
	} else {
		VPTERNLOGD_BCST(U8(imm), b.mem(args[ic]), mid, D)
	}
}

func genAVX512(p *Prog, an *Analysis, pool *constPool) {
	TEXT("avx512Lanes", 0, "func(s *uint32, nonce uint32) uint16")
	Doc("avx512Lanes hashes nonces nonce+0 .. nonce+15 (one per 32-bit lane) and returns",
		"a mask with bit i set when lane i's top hash word is <= the target's top word.",
		"s points to the job slots. Requires AVX-512F.")
	sp := Load(Param("s"), GP64())
	b := &avx512{p: sp, nonce: Load(Param("nonce"), GP32()), pool: pool, t1: Z29, t2: Z30, t3: Z31}
	out, nslots := lower(p, an, b)
	VPCMPUD_BCST(U8(2), Mem{Base: sp}.Offset(4*an.Slots[inTarget]), zreg(out), K1)
	m := GP32()
	KMOVW(K1, m)
	Store(m.As16(), ReturnIndex(0))
	VZEROUPPER()
	RET()
	Comment(fmt.Sprintf("%d spill slots", nslots))
	GLOBL("lane16", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(i))
	}
}

// ---------------------------------------------------------------- AVX2

type avx2 struct {
	p      Register // replicated job slots (32 bytes each)
	nonce  Register
	pool   *constPool
	slots  []Mem
	t1, t2 VecPhysical
}

func (b *avx2) nregs() int { return 14 }

// memArgs: VEX adds and logic ops take a memory operand; shifts by an
// immediate do not.
func (b *avx2) memArgs(code string) bool { return code == "add" || code == "ch" || code == "maj" }

func (b *avx2) slot(i int) Mem {
	for len(b.slots) <= i {
		b.slots = append(b.slots, AllocLocal(32))
	}
	return b.slots[i]
}

func (b *avx2) spill(slot, r int)  { VMOVDQU(yreg(r), b.slot(slot)) }
func (b *avx2) reload(r, slot int) { VMOVDQU(b.slot(slot), yreg(r)) }

// op returns a register or a 32-byte memory operand.
func (b *avx2) op(o Operand) Op {
	switch o.K {
	case KConst:
		return b.pool.mem(o.C)
	case KJob:
		return Mem{Base: b.p}.Offset(32 * o.Slot)
	case KSpill:
		return b.slot(o.Slot)
	}
	return yreg(o.Reg)
}

// bin emits dst = x OP y for a commutative op; at most one of x, y may be
// a memory operand (it goes last).
func bin(f func(a, b, c Op), x, y Op, dst VecPhysical) {
	if _, ok := x.(VecPhysical); !ok {
		x, y = y, x
	}
	if _, ok := x.(VecPhysical); !ok {
		VMOVDQU(x, dst)
		f(y, dst, dst)
		return
	}
	f(y, x, dst)
}

func vpadd(a, b, c Op) { VPADDD(a, b, c) }
func vpxor(a, b, c Op) { VPXOR(a, b, c) }
func vpand(a, b, c Op) { VPAND(a, b, c) }
func vpor(a, b, c Op)  { VPOR(a, b, c) }

func (b *avx2) emit(code string, dst int, args []Operand) {
	D := yreg(dst)
	switch code {
	case "nonce":
		VMOVD(b.nonce, D.AsX())
		VPBROADCASTD(D.AsX(), D)
		VPADDD(NewDataAddr(NewStaticSymbol("lane8"), 0), D, D)
	case "bswap":
		VPSHUFB(NewDataAddr(NewStaticSymbol("bswap8"), 0), yreg(args[0].Reg), D)
	case "add":
		bin(vpadd, b.op(args[0]), b.op(args[1]), D)
	case "S0", "S1", "s0", "s1":
		r := sigmaRot[code]
		x := yreg(args[0].Reg)
		t1, t2 := b.t1, b.t2
		VPSRLD(U8(r[0]), x, t1)
		VPSLLD(U8(32-r[0]), x, t2)
		VPXOR(t2, t1, t1)
		VPSRLD(U8(r[1]), x, t2)
		VPXOR(t2, t1, t1)
		VPSLLD(U8(32-r[1]), x, t2)
		VPXOR(t2, t1, t1)
		VPSRLD(U8(r[2]), x, t2)
		if code[0] == 's' {
			VPXOR(t2, t1, D)
			return
		}
		VPXOR(t2, t1, t1)
		VPSLLD(U8(32-r[2]), x, t2)
		VPXOR(t2, t1, D)
	case "ch":
		// g ^ (e & (f ^ g))
		e, f, g := b.op(args[0]), b.op(args[1]), b.op(args[2])
		bin(vpxor, f, g, b.t1)
		bin(vpand, b.t1, e, b.t1)
		bin(vpxor, b.t1, g, D)
	case "maj":
		// (a & (b | c)) | (b & c)
		a, bb, c := b.op(args[0]), b.op(args[1]), b.op(args[2])
		bin(vpor, bb, c, b.t1)
		bin(vpand, b.t1, a, b.t1)
		bin(vpand, bb, c, b.t2)
		VPOR(b.t2, b.t1, D)
	default:
		panic(code)
	}
}

func genAVX2(p *Prog, an *Analysis, pool *constPool) {
	TEXT("avx2Lanes", 0, "func(s8 *uint32, nonce uint32) uint16")
	Doc("avx2Lanes hashes nonces nonce+0 .. nonce+7 (one per 32-bit lane) and returns",
		"a mask with bit i set when lane i's top hash word is <= the target's top word.",
		"s8 points to the job slots, each replicated 8 times. Requires AVX2.")
	sp := Load(Param("s8"), GP64())
	b := &avx2{p: sp, nonce: Load(Param("nonce"), GP32()), pool: pool, t1: Y14, t2: Y15}
	out, nslots := lower(p, an, b)
	tgt := Mem{Base: sp}.Offset(32 * an.Slots[inTarget])
	VPMAXUD(tgt, yreg(out), b.t1)
	VPCMPEQD(tgt, b.t1, b.t1)
	m := GP32()
	VMOVMSKPS(b.t1, m)
	Store(m.As16(), ReturnIndex(0))
	VZEROUPPER()
	RET()
	Comment(fmt.Sprintf("%d spill slots", nslots))
	GLOBL("lane8", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(i))
	}
	GLOBL("bswap8", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(0x00010203+0x04040404*uint32(i%4)))
	}
}

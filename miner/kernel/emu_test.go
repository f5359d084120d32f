package kernel

// A tiny interpreter for the straight-line vector functions in
// kernels_amd64.s (avx512Lanes, avx2Lanes). It lets the AVX-512 kernel be
// checked instruction by instruction on machines without AVX-512 (and on
// any GOARCH). It is validated by running the AVX2 function both here and,
// where the CPU has AVX2, natively.

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type emuInsn struct {
	op   string
	args []string
	line int
}

type emuFunc struct {
	name  string
	insns []emuInsn
}

type emuImage struct {
	funcs map[string]*emuFunc
	data  map[string][]byte
}

var (
	emuOnce sync.Once
	emuImg  *emuImage
	emuErr  error
)

func loadEmuImage() (*emuImage, error) {
	emuOnce.Do(func() {
		src, err := os.ReadFile("kernels_amd64.s")
		if err != nil {
			emuErr = err
			return
		}
		img := &emuImage{funcs: map[string]*emuFunc{}, data: map[string][]byte{}}
		var cur *emuFunc
		for i, raw := range strings.Split(string(src), "\n") {
			line := strings.TrimSpace(raw)
			if line == "" || strings.HasPrefix(line, "//") || strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			op := f[0]
			rest := strings.TrimSpace(strings.TrimPrefix(line, op))
			var args []string
			if rest != "" {
				for _, a := range strings.Split(rest, ",") {
					args = append(args, strings.TrimSpace(a))
				}
			}
			switch op {
			case "TEXT":
				name := strings.TrimSuffix(strings.TrimPrefix(args[0], "·"), "(SB)")
				cur = &emuFunc{name: name}
				img.funcs[name] = cur
			case "DATA":
				// DATA sym<>+off(SB)/4, $0x...
				sym, off := emuSymOff(strings.Split(args[0], "/")[0])
				v, err := strconv.ParseUint(strings.TrimPrefix(args[1], "$"), 0, 32)
				if err != nil {
					emuErr = fmt.Errorf("line %d: %v", i+1, err)
					return
				}
				b := img.data[sym]
				for len(b) < off+4 {
					b = append(b, 0)
				}
				binary.LittleEndian.PutUint32(b[off:], uint32(v))
				img.data[sym] = b
			case "GLOBL":
				cur = nil
			default:
				if cur != nil {
					cur.insns = append(cur.insns, emuInsn{op: op, args: args, line: i + 1})
				}
			}
		}
		emuImg = img
	})
	return emuImg, emuErr
}

// emuSymOff parses "sym<>+off(SB)".
func emuSymOff(s string) (string, int) {
	s = strings.TrimSuffix(s, "(SB)")
	sym, off, _ := strings.Cut(s, "<>+")
	n, _ := strconv.Atoi(off)
	return sym, n
}

type emuMachine struct {
	img   *emuImage
	vec   [32][16]uint32
	gpr   map[string]uint64
	ptr   map[string][]byte // GPRs holding a pointer: the memory they point to
	kreg  [8]uint16
	stack []byte
	args  map[string]uint64 // FP arguments by name
	ret   uint64
}

func emuVecReg(s string) (idx, lanes int, ok bool) {
	if len(s) < 2 {
		return 0, 0, false
	}
	var w int
	switch s[0] {
	case 'X':
		w = 4
	case 'Y':
		w = 8
	case 'Z':
		w = 16
	default:
		return 0, 0, false
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil {
		return 0, 0, false
	}
	return n, w, true
}

// mem resolves a memory operand to the backing bytes at its address.
func (m *emuMachine) mem(s string) ([]byte, error) {
	switch {
	case strings.HasSuffix(s, "(SB)"):
		sym, off := emuSymOff(s)
		d, ok := m.img.data[sym]
		if !ok {
			return nil, fmt.Errorf("unknown symbol %q", sym)
		}
		return d[off:], nil
	case strings.HasSuffix(s, "(SP)"):
		off, _ := strconv.Atoi(strings.TrimSuffix(s, "(SP)"))
		for len(m.stack) < off+64 {
			m.stack = append(m.stack, 0)
		}
		return m.stack[off:], nil
	}
	i := strings.Index(s, "(")
	if i < 0 || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("bad memory operand %q", s)
	}
	off := 0
	if i > 0 {
		var err error
		if off, err = strconv.Atoi(s[:i]); err != nil {
			return nil, fmt.Errorf("bad offset in %q", s)
		}
	}
	base, ok := m.ptr[s[i+1:len(s)-1]]
	if !ok {
		return nil, fmt.Errorf("base of %q is not a pointer", s)
	}
	return base[off:], nil
}

// load reads `lanes` dwords from a register or memory operand; bcast
// repeats one dword.
func (m *emuMachine) load(s string, lanes int, bcast bool) ([16]uint32, error) {
	var v [16]uint32
	if idx, _, ok := emuVecReg(s); ok {
		v = m.vec[idx]
		return v, nil
	}
	b, err := m.mem(s)
	if err != nil {
		return v, err
	}
	for i := 0; i < lanes; i++ {
		if bcast {
			v[i] = binary.LittleEndian.Uint32(b)
		} else {
			v[i] = binary.LittleEndian.Uint32(b[4*i:])
		}
	}
	return v, nil
}

func (m *emuMachine) store(s string, v [16]uint32, lanes int) error {
	if idx, _, ok := emuVecReg(s); ok {
		m.vec[idx] = [16]uint32{}
		copy(m.vec[idx][:lanes], v[:lanes])
		return nil
	}
	b, err := m.mem(s)
	if err != nil {
		return err
	}
	for i := 0; i < lanes; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], v[i])
	}
	return nil
}

func emuImm(s string) uint64 {
	v, err := strconv.ParseUint(strings.TrimPrefix(s, "$"), 0, 64)
	if err != nil {
		panic(err)
	}
	return v
}

func (m *emuMachine) run(name string) error {
	f, ok := m.img.funcs[name]
	if !ok {
		return fmt.Errorf("no function %s", name)
	}
	for _, in := range f.insns {
		if err := m.step(in); err != nil {
			return fmt.Errorf("line %d: %s %s: %v", in.line, in.op, strings.Join(in.args, ", "), err)
		}
		if in.op == "RET" {
			return nil
		}
	}
	return fmt.Errorf("%s: fell off the end", name)
}

func (m *emuMachine) step(in emuInsn) error {
	a := in.args
	dstLanes := func() (int, int, error) {
		idx, w, ok := emuVecReg(a[len(a)-1])
		if !ok {
			return 0, 0, fmt.Errorf("destination is not a vector register")
		}
		return idx, w, nil
	}
	binop := func(f func(x, y uint32) uint32, bcast bool) error {
		_, w, err := dstLanes()
		if err != nil {
			return err
		}
		x, err := m.load(a[0], w, bcast)
		if err != nil {
			return err
		}
		y, err := m.load(a[1], w, false)
		if err != nil {
			return err
		}
		var r [16]uint32
		for i := 0; i < w; i++ {
			r[i] = f(y[i], x[i])
		}
		return m.store(a[2], r, w)
	}
	shift := func(f func(x uint32, n uint) uint32) error {
		_, w, err := dstLanes()
		if err != nil {
			return err
		}
		n := uint(emuImm(a[0]))
		x, err := m.load(a[1], w, false)
		if err != nil {
			return err
		}
		var r [16]uint32
		for i := 0; i < w; i++ {
			r[i] = f(x[i], n)
		}
		return m.store(a[2], r, w)
	}
	switch in.op {
	case "MOVQ", "MOVL":
		if strings.HasSuffix(a[0], "(FP)") {
			name, _, _ := strings.Cut(a[0], "+")
			if p, ok := m.ptr[name]; ok {
				m.ptr[a[1]] = p
			} else {
				v, ok := m.args[name]
				if !ok {
					return fmt.Errorf("unknown argument %s", name)
				}
				m.gpr[a[1]] = v
			}
			return nil
		}
		return fmt.Errorf("unsupported")
	case "MOVW":
		if !strings.HasPrefix(a[1], "ret") {
			return fmt.Errorf("unsupported")
		}
		m.ret = m.gpr[a[0]] & 0xffff
	case "KMOVW":
		k, _ := strconv.Atoi(strings.TrimPrefix(a[0], "K"))
		m.gpr[a[1]] = uint64(m.kreg[k])
	case "VMOVD":
		idx, _, _ := emuVecReg(a[1])
		m.vec[idx] = [16]uint32{uint32(m.gpr[a[0]])}
	case "VPBROADCASTD":
		idx, w, err := dstLanes()
		if err != nil {
			return err
		}
		var v uint32
		if g, ok := m.gpr[a[0]]; ok {
			v = uint32(g)
		} else if sidx, _, ok := emuVecReg(a[0]); ok {
			v = m.vec[sidx][0]
		} else {
			b, err := m.mem(a[0])
			if err != nil {
				return err
			}
			v = binary.LittleEndian.Uint32(b)
		}
		var r [16]uint32
		for i := 0; i < w; i++ {
			r[i] = v
		}
		m.vec[idx] = r
	case "VMOVDQA32", "VMOVDQU32", "VMOVDQU", "VMOVDQA":
		w := 16
		if strings.HasPrefix(a[0], "Y") || strings.HasPrefix(a[1], "Y") {
			w = 8
		}
		v, err := m.load(a[0], w, false)
		if err != nil {
			return err
		}
		return m.store(a[1], v, w)
	case "VPADDD":
		return binop(func(x, y uint32) uint32 { return x + y }, false)
	case "VPADDD.BCST":
		return binop(func(x, y uint32) uint32 { return x + y }, true)
	case "VPXOR", "VPXORD":
		return binop(func(x, y uint32) uint32 { return x ^ y }, false)
	case "VPAND", "VPANDD":
		return binop(func(x, y uint32) uint32 { return x & y }, false)
	case "VPOR", "VPORD":
		return binop(func(x, y uint32) uint32 { return x | y }, false)
	case "VPMAXUD":
		return binop(func(x, y uint32) uint32 { return max(x, y) }, false)
	case "VPCMPEQD":
		return binop(func(x, y uint32) uint32 {
			if x == y {
				return 0xffffffff
			}
			return 0
		}, false)
	case "VPRORD":
		return shift(func(x uint32, n uint) uint32 { return bits.RotateLeft32(x, -int(n)) })
	case "VPSRLD":
		return shift(func(x uint32, n uint) uint32 { return x >> n })
	case "VPSLLD":
		return shift(func(x uint32, n uint) uint32 { return x << n })
	case "VPTERNLOGD", "VPTERNLOGD.BCST":
		idx, w, err := dstLanes()
		if err != nil {
			return err
		}
		imm := uint32(emuImm(a[0]))
		c, err := m.load(a[1], w, in.op == "VPTERNLOGD.BCST")
		if err != nil {
			return err
		}
		b, err := m.load(a[2], w, false)
		if err != nil {
			return err
		}
		d := m.vec[idx]
		var r [16]uint32
		for i := 0; i < w; i++ {
			for bit := 0; bit < 32; bit++ {
				sel := (d[i]>>bit&1)<<2 | (b[i]>>bit&1)<<1 | (c[i] >> bit & 1)
				r[i] |= (imm >> sel & 1) << bit
			}
		}
		return m.store(a[3], r, w)
	case "VPSHUFB":
		_, w, err := dstLanes()
		if err != nil {
			return err
		}
		mask, err := m.load(a[0], w, false)
		if err != nil {
			return err
		}
		x, err := m.load(a[1], w, false)
		if err != nil {
			return err
		}
		mb, xb := make([]byte, 4*w), make([]byte, 4*w)
		for i := 0; i < w; i++ {
			binary.LittleEndian.PutUint32(mb[4*i:], mask[i])
			binary.LittleEndian.PutUint32(xb[4*i:], x[i])
		}
		rb := make([]byte, 4*w)
		for i := range rb {
			if mb[i]&0x80 == 0 {
				rb[i] = xb[i&^15+int(mb[i]&15)]
			}
		}
		var r [16]uint32
		for i := 0; i < w; i++ {
			r[i] = binary.LittleEndian.Uint32(rb[4*i:])
		}
		return m.store(a[2], r, w)
	case "VMOVMSKPS":
		idx, w, _ := emuVecReg(a[0])
		var r uint64
		for i := 0; i < w; i++ {
			r |= uint64(m.vec[idx][i]>>31) << i
		}
		m.gpr[a[1]] = r
	case "VPCMPUD.BCST":
		pred := emuImm(a[0])
		idx, w, _ := emuVecReg(a[2])
		y, err := m.load(a[1], w, true)
		if err != nil {
			return err
		}
		k, _ := strconv.Atoi(strings.TrimPrefix(a[3], "K"))
		var r uint16
		for i := 0; i < w; i++ {
			x := m.vec[idx][i]
			var ok bool
			switch pred {
			case 0:
				ok = x == y[i]
			case 1:
				ok = x < y[i]
			case 2:
				ok = x <= y[i]
			default:
				return fmt.Errorf("predicate %d", pred)
			}
			if ok {
				r |= 1 << i
			}
		}
		m.kreg[k] = r
	case "VZEROUPPER", "RET":
	default:
		return fmt.Errorf("unsupported instruction")
	}
	return nil
}

// emuLanes runs the named lanes function on the job slot memory for nonce.
func emuLanes(t testing.TB, name string, mem []byte, nonce uint32) uint16 {
	t.Helper()
	img, err := loadEmuImage()
	if err != nil {
		t.Fatal(err)
	}
	m := &emuMachine{
		img:  img,
		gpr:  map[string]uint64{},
		ptr:  map[string][]byte{"s": mem, "s8": mem},
		args: map[string]uint64{"nonce": uint64(nonce)},
	}
	if err := m.run(name); err != nil {
		t.Fatal(err)
	}
	return uint16(m.ret)
}

func slotBytes(p *Prepared) []byte {
	b := make([]byte, 4*numSlots)
	for i, v := range p.slots {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

func slot8Bytes(p *Prepared) []byte {
	b := make([]byte, 32*numSlots)
	for i := range p.slots8 {
		for k, v := range p.slots8[i] {
			binary.LittleEndian.PutUint32(b[32*i+4*k:], v)
		}
	}
	return b
}

// emuKernel is a Kernel whose batches run in the interpreter.
type emuKernel struct {
	t     testing.TB
	name  string // avx512Lanes or avx2Lanes
	width uint64
}

func (k emuKernel) Name() string { return "emu-" + k.name }

func (k emuKernel) Search(p *Prepared, start uint32, count uint64) (uint32, bool, uint64) {
	mem := slotBytes(p)
	if k.width == 8 {
		mem = slot8Bytes(p)
	}
	return lanesSearch(p, start, count, k.width, func(p *Prepared, n uint32) uint16 {
		return emuLanes(k.t, k.name, mem, n)
	})
}

// refTop is the top 32-bit word of the hash (little-endian reading).
func refTop(j *Job, n uint32) uint32 {
	h := j.Header
	binary.LittleEndian.PutUint32(h[76:], n)
	d := HashHeader(&h)
	return binary.LittleEndian.Uint32(d[28:])
}

// TestEmulatedLanes checks each lane's top-word test of the AVX-512 and
// AVX2 assembly, interpreted, against crypto/sha256, with targets that
// split the lanes; where the CPU runs the function natively, the native
// mask must agree too.
func TestEmulatedLanes(t *testing.T) {
	rng := splitmix64(42)
	rounds := 6
	if raceEnabled {
		rounds = 2
	}
	for _, fn := range []struct {
		name  string
		width int
	}{{"avx512Lanes", 16}, {"avx2Lanes", 8}} {
		for r := 0; r < rounds; r++ {
			var j Job
			rng.fill(j.Header[:])
			start := uint32(rng.next())
			if r == 0 {
				start = 0xfffffffa // lanes wrap around 2^32
			}
			tops := make([]uint32, fn.width)
			for i := range tops {
				tops[i] = refTop(&j, start+uint32(i))
			}
			// Targets: the lane's own value (boundary <=), and splits.
			for _, tt := range []uint32{tops[r%fn.width], tops[(r+3)%fn.width] - 1, 0, 0xffffffff} {
				binary.LittleEndian.PutUint32(j.Target[28:], tt)
				p := Prepare(&j)
				var want uint16
				for i, v := range tops {
					if v <= tt {
						want |= 1 << i
					}
				}
				mem := slotBytes(p)
				if fn.width == 8 {
					mem = slot8Bytes(p)
				}
				if got := emuLanes(t, fn.name, mem, start); got != want {
					t.Fatalf("%s emulated: header %x start %#x target top %#x: mask %016b, want %016b", fn.name, j.Header, start, tt, got, want)
				}
				if native, ok := nativeLanes(fn.name, p, start); ok && native != want {
					t.Fatalf("%s native: mask %016b, want %016b", fn.name, native, want)
				}
			}
		}
	}
}

// TestEmulatedSearch drives the interpreted AVX-512 and AVX2 batches through
// the real lanesSearch driver: genesis and exactly-one-lane targets.
func TestEmulatedSearch(t *testing.T) {
	for _, k := range []emuKernel{{t, "avx512Lanes", 16}, {t, "avx2Lanes", 8}} {
		if err := selfTest(k); err != nil {
			t.Fatal(err)
		}
		g := genesisJob()
		if n, ok, tried := k.Search(Prepare(&g), genesisNonce-20, 64); !ok || n != genesisNonce || tried != 21 {
			t.Fatalf("%s genesis: (%d, %v, %d)", k.Name(), n, ok, tried)
		}
		checkLanePositions(t, k, 16, raceEnabled)
	}
}

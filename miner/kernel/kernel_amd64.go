//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

// hasSHA reports the SHA extensions (CPUID.(EAX=7,ECX=0):EBX bit 29);
// golang.org/x/sys/cpu does not expose this bit on x86.
func hasSHA() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, ebx, _, _ := cpuid(7, 0)
	return ebx&(1<<29) != 0
}

// archKernels returns the assembly kernels this CPU supports, fastest first.
func archKernels() []Kernel {
	var ks []Kernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512Kernel{})
	}
	if hasSHA() && cpu.X86.HasSSSE3 && cpu.X86.HasSSE41 {
		ks = append(ks, shaniKernel{})
	}
	if cpu.X86.HasAVX2 {
		ks = append(ks, avx2Kernel{})
	}
	return ks
}

// avx512Kernel: 16 nonces per call, one per 32-bit lane of a ZMM register.
type avx512Kernel struct{}

func (avx512Kernel) Name() string { return "avx512" }

func (avx512Kernel) Search(p *Prepared, start uint32, count uint64) (uint32, bool, uint64) {
	return lanesSearch(p, start, count, 16, avx512Batch)
}

func avx512Batch(p *Prepared, n uint32) uint16 { return avx512Lanes(&p.slots[0], n) }

// avx2Kernel: 8 nonces per call, one per 32-bit lane of a YMM register.
type avx2Kernel struct{}

func (avx2Kernel) Name() string { return "avx2" }

func (avx2Kernel) Search(p *Prepared, start uint32, count uint64) (uint32, bool, uint64) {
	return lanesSearch(p, start, count, 8, avx2Batch)
}

func avx2Batch(p *Prepared, n uint32) uint16 { return avx2Lanes(&p.slots8[0][0], n) }

// shaniKernel: SHA-NI, two interleaved nonce streams; the loop runs in
// assembly and stops at the first candidate (top-word test), which is then
// confirmed here with the full compare.
type shaniKernel struct{}

func (shaniKernel) Name() string { return "shani2x" }

func (shaniKernel) Search(p *Prepared, start uint32, count uint64) (uint32, bool, uint64) {
	off := uint64(0)
	for off < count {
		r := shaniPairs(&p.shani[0], start+uint32(off), (count-off+1)/2)
		if r == ^uint64(0) {
			break
		}
		idx := off + r
		if idx >= count { // the odd tail's partner lane
			break
		}
		if n := start + uint32(idx); p.check(n) {
			return n, true, idx + 1
		}
		off = idx + 1
	}
	return 0, false, count
}

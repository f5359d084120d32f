//go:build amd64 && !purego

package kernel

import "golang.org/x/sys/cpu"

// nativeLanes runs the named lanes function natively if this CPU can.
func nativeLanes(name string, p *Prepared, start uint32) (uint16, bool) {
	switch name {
	case "avx512Lanes":
		if cpu.X86.HasAVX512F {
			return avx512Lanes(&p.slots[0], start), true
		}
	case "avx2Lanes":
		if cpu.X86.HasAVX2 {
			return avx2Lanes(&p.slots8[0][0], start), true
		}
	}
	return 0, false
}

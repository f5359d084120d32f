//go:build !amd64 || purego

package kernel

func nativeLanes(name string, p *Prepared, start uint32) (uint16, bool) { return 0, false }

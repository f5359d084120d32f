//go:build !amd64 || purego

package kernel

// archKernels returns no assembly kernels on this platform: only the
// portable generic kernel is available.
func archKernels() []Kernel { return nil }

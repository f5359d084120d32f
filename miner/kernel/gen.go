package kernel

// The assembly kernels, their Go declarations and the portable
// precomputation/scalar kernel are generated from one description of the
// computation by the avo program in internal/asmgen (its own module, so avo
// stays out of the node's go.mod). The outputs are committed; regenerate
// with `go generate ./miner/kernel` after changing the generator.

//go:generate go run -C internal/asmgen . -out ../../kernels_amd64.s -stubs ../../kernels_amd64.go -goout ../../sha_gen.go -pkg kernel

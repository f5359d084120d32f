// Command asmgen generates the SHA-256d nonce-search kernels of package
// github.com/quarrychain/quarry/miner/kernel: the AVX-512, AVX2 and SHA-NI
// assembly (with avo) and the portable Go precomputation/scalar kernel,
// all from one description of the computation (ir.go).
//
// Run it through `go generate ./miner/kernel` (see miner/kernel/gen.go).
package main

import (
	"flag"
	"log"
	"os"

	. "github.com/mmcloughlin/avo/build"
)

var goOut = flag.String("goout", "", "write the generated portable Go file here")

func main() {
	flag.Parse()
	p := buildSHA256d()
	an := p.analyze()
	log.Printf("program: %s", p.stats(an))
	if *goOut != "" {
		if err := os.WriteFile(*goOut, genGo(p, an), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	ConstraintExpr("amd64,!purego")
	pool512 := newPool("bcst512", 1)
	pool2 := newPool("vec256", 8)
	genAVX512(p, an, pool512)
	genAVX2(p, an, pool2)
	genSHANI()
	genCPUID()
	pool512.emitData()
	pool2.emitData()
	Generate()
}

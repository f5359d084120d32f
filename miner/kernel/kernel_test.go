package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// allKernels is every kernel this machine runs natively, plus, where the
// CPU lacks them, the AVX-512/AVX2 batches run in the interpreter
// (emu_test.go), so that every tier is checked on every machine.
func allKernels(t testing.TB) []Kernel {
	ks := append([]Kernel(nil), Available()...)
	have := map[string]bool{}
	for _, k := range ks {
		have[k.Name()] = true
	}
	if !have["avx512"] {
		ks = append(ks, emuKernel{t, "avx512Lanes", 16})
	}
	if !have["avx2"] {
		ks = append(ks, emuKernel{t, "avx2Lanes", 8})
	}
	return ks
}

func TestAvailable(t *testing.T) {
	av := Available()
	if len(av) == 0 || av[len(av)-1].Name() != "generic" {
		t.Fatalf("Available() must end with generic: %v", av)
	}
	if Best().Name() != av[0].Name() {
		t.Fatalf("Best() = %s, want %s", Best().Name(), av[0].Name())
	}
	for _, k := range av {
		if got, ok := ByName(k.Name()); !ok || got.Name() != k.Name() {
			t.Fatalf("ByName(%q) = %v, %v", k.Name(), got, ok)
		}
		t.Logf("available: %s", k.Name())
	}
	if _, ok := ByName("nope"); ok {
		t.Fatal("ByName(nope) found something")
	}
	// Every kernel compiled for this platform must pass its self-test when
	// the CPU supports it (a failing one would silently be dropped).
	for _, k := range archKernels() {
		if err := selfTest(k); err != nil {
			t.Error(err)
		}
	}
}

func TestGenesis(t *testing.T) {
	j := genesisJob()
	d := HashHeader(&j.Header)
	for i, k := 0, len(d)-1; i < k; i, k = i+1, k-1 {
		d[i], d[k] = d[k], d[i]
	}
	if got, want := hex.EncodeToString(d[:]), "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"; got != want {
		t.Fatalf("genesis hash %s, want %s", got, want)
	}
	p := Prepare(&j)
	for _, k := range Available() {
		const back = 100000
		n, ok, tried := k.Search(p, genesisNonce-back, 2*back)
		if !ok || n != genesisNonce || tried != back+1 {
			t.Errorf("%s: genesis search = (%d, %v, %d), want (%d, true, %d)", k.Name(), n, ok, tried, genesisNonce, back+1)
		}
		// The nonce bytes of the caller's job are not modified.
		if j.Header != genesisJob().Header {
			t.Fatal("job header modified")
		}
	}
}

// checkLanePositions searches seeded random headers with a target equal to
// the exact hash of the nonce at position pos (so exactly that lane
// accepts, barring a 2^-256-ish coincidence that the reference would also
// see), from starts near the 2^32 wrap, with assorted tail counts.
func checkLanePositions(t *testing.T, k Kernel, maxPos int, short bool) {
	t.Helper()
	rng := splitmix64(7)
	counts := []uint64{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 40}
	for pos := 0; pos < maxPos; pos++ {
		j, start := exactOneJob(&rng, pos, 40, pos%3 != 0)
		p := Prepare(&j)
		for ci, count := range counts {
			if short && ci%3 != 0 {
				continue
			}
			wn, wok, wt := referenceSearch(&j, start, count)
			if wok != (uint64(pos) < count) {
				t.Fatalf("reference: pos %d count %d found=%v", pos, count, wok)
			}
			if n, ok, tried := k.Search(p, start, count); n != wn || ok != wok || tried != wt {
				t.Fatalf("%s: pos %d start %#x count %d: got (%d, %v, %d), want (%d, %v, %d)",
					k.Name(), pos, start, count, n, ok, tried, wn, wok, wt)
			}
		}
	}
}

func TestKernelsMatchReference(t *testing.T) {
	for _, k := range allKernels(t) {
		t.Run(k.Name(), func(t *testing.T) {
			checkLanePositions(t, k, 17, raceEnabled)
		})
	}
}

// TestCandidateOrder: with an easy target every nonce is a candidate on the
// top word; the first one that passes the full compare must be returned.
func TestCandidateOrder(t *testing.T) {
	rng := splitmix64(99)
	for _, k := range allKernels(t) {
		for r := 0; r < 4; r++ {
			var j Job
			rng.fill(j.Header[:])
			start := uint32(rng.next())
			// Top word accepts everything; below it, a random bound that
			// about half the hashes meet.
			for i := range j.Target {
				j.Target[i] = byte(rng.next())
			}
			binary.LittleEndian.PutUint32(j.Target[28:], 0xffffffff)
			j.Target[27] = 0x80
			wn, wok, wt := referenceSearch(&j, start, 40)
			if n, ok, tried := k.Search(Prepare(&j), start, 40); n != wn || ok != wok || tried != wt {
				t.Fatalf("%s: got (%d, %v, %d), want (%d, %v, %d)", k.Name(), n, ok, tried, wn, wok, wt)
			}
			// Equal top word, lower words decide.
			binary.LittleEndian.PutUint32(j.Target[28:], refTop(&j, start+5))
			wn, wok, wt = referenceSearch(&j, start, 24)
			if n, ok, tried := k.Search(Prepare(&j), start, 24); n != wn || ok != wok || tried != wt {
				t.Fatalf("%s (equal top): got (%d, %v, %d), want (%d, %v, %d)", k.Name(), n, ok, tried, wn, wok, wt)
			}
		}
	}
}

func TestNotFound(t *testing.T) {
	j := genesisJob()
	j.Target = [32]byte{} // impossible
	p := Prepare(&j)
	for _, k := range Available() {
		for _, count := range []uint64{1, 3, 17, 4099} {
			if n, ok, tried := k.Search(p, 0xffffff00, count); ok || tried != count || n != 0 {
				t.Fatalf("%s count %d: (%d, %v, %d)", k.Name(), count, n, ok, tried)
			}
		}
	}
}

func TestNoAllocs(t *testing.T) {
	j := genesisJob()
	p := Prepare(&j)
	for _, k := range Available() {
		allocs := testing.AllocsPerRun(5, func() {
			if _, ok, _ := k.Search(p, genesisNonce-40, 64); !ok {
				t.Fatal("not found")
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Search", k.Name(), allocs)
		}
	}
}

// TestGenericTop checks the generated scalar kernel's top word directly.
func TestGenericTop(t *testing.T) {
	rng := splitmix64(3)
	for r := 0; r < 50; r++ {
		var j Job
		rng.fill(j.Header[:])
		p := Prepare(&j)
		n := uint32(rng.next())
		if got, want := genericTop(&p.slots, n), refTop(&j, n); got != want {
			t.Fatalf("genericTop = %#x, want %#x", got, want)
		}
	}
}

func TestHashHeaderMatchesNaive(t *testing.T) {
	rng := splitmix64(5)
	var h [80]byte
	rng.fill(h[:])
	a := sha256.Sum256(h[:])
	want := sha256.Sum256(a[:])
	if HashHeader(&h) != want {
		t.Fatal("HashHeader mismatch")
	}
}

// FuzzKernelMatchesReference compares every kernel (native, and the
// interpreted AVX-512/AVX2 batches) with the naive crypto/sha256 loop. The
// target is derived from the header so that hits happen: either the exact
// hash of a nonce inside the window, or a loose bound.
func FuzzKernelMatchesReference(f *testing.F) {
	g := genesisJob()
	f.Add(g.Header[:], uint32(genesisNonce-3), uint8(0))
	f.Add(make([]byte, 80), uint32(0xfffffff0), uint8(15))
	f.Add([]byte("quarry"), uint32(0xffffffff), uint8(33))
	f.Add(make([]byte, 3), uint32(0), uint8(200))
	f.Fuzz(func(t *testing.T, hdr []byte, start uint32, sel uint8) {
		var j Job
		copy(j.Header[:], hdr)
		count := uint64(sel%37) + 1
		pos := uint32(sel) % 24
		h := j.Header
		binary.LittleEndian.PutUint32(h[76:], start+pos)
		j.Target = HashHeader(&h)
		if sel >= 128 {
			// Loose: top word only bounds, lower words from the header.
			copy(j.Target[:28], hdr)
			binary.LittleEndian.PutUint32(j.Target[28:], 0x30000000)
		}
		wn, wok, wt := referenceSearch(&j, start, count)
		p := Prepare(&j)
		for _, k := range allKernels(t) {
			if n, ok, tried := k.Search(p, start, count); n != wn || ok != wok || tried != wt {
				t.Fatalf("%s: start %#x count %d: got (%d, %v, %d), want (%d, %v, %d)", k.Name(), start, count, n, ok, tried, wn, wok, wt)
			}
		}
	})
}

// TestWrapExactOne starts exactly at 0xFFFFFFF0, so every batch of 16
// crosses 2^32, with headers chosen so that the nonce at position pos has
// the lowest hash of the 33-nonce window and the target is that hash:
// exactly one lane accepts.
func TestWrapExactOne(t *testing.T) {
	const start, span = uint32(0xfffffff0), 33
	rng := splitmix64(11)
	for pos := 0; pos < 17; pos++ {
		var j Job
		for {
			rng.fill(j.Header[:])
			h := j.Header
			var best [32]byte
			bestI := -1
			for i := 0; i < span; i++ {
				binary.LittleEndian.PutUint32(h[76:], start+uint32(i))
				d := HashHeader(&h)
				if bestI < 0 || !lessOrEqual(&best, &d) {
					best, bestI = d, i
				}
			}
			if bestI == pos {
				j.Target = best
				break
			}
		}
		p := Prepare(&j)
		want := start + uint32(pos)
		for _, k := range allKernels(t) {
			for _, count := range []uint64{uint64(pos) + 1, 17, span} {
				if count <= uint64(pos) {
					continue
				}
				if n, ok, tried := k.Search(p, start, count); !ok || n != want || tried != uint64(pos)+1 {
					t.Fatalf("%s pos %d count %d: got (%#x, %v, %d), want (%#x, true, %d)", k.Name(), pos, count, n, ok, tried, want, pos+1)
				}
			}
			if n, ok, tried := k.Search(p, start, uint64(pos)); ok || tried != uint64(pos) {
				t.Fatalf("%s pos %d count %d: got (%#x, %v, %d), want not found", k.Name(), pos, pos, n, ok, tried)
			}
			// Starting just after the hit: not found in the rest of the window.
			if n, ok, _ := k.Search(p, want+1, uint64(span-pos-1)); ok {
				t.Fatalf("%s pos %d: found %#x after the only hit", k.Name(), pos, n)
			}
		}
	}
}

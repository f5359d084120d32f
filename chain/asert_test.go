package chain

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"os"
	"strconv"
	"testing"
)

// asertRef is a direct, unlimited-width transcription of the aserti3-2d
// pseudo-code, independent of the production code's int64 fast path, used to
// cross-check it. With floor=true it divides the exponent with floor division
// (the wrong rule), to show that the rounding vectors discriminate.
func asertRef(anchor AsertAnchor, evalHeight uint64, evalTime int64, spacing, halfLife int64, powLimit *big.Int, floor bool) uint32 {
	anchorTarget, err := CompactToBig(anchor.Bits)
	if err != nil {
		panic(err)
	}
	hd := new(big.Int).Sub(new(big.Int).SetUint64(evalHeight), new(big.Int).SetUint64(anchor.Height))
	td := new(big.Int).Sub(big.NewInt(evalTime), big.NewInt(anchor.ParentTime))
	sched := new(big.Int).Mul(big.NewInt(spacing), hd.Add(hd, big.NewInt(1)))
	num := new(big.Int).Mul(td.Sub(td, sched), big.NewInt(65536))
	exponent := new(big.Int)
	if floor {
		exponent.Div(num, big.NewInt(halfLife)) // Euclidean == floor for a positive divisor
	} else {
		exponent.Quo(num, big.NewInt(halfLife)) // truncation towards zero
	}
	// num_shifts = floor(exponent / 65536), frac = exponent mod 65536 in [0, 65536)
	numShifts, frac := new(big.Int).DivMod(exponent, big.NewInt(65536), new(big.Int))
	f := frac.Int64()
	poly := new(big.Int).Mul(big.NewInt(195766423245049), big.NewInt(f))
	poly.Add(poly, new(big.Int).Mul(big.NewInt(971821376), big.NewInt(f*f)))
	poly.Add(poly, new(big.Int).Mul(big.NewInt(5127), new(big.Int).Exp(big.NewInt(f), big.NewInt(3), nil)))
	poly.Add(poly, new(big.Int).Lsh(big.NewInt(1), 47))
	factor := poly.Rsh(poly, 48)
	factor.Add(factor, big.NewInt(65536))
	next := new(big.Int).Mul(anchorTarget, factor)
	switch {
	case numShifts.Cmp(big.NewInt(1000)) > 0:
		return BigToCompact(powLimit) // the unlimited result is far above any limit
	case numShifts.Cmp(big.NewInt(-1000)) < 0:
		next.SetInt64(0)
	case numShifts.Sign() < 0:
		next.Rsh(next, uint(-numShifts.Int64()))
	default:
		next.Lsh(next, uint(numShifts.Int64()))
	}
	next.Rsh(next, 16)
	if next.Sign() == 0 {
		return BigToCompact(big.NewInt(1))
	}
	if next.Cmp(powLimit) > 0 {
		return BigToCompact(powLimit)
	}
	return BigToCompact(next)
}

type asertVectorFile struct {
	Comment string `json:"comment"`
	Runs    []struct {
		Comment      string `json:"comment"`
		Source       string `json:"source"`
		Spacing      int64  `json:"spacing"`
		HalfLife     int64  `json:"half_life"`
		PowLimitBits string `json:"pow_limit_bits"`
		Anchor       struct {
			Height     uint64 `json:"height"`
			Bits       string `json:"bits"`
			ParentTime int64  `json:"parent_time"`
		} `json:"anchor"`
		Vectors []struct {
			Comment       string `json:"comment"`
			Iteration     int    `json:"iteration"`
			Height        uint64 `json:"height"`
			Time          int64  `json:"time"`
			Bits          string `json:"bits"`
			FloorBits     string `json:"floor_bits"`
			FloorBitsSame bool   `json:"floor_bits_same"`
		} `json:"vectors"`
	} `json:"runs"`
}

func asertParseBits(t *testing.T, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		t.Fatalf("bad bits %q: %v", s, err)
	}
	return uint32(v)
}

func TestAsertVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/asert_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f asertVectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	total, official, floorDiffers := 0, 0, 0
	for ri, run := range f.Runs {
		if run.Comment == "" {
			t.Fatalf("run %d has no comment", ri)
		}
		limit, err := CompactToBig(asertParseBits(t, run.PowLimitBits))
		if err != nil {
			t.Fatal(err)
		}
		anchor := AsertAnchor{Height: run.Anchor.Height, Bits: asertParseBits(t, run.Anchor.Bits), ParentTime: run.Anchor.ParentTime}
		for vi, v := range run.Vectors {
			name := fmt.Sprintf("run %d (%s) vector %d (iteration %d, %s)", ri, run.Comment, vi, v.Iteration, v.Comment)
			want := asertParseBits(t, v.Bits)
			got := AsertNextBits(anchor, v.Height, v.Time, run.Spacing, run.HalfLife, limit)
			if got != want {
				t.Errorf("%s: AsertNextBits = %08x, want %08x", name, got, want)
			}
			if ref := asertRef(anchor, v.Height, v.Time, run.Spacing, run.HalfLife, limit, false); ref != want {
				t.Errorf("%s: reference = %08x, want %08x", name, ref, want)
			}
			fl := asertRef(anchor, v.Height, v.Time, run.Spacing, run.HalfLife, limit, true)
			switch {
			case v.FloorBits != "":
				if fl != asertParseBits(t, v.FloorBits) || fl == want {
					t.Errorf("%s: floor-division reference = %08x, file says %s (bits %08x)", name, fl, v.FloorBits, want)
				}
				floorDiffers++
			case v.FloorBitsSame:
				if fl != want {
					t.Errorf("%s: floor division should agree here, got %08x", name, fl)
				}
			default:
				if fl != want {
					t.Errorf("%s: floor division differs (%08x) but vector has no floor_bits", name, fl)
				}
			}
			total++
			if v.Iteration > 0 {
				official++
			}
		}
	}
	if official < 100 || total-official < 30 || floorDiffers < 20 {
		t.Fatalf("too few vectors: %d official, %d own, %d distinguishing truncation from floor", official, total-official, floorDiffers)
	}
}

func TestAsertMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewSource(2020_11_15))
	limits := []uint32{0x1d00ffff, 0x1e00ffff, 0x207fffff, 0x2100ffff}
	anchorBits := []uint32{0x1d00ffff, 0x1802aee8, 0x1b0404cb, 0x01010000, 0x207fffff, 0x1a2b3c4d, 0x03123456}
	for i := 0; i < 20000; i++ {
		limit, _ := CompactToBig(limits[rng.Intn(len(limits))])
		anchor := AsertAnchor{
			Height:     uint64(rng.Int63n(1 << 40)),
			Bits:       anchorBits[rng.Intn(len(anchorBits))],
			ParentTime: rng.Int63n(1<<33) - 1<<20,
		}
		spacing := []int64{1, 60, 120, 600}[rng.Intn(4)]
		halfLife := []int64{1, 3600, 172800, 1 << 40}[rng.Intn(4)]
		hd := uint64(rng.Int63n(100000))
		evalHeight := anchor.Height + hd
		onSchedule := anchor.ParentTime + spacing*int64(hd+1)
		var evalTime int64
		switch rng.Intn(5) {
		case 0: // near schedule, both signs, small offsets (rounding region)
			evalTime = onSchedule + rng.Int63n(2001) - 1000
		case 1: // within +-20 half-lives
			evalTime = onSchedule + rng.Int63n(40*halfLife+1) - 20*halfLife
		case 2: // arbitrary int64
			evalTime = int64(rng.Uint64())
		case 3: // arbitrary heights including below the anchor and near 2^64
			evalHeight = rng.Uint64()
			evalTime = int64(rng.Uint64())
		default:
			evalTime = onSchedule
		}
		got := AsertNextBits(anchor, evalHeight, evalTime, spacing, halfLife, limit)
		want := asertRef(anchor, evalHeight, evalTime, spacing, halfLife, limit, false)
		if got != want {
			t.Fatalf("anchor %+v height %d time %d spacing %d half-life %d limit %x: got %08x, reference %08x",
				anchor, evalHeight, evalTime, spacing, halfLife, limit, got, want)
		}
	}
}

// The int64 fast path and the big.Int path must split the exponent
// identically wherever the fast path applies.
func TestAsertFastPathMatchesBigPath(t *testing.T) {
	rng := rand.New(rand.NewSource(99))
	fast := 0
	for i := 0; i < 200000; i++ {
		anchor := AsertAnchor{Height: rng.Uint64() >> uint(rng.Intn(64)), ParentTime: int64(rng.Uint64()) >> uint(rng.Intn(64))}
		evalHeight := rng.Uint64() >> uint(rng.Intn(64))
		evalTime := int64(rng.Uint64()) >> uint(rng.Intn(64))
		spacing := int64(rng.Uint64()>>uint(rng.Intn(64))) & math.MaxInt64
		halfLife := int64(rng.Uint64()>>uint(rng.Intn(64)))&math.MaxInt64 | 1
		s1, f1, ok := asertExponent64(anchor, evalHeight, evalTime, spacing, halfLife)
		s2, f2 := asertExponentBig(anchor, evalHeight, evalTime, spacing, halfLife)
		if !ok {
			continue
		}
		fast++
		// The big path saturates the integer part at +-2^40 (no effect on the result).
		s1 = max(min(s1, 1<<40), -1<<40)
		if s1 != s2 || f1 != f2 {
			t.Fatalf("anchor %+v h %d t %d spacing %d hl %d: fast (%d, %d) big (%d, %d)",
				anchor, evalHeight, evalTime, spacing, halfLife, s1, f1, s2, f2)
		}
		if f1 >= 65536 {
			t.Fatalf("frac %d out of range", f1)
		}
	}
	if fast < 10000 {
		t.Fatalf("fast path exercised only %d times", fast)
	}
}

// The cubic must be exact in uint64 (spec Note 7): check every 16-bit
// fraction against big.Int, and that the approximation is monotonic with
// factor(0) = 65536 (2^0) and factor below 131072 (2^1).
func TestAsertFactorPolynomial(t *testing.T) {
	prev := uint64(0)
	for frac := uint64(0); frac < 65536; frac++ {
		u := 195766423245049*frac + 971821376*frac*frac + 5127*frac*frac*frac + 1<<47
		b := new(big.Int).Mul(big.NewInt(195766423245049), new(big.Int).SetUint64(frac))
		b.Add(b, new(big.Int).Mul(big.NewInt(971821376), new(big.Int).SetUint64(frac*frac)))
		b.Add(b, new(big.Int).Mul(big.NewInt(5127), new(big.Int).SetUint64(frac*frac*frac)))
		b.Add(b, new(big.Int).Lsh(big.NewInt(1), 47))
		if !b.IsUint64() || b.Uint64() != u {
			t.Fatalf("frac %d: uint64 polynomial overflows (%v)", frac, b)
		}
		factor := 65536 + u>>48
		if frac == 0 && factor != 65536 {
			t.Fatalf("factor(0) = %d", factor)
		}
		if factor < prev || factor >= 131072 {
			t.Fatalf("factor(%d) = %d (previous %d)", frac, factor, prev)
		}
		prev = factor
	}
}

// Doubling/halving per half-life for many anchors, via the public API only.
func TestAsertHalfLifeSteps(t *testing.T) {
	limit := powBitcoinLimit()
	for _, bits := range []uint32{0x1b0404cb, 0x1802aee8, 0x1a2b3c4d, 0x1c00ffff} {
		anchor := AsertAnchor{Height: 50, Bits: bits, ParentTime: 1_000_000}
		target, _ := CompactToBig(bits)
		on := anchor.ParentTime + 600*(77+1)
		for k := -8; k <= 8; k++ {
			got := AsertNextBits(anchor, 50+77, on+int64(k)*172800, 600, 172800, limit)
			want := new(big.Int)
			if k >= 0 {
				want.Lsh(target, uint(k))
			} else {
				want.Rsh(target, uint(-k))
			}
			if want.Cmp(limit) > 0 {
				want.Set(limit)
			}
			if got != BigToCompact(want) {
				t.Errorf("bits %08x, %+d half-lives: got %08x want %08x", bits, k, got, BigToCompact(want))
			}
		}
	}
}

func TestAsertBadParamsPanic(t *testing.T) {
	limit := powBitcoinLimit()
	for name, fn := range map[string]func(){
		"zero half-life":     func() { AsertNextBits(AsertAnchor{Bits: 0x1d00ffff}, 1, 1, 600, 0, limit) },
		"negative half-life": func() { AsertNextBits(AsertAnchor{Bits: 0x1d00ffff}, 1, 1, 600, -1, limit) },
		"invalid anchor":     func() { AsertNextBits(AsertAnchor{Bits: 0x04923456}, 1, 1, 600, 172800, limit) },
		"nil limit":          func() { AsertNextBits(AsertAnchor{Bits: 0x1d00ffff}, 1, 1, 600, 172800, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}

func BenchmarkAsertNextBits(b *testing.B) {
	limit := powBitcoinLimit()
	anchor := AsertAnchor{Height: 661647, Bits: 0x1804dafe, ParentTime: 1605447844}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		AsertNextBits(anchor, 700000, 1628000000+int64(i%1000), 600, 172800, limit)
	}
}

package chain

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"strconv"
	"testing"
)

// powBitcoinLimit is Bitcoin mainnet's PoW limit, 0x00000000FFFF << 208 (bits 0x1d00ffff).
func powBitcoinLimit() *big.Int { return new(big.Int).Lsh(big.NewInt(0xffff), 208) }

func powMustBig(t *testing.T, hexStr string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(hexStr, 16)
	if !ok {
		t.Fatalf("bad hex %q", hexStr)
	}
	return v
}

// Bitcoin Core's arith_uint256_tests "bignum_SetCompact" vectors, plus the
// overflow boundaries of its SetCompact. wantErr means negative, overflow or
// zero: all ErrBadBits here.
func TestCompactCoreVectors(t *testing.T) {
	tests := []struct {
		bits    uint32
		want    string // hex target; "" when an error is expected
		compact uint32 // BigToCompact(want)
		why     string
	}{
		{0x00000000, "", 0, "zero"},
		{0x00123456, "", 0, "zero (mantissa shifted out)"},
		{0x01003456, "", 0, "zero (mantissa shifted out)"},
		{0x02000056, "", 0, "zero (mantissa shifted out)"},
		{0x03000000, "", 0, "zero"},
		{0x04000000, "", 0, "zero"},
		{0x00923456, "", 0, "zero (sign bit with zero shifted mantissa is not negative)"},
		{0x01803456, "", 0, "zero (sign bit with zero shifted mantissa is not negative)"},
		{0x02800056, "", 0, "zero (sign bit with zero shifted mantissa is not negative)"},
		{0x03800000, "", 0, "zero"},
		{0x04800000, "", 0, "zero"},
		{0x01123456, "12", 0x01120000, ""},
		{0x01fedcba, "", 0, "negative (0x7e with sign)"},
		{0x02123456, "1234", 0x02123400, ""},
		{0x03123456, "123456", 0x03123456, ""},
		{0x04123456, "12345600", 0x04123456, ""},
		{0x04923456, "", 0, "negative"},
		{0x05009234, "92340000", 0x05009234, ""},
		{0x20123456, "1234560000000000000000000000000000000000000000000000000000000000", 0x20123456, ""},
		{0xff123456, "", 0, "overflow"},
		// Overflow boundaries (value must stay below 2^256).
		{0x22000001, "0100000000000000000000000000000000000000000000000000000000000000", 0x20010000, ""},
		{0x220000ff, "ff00000000000000000000000000000000000000000000000000000000000000", 0x2100ff00, ""},
		{0x22000100, "", 0, "overflow (2^256)"},
		{0x23000001, "", 0, "overflow (size 35)"},
		{0x2100ffff, "ffff000000000000000000000000000000000000000000000000000000000000", 0x2100ffff, ""},
		{0x21010000, "", 0, "overflow (2^256)"},
		{0x207fffff, "7fffff0000000000000000000000000000000000000000000000000000000000", 0x207fffff, ""},
		{0x1d00ffff, "00000000ffff0000000000000000000000000000000000000000000000000000", 0x1d00ffff, ""},
		{0x01010000, "1", 0x01010000, ""},
		{0x00800000, "", 0, "zero (negative zero)"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%08x", tc.bits), func(t *testing.T) {
			got, err := CompactToBig(tc.bits)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("CompactToBig(%08x) = %x, want error (%s)", tc.bits, got, tc.why)
				}
				if !errors.Is(err, ErrBadBits) {
					t.Fatalf("error %v is not ErrBadBits", err)
				}
				if KindOf(err) != ErrBadBits {
					t.Fatalf("KindOf = %q", KindOf(err))
				}
				return
			}
			if err != nil {
				t.Fatalf("CompactToBig(%08x): %v", tc.bits, err)
			}
			if want := powMustBig(t, tc.want); got.Cmp(want) != 0 {
				t.Fatalf("CompactToBig(%08x) = %x, want %x", tc.bits, got, want)
			}
			if c := BigToCompact(got); c != tc.compact {
				t.Fatalf("BigToCompact(%x) = %08x, want %08x", got, c, tc.compact)
			}
		})
	}
}

func TestCompactBigToCompactVectors(t *testing.T) {
	tests := []struct {
		target string
		bits   uint32
	}{
		{"0", 0},
		{"1", 0x01010000},
		{"12", 0x01120000},
		{"7f", 0x017f0000},
		{"80", 0x02008000}, // top mantissa bit would be the sign: shift and bump
		{"ff", 0x0200ff00},
		{"1234", 0x02123400},
		{"8000", 0x03008000},
		{"7fffff", 0x037fffff},
		{"800000", 0x04008000},
		{"123456", 0x03123456},
		{"12345678", 0x04123456}, // low byte truncated
		{"ffff0000000000000000000000000000000000000000000000000000", 0x1d00ffff},
		{"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", 0x2100ffff},
	}
	for _, tc := range tests {
		if got := BigToCompact(powMustBig(t, tc.target)); got != tc.bits {
			t.Errorf("BigToCompact(0x%s) = %08x, want %08x", tc.target, got, tc.bits)
		}
	}
	if got := BigToCompact(big.NewInt(-5)); got != 0 {
		t.Errorf("BigToCompact(-5) = %08x, want 0", got)
	}
	// 2^256 encodes to bits that decode as overflow, never to a small target.
	if _, err := CompactToBig(BigToCompact(oneLsh256)); !errors.Is(err, ErrBadBits) {
		t.Errorf("BigToCompact(2^256) decodes without overflow error: %v", err)
	}
}

// powCompactTruncate is an independent model of what survives compact encoding:
// the top three bytes, or the top two when the top byte has its high bit set
// (the normalising shift).
func powCompactTruncate(v *big.Int) *big.Int {
	n := (v.BitLen() + 7) / 8
	b := make([]byte, n)
	v.FillBytes(b)
	keep := 3
	if b[0]&0x80 != 0 {
		keep = 2
	}
	for i := keep; i < n; i++ {
		b[i] = 0
	}
	return new(big.Int).SetBytes(b)
}

// Round trip for every byte length 1..32, including 1-3 byte targets.
func TestCompactRoundTripEveryLength(t *testing.T) {
	rng := rand.New(rand.NewSource(20260101))
	tops := []byte{0x01, 0x12, 0x7f, 0x80, 0xab, 0xff}
	for n := 1; n <= 32; n++ {
		for _, top := range tops {
			for rep := 0; rep < 8; rep++ {
				b := make([]byte, n)
				b[0] = top
				for i := 1; i < n; i++ {
					switch rep {
					case 0: // all zero below the top byte
					case 1:
						b[i] = 0xff
					default:
						b[i] = byte(rng.Intn(256))
					}
				}
				v := new(big.Int).SetBytes(b)
				bits := BigToCompact(v)

				size := int(bits >> 24)
				if bits&compactSignBit != 0 {
					t.Fatalf("len %d: BigToCompact(%x) = %08x has the sign bit set", n, v, bits)
				}
				wantSize := n
				if top&0x80 != 0 {
					wantSize = n + 1
				}
				if size != wantSize {
					t.Fatalf("len %d: BigToCompact(%x) = %08x, exponent %d want %d", n, v, bits, size, wantSize)
				}
				got, err := CompactToBig(bits)
				if err != nil {
					t.Fatalf("len %d: CompactToBig(BigToCompact(%x) = %08x): %v", n, v, bits, err)
				}
				want := powCompactTruncate(v)
				if (n <= 2 || n == 3 && top < 0x80) && want.Cmp(v) != 0 {
					t.Fatalf("len %d: model says %x is not exact", n, v) // 1-3 byte targets that fit the mantissa are exact
				}
				if got.Cmp(want) != 0 {
					t.Fatalf("len %d: round trip of %x via %08x = %x, want %x", n, v, bits, got, want)
				}
				// Encoding is idempotent on what it produced.
				if again := BigToCompact(got); again != bits {
					t.Fatalf("len %d: re-encode of %x = %08x, want %08x", n, got, again, bits)
				}
			}
		}
	}
}

// For random bits: every accepted value re-encodes to bits that decode to the
// same value; every rejected value is ErrBadBits.
func TestCompactRandomBits(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	for i := 0; i < 200000; i++ {
		bits := rng.Uint32()
		if i%2 == 0 { // concentrate on realistic exponents
			bits = bits&0x00ffffff | uint32(rng.Intn(36))<<24
		}
		v, err := CompactToBig(bits)
		if err != nil {
			if !errors.Is(err, ErrBadBits) {
				t.Fatalf("%08x: error %v is not ErrBadBits", bits, err)
			}
			continue
		}
		if v.Sign() <= 0 || v.BitLen() > 256 {
			t.Fatalf("%08x decoded to out-of-range %x", bits, v)
		}
		back, err := CompactToBig(BigToCompact(v))
		if err != nil || back.Cmp(v) != 0 {
			t.Fatalf("%08x: %x re-encodes to %08x -> %v, %v", bits, v, BigToCompact(v), back, err)
		}
	}
}

func TestPowHashToBig(t *testing.T) {
	var h Hash
	h[0] = 1
	if got := HashToBig(h); got.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("little-endian byte 0 = 1: got %x", got)
	}
	h = Hash{}
	h[31] = 0x80
	if got, want := HashToBig(h), new(big.Int).Lsh(big.NewInt(1), 255); got.Cmp(want) != 0 {
		t.Fatalf("byte 31 = 0x80: got %x want %x", got, want)
	}
	g, err := ParseHash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := HashToBig(g), powMustBig(t, "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"); got.Cmp(want) != 0 {
		t.Fatalf("genesis hash as integer = %x, want %x", got, want)
	}
}

func TestPowTargetBytesLE(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for i := 0; i < 2000; i++ {
		v := new(big.Int).Rand(rng, oneLsh256)
		v.Rsh(v, uint(rng.Intn(256)))
		le := TargetBytesLE(v)
		if got := HashToBig(Hash(le)); got.Cmp(v) != 0 {
			t.Fatalf("TargetBytesLE(%x) reads back as %x", v, got)
		}
	}
	le := TargetBytesLE(powBitcoinLimit())
	want := [32]byte{26: 0xff, 27: 0xff}
	if le != want {
		t.Fatalf("TargetBytesLE(powLimit) = %x, want %x", le, want)
	}
	if le := TargetBytesLE(big.NewInt(-1)); le != ([32]byte{}) {
		t.Fatalf("negative target: %x", le)
	}
	var ff [32]byte
	for i := range ff {
		ff[i] = 0xff
	}
	if le := TargetBytesLE(oneLsh256); le != ff {
		t.Fatalf("2^256 target should saturate: %x", le)
	}
}

func TestCalcWork(t *testing.T) {
	// Bitcoin's genesis work (its chainwork 0x100010001).
	if got := CalcWork(0x1d00ffff); got.Cmp(big.NewInt(0x100010001)) != 0 {
		t.Fatalf("CalcWork(0x1d00ffff) = %x, want 100010001", got)
	}
	if got, want := CalcWork(0x01010000), new(big.Int).Lsh(big.NewInt(1), 255); got.Cmp(want) != 0 {
		t.Fatalf("CalcWork(target 1) = %x, want 2^255", got)
	}
	if got := CalcWork(0x2100ffff); got.Cmp(big.NewInt(1)) != 0 {
		t.Fatalf("CalcWork(0x2100ffff) = %v, want 1", got)
	}
	for _, bad := range []uint32{0, 0x04923456, 0xff123456, 0x01003456, 0x23000001} {
		if got := CalcWork(bad); got.Sign() != 0 {
			t.Fatalf("CalcWork(%08x) = %v, want 0 for invalid bits", bad, got)
		}
	}

	direct := func(target *big.Int) *big.Int {
		d := new(big.Int).Add(target, big.NewInt(1))
		return d.Quo(oneLsh256, d)
	}
	rng := rand.New(rand.NewSource(42))
	checked := 0
	for i := 0; i < 50000; i++ {
		bits := uint32(rng.Intn(34)+1)<<24 | uint32(rng.Intn(0x800000))
		target, err := CompactToBig(bits)
		if err != nil {
			continue
		}
		checked++
		if got, want := CalcWork(bits), direct(target); got.Cmp(want) != 0 {
			t.Fatalf("CalcWork(%08x) = %x, want %x", bits, got, want)
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d random targets checked", checked)
	}
}

func TestCheckProofOfWorkBoundary(t *testing.T) {
	limit := powBitcoinLimit()
	hashOf := func(v *big.Int) Hash { return Hash(TargetBytesLE(v)) }
	one := big.NewInt(1)

	for _, bits := range []uint32{0x1d00ffff, 0x1b04864c, 0x18015ddc, 0x1a44b9f2, 0x03123456, 0x01010000} {
		target, err := CompactToBig(bits)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckProofOfWork(hashOf(target), bits, limit); err != nil {
			t.Errorf("%08x: hash == target must pass: %v", bits, err)
		}
		if err := CheckProofOfWork(hashOf(new(big.Int).Sub(target, one)), bits, limit); err != nil {
			t.Errorf("%08x: hash == target-1 must pass: %v", bits, err)
		}
		err = CheckProofOfWork(hashOf(new(big.Int).Add(target, one)), bits, limit)
		if !errors.Is(err, ErrHighHash) {
			t.Errorf("%08x: hash == target+1 must fail with ErrHighHash, got %v", bits, err)
		}
	}
	if err := CheckProofOfWork(Hash{}, 0x1d00ffff, limit); err != nil {
		t.Errorf("zero hash must pass: %v", err)
	}

	// A target above the limit is a bits error, even for a tiny hash.
	for _, bits := range []uint32{0x1d010000, 0x1e00ffff, 0x207fffff, 0x1d00ffff + 1} {
		err := CheckProofOfWork(Hash{}, bits, limit)
		if !errors.Is(err, ErrBadBits) {
			t.Errorf("%08x above limit: got %v, want ErrBadBits", bits, err)
		}
	}
	// Invalid encodings.
	for _, bits := range []uint32{0, 0x04923456, 0xff123456, 0x01003456} {
		err := CheckProofOfWork(Hash{}, bits, limit)
		if !errors.Is(err, ErrBadBits) {
			t.Errorf("%08x invalid: got %v, want ErrBadBits", bits, err)
		}
	}
}

type bitcoinHeaderVector struct {
	Height  uint64 `json:"height"`
	Comment string `json:"comment"`
	Header  string `json:"header"`
	Hash    string `json:"hash"`
	Bits    string `json:"bits"`
}

func loadBitcoinHeaders(t *testing.T) []bitcoinHeaderVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/bitcoin_headers.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Headers []bitcoinHeaderVector `json:"headers"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Headers
}

func TestBitcoinHeaders(t *testing.T) {
	vecs := loadBitcoinHeaders(t)
	if len(vecs) < 5 {
		t.Fatalf("only %d headers", len(vecs))
	}
	limit := powBitcoinLimit()
	periods := map[uint64]bool{}
	for _, v := range vecs {
		t.Run(strconv.FormatUint(v.Height, 10), func(t *testing.T) {
			raw, err := hex.DecodeString(v.Header)
			if err != nil {
				t.Fatal(err)
			}
			h, err := DecodeHeader(raw)
			if err != nil {
				t.Fatal(err)
			}
			if b := h.Bytes(); hex.EncodeToString(b[:]) != v.Header {
				t.Fatalf("re-encoded header differs")
			}
			hash := h.BlockHash()
			if hash.String() != v.Hash {
				t.Fatalf("hash %s, want %s", hash, v.Hash)
			}
			wantBits, err := strconv.ParseUint(v.Bits, 0, 32)
			if err != nil {
				t.Fatal(err)
			}
			if h.Bits != uint32(wantBits) {
				t.Fatalf("bits %08x, want %s", h.Bits, v.Bits)
			}
			if err := CheckProofOfWork(hash, h.Bits, limit); err != nil {
				t.Fatalf("CheckProofOfWork: %v", err)
			}
			if CalcWork(h.Bits).Sign() <= 0 {
				t.Fatalf("zero work")
			}
			for _, bit := range []uint32{0, 7, 31} {
				bad := h
				bad.Nonce ^= 1 << bit
				err := CheckProofOfWork(bad.BlockHash(), bad.Bits, limit)
				if !errors.Is(err, ErrHighHash) {
					t.Fatalf("nonce bit %d flipped: got %v, want ErrHighHash", bit, err)
				}
			}
		})
		periods[v.Height/2016] = true
	}
	if len(periods) < 5 {
		t.Fatalf("headers cover only %d difficulty periods", len(periods))
	}
}

func BenchmarkCheckProofOfWork(b *testing.B) {
	limit := powBitcoinLimit()
	g, _ := ParseHash("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := CheckProofOfWork(g, 0x1d00ffff, limit); err != nil {
			b.Fatal(err)
		}
	}
}

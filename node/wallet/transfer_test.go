package wallet

import (
	"errors"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestBuildTransfer(t *testing.T) {
	p := chain.RegtestParams()
	k, _ := GenerateKey()
	to, _ := GenerateKey()
	tx, err := BuildTransfer(p, k.Private, Payment{To: to.Address, Amount: 5 * chain.Coin, Fee: 1000, Memo: []byte("hi")}, 7)
	if err != nil {
		t.Fatal(err)
	}
	if tx.From() != k.Address || tx.To != to.Address || tx.Nonce != 7 || tx.ChainID != p.ChainID ||
		tx.Amount != 5*chain.Coin || tx.Fee != 1000 || string(tx.Memo) != "hi" || tx.Kind != chain.TxTransfer {
		t.Fatalf("tx %+v", tx)
	}
	if err := tx.VerifySignature(); err != nil {
		t.Fatal(err)
	}
	// Hex round trip, as sendrawtransaction takes it.
	h := EncodeTxHex(tx)
	back, err := DecodeTxHex("  " + h + "\n")
	if err != nil || back.TxID() != tx.TxID() {
		t.Fatalf("hex round trip: %v", err)
	}

	cases := []struct {
		name  string
		to    chain.Address
		amt   uint64
		fee   uint64
		memo  []byte
		chain chain.ErrorKind
	}{
		{"zero amount", to.Address, 0, 1, nil, chain.ErrZeroAmount},
		{"self transfer", k.Address, 1, 1, nil, chain.ErrSelfTransfer},
		{"memo too long", to.Address, 1, 1, make([]byte, chain.MaxMemoSize+1), chain.ErrMemoTooLong},
		{"overflow", to.Address, ^uint64(0), 1, nil, chain.ErrAmountOverflow},
	}
	for _, c := range cases {
		_, err := BuildTransfer(p, k.Private, Payment{To: c.to, Amount: c.amt, Fee: c.fee, Memo: c.memo}, 0)
		if !errors.Is(err, ErrInvalidTx) || !errors.Is(err, c.chain) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestDecodeTxHexRejects(t *testing.T) {
	for _, s := range []string{"", "zz", "0", "01", strings.Repeat("00", chain.MaxTxSize+1), "0100"} {
		if _, err := DecodeTxHex(s); !errors.Is(err, ErrInvalidTx) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestAmounts(t *testing.T) {
	good := map[string]uint64{
		"0": 0, "1": chain.Coin, "1.5": 150_000_000, "0.00000001": 1, ".5": 50_000_000,
		"21000000": 21_000_000 * chain.Coin, " 2.25 ": 225_000_000, "184467440737.09551615": ^uint64(0),
	}
	for s, want := range good {
		got, err := ParseAmount(s)
		if err != nil || got != want {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", " ", ".", "1.", "-1", "+1", "1e8", "1.000000001", "0x10", "1,5", "184467440737.09551616", "99999999999999999999", "1.2.3"} {
		if _, err := ParseAmount(s); !errors.Is(err, ErrBadAmount) {
			t.Errorf("ParseAmount(%q): %v", s, err)
		}
	}
	for units, want := range map[uint64]string{0: "0.00000000", 1: "0.00000001", 150_000_000: "1.50000000", ^uint64(0): "184467440737.09551615"} {
		if got := FormatAmount(units); got != want {
			t.Errorf("FormatAmount(%d) = %s, want %s", units, got, want)
		}
	}
}

func TestParseAddress(t *testing.T) {
	p := chain.RegtestParams()
	k, _ := GenerateKey()
	a, err := ParseAddress(" "+k.Address.Encode(p)+" ", p)
	if err != nil || a != k.Address {
		t.Fatalf("parse: %v", err)
	}
	if _, err := ParseAddress(k.Address.Encode(chain.DevParams()), p); !errors.Is(err, ErrBadAddress) || !strings.Contains(err.Error(), "another network") {
		t.Fatalf("other network: %v", err)
	}
	if _, err := ParseAddress("qr1garbage", p); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("garbage: %v", err)
	}
}

func FuzzDecodeTxHex(f *testing.F) {
	p := chain.RegtestParams()
	k, _ := ParsePrivateKeyHex(strings.Repeat("11", 32))
	to, _ := ParsePrivateKeyHex(strings.Repeat("22", 32))
	tx, _ := BuildTransfer(p, k.Private, Payment{To: to.Address, Amount: 1, Fee: 1, Memo: []byte("memo")}, 0)
	f.Add(EncodeTxHex(tx))
	f.Add("")
	f.Add("00")
	f.Fuzz(func(t *testing.T, s string) {
		tx, err := DecodeTxHex(s)
		if err != nil {
			return
		}
		if again, err := DecodeTxHex(EncodeTxHex(tx)); err != nil || again.TxID() != tx.TxID() {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "1.5", ".00000001", "184467440737.09551615", "1e3", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseAmount(s)
		if err != nil {
			return
		}
		back, err := ParseAmount(FormatAmount(v))
		if err != nil || back != v {
			t.Fatalf("round trip %q -> %d -> %s -> %d, %v", s, v, FormatAmount(v), back, err)
		}
	})
}

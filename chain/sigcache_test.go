package chain

import (
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

func TestSigCache(t *testing.T) {
	p := RegtestParams()
	key, _ := secp256k1.GeneratePrivateKey()
	tx := &Tx{Kind: TxTransfer, ChainID: p.ChainID, To: Address{1}, Amount: 5, Fee: 1}
	tx.Sign(key)
	c := NewSigCache(2)
	for i := 0; i < 2; i++ {
		if err := c.Verify(tx); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 1 {
		t.Fatalf("len %d", c.Len())
	}
	// A tampered copy has another txid: it is verified, not served from the cache.
	bad := *tx
	bad.Sig[40] ^= 1
	if err := c.Verify(&bad); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrHighS) {
		t.Fatalf("tampered signature: %v", err)
	}
	if c.Len() != 1 {
		t.Fatal("a failed verification was cached")
	}
	// The bound holds.
	for i := 0; i < 5; i++ {
		x := *tx
		x.Nonce = uint64(i + 1)
		x.Sign(key)
		if err := c.Verify(&x); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 2 {
		t.Fatalf("len %d, want bound 2", c.Len())
	}
	var nilCache *SigCache
	if err := nilCache.Verify(tx); err != nil {
		t.Fatal(err)
	}
}

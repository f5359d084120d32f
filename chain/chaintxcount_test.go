package chain

import (
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain/memstore"
)

// TestChainTxCount checks BlockInfo.ChainTxCount (Core's nChainTx): the
// transactions from genesis up to and including a block, on the main chain
// and on a side branch, and again after the index is rebuilt from the store.
func TestChainTxCount(t *testing.T) {
	p := RegtestParams()
	now := time.Unix(genesisTime+100000, 0)
	store := memstore.New()
	c, err := New(Config{Params: p, Store: store, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := secp256k1.GeneratePrivateKey()
	addr := AddressFromPubKey(key.PubKey().SerializeCompressed())
	var other Address
	other[0] = 1
	tip := p.GenesisHash
	var hashes []Hash
	for i := 0; i < 3; i++ {
		var txs []*Tx
		if i == 2 {
			tx := &Tx{Kind: TxTransfer, ChainID: p.ChainID, Nonce: 0, To: other, Amount: Coin, Fee: 1000}
			tx.Sign(key)
			txs = append(txs, tx)
		}
		b := mineChild(t, c, tip, addr, 0, txs...)
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
		tip = b.Hash()
		hashes = append(hashes, tip)
	}
	side := mineChild(t, c, hashes[0], other, 0)
	if _, err := c.ProcessBlock(side); err != nil {
		t.Fatal(err)
	}
	want := map[Hash]uint64{p.GenesisHash: 1, hashes[0]: 2, hashes[1]: 3, hashes[2]: 5, side.Hash(): 3}
	check := func(c *Chain, when string) {
		t.Helper()
		for h, n := range want {
			info, ok := c.BlockInfo(h)
			if !ok || info.ChainTxCount != n {
				t.Errorf("%s: block at height %d: ChainTxCount %d, want %d", when, info.Height, info.ChainTxCount, n)
			}
		}
	}
	check(c, "running")
	c2, err := New(Config{Params: p, Store: store, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	check(c2, "reopened")
}

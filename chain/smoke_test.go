package chain

import (
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain/memstore"
)

// mineChild builds and solves a regtest block on parent with the given txs.
func mineChild(t testing.TB, c *Chain, parent Hash, to Address, ts uint32, txs ...*Tx) *Block {
	t.Helper()
	info, ok := c.BlockInfo(parent)
	if !ok {
		t.Fatalf("parent %s unknown", parent)
	}
	var fees uint64
	for _, tx := range txs {
		fees += tx.Fee
	}
	p := c.Params()
	cb := &Tx{Kind: TxCoinbase, ChainID: p.ChainID, Height: info.Height + 1, To: to, Amount: p.CalcSubsidy(info.Height+1) + fees}
	b := &Block{Txs: append([]*Tx{cb}, txs...)}
	bits, err := c.NextBits(parent)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := MerkleRoot(b.TxIDs())
	if ts == 0 {
		ts = info.Header.Timestamp + 1
	}
	b.Header = Header{Version: 1, PrevBlock: parent, MerkleRoot: root, Timestamp: ts, Bits: bits}
	for CheckProofOfWork(b.Header.BlockHash(), bits, p.PowLimit) != nil {
		b.Header.Nonce++
	}
	return b
}

func TestSmokeConnectAndReorg(t *testing.T) {
	p := RegtestParams()
	now := time.Unix(genesisTime+100000, 0)
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	c, err := New(Config{Params: p, Store: store, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	keyA, _ := secp256k1.GeneratePrivateKey()
	addrA := AddressFromPubKey(keyA.PubKey().SerializeCompressed())
	var addrB Address
	addrB[0] = 1
	sub := c.Subscribe(1000)
	tip := p.GenesisHash
	for i := 0; i < 5; i++ {
		b := mineChild(t, c, tip, addrA, 0)
		res, err := c.ProcessBlock(b)
		if err != nil || res.Status != StatusConnected {
			t.Fatalf("block %d: %v %v", i, res.Status, err)
		}
		tip = b.Hash()
	}
	if c.Height() != 5 || c.Account(addrA).Balance != 5*50*Coin {
		t.Fatalf("height %d balance %d", c.Height(), c.Account(addrA).Balance)
	}
	tx := &Tx{Kind: TxTransfer, ChainID: p.ChainID, Nonce: 0, To: addrB, Amount: 10 * Coin, Fee: 1000}
	tx.Sign(keyA)
	b6 := mineChild(t, c, tip, addrA, 0, tx)
	if _, err := c.ProcessBlock(b6); err != nil {
		t.Fatal(err)
	}
	if got := c.Account(addrB).Balance; got != 10*Coin {
		t.Fatalf("B balance %d", got)
	}
	digest6 := c.Best().StateDigest
	// A competing branch from height 4 of length 3 wins.
	h4, _ := c.HashAtHeight(4)
	side := h4
	var other Address
	other[0] = 9
	for i := 0; i < 3; i++ {
		b := mineChild(t, c, side, other, 0)
		if _, err := c.ProcessBlock(b); err != nil {
			t.Fatalf("side %d: %v", i, err)
		}
		side = b.Hash()
	}
	if c.Best().Hash != side || c.Height() != 7 {
		t.Fatalf("no reorg: height %d", c.Height())
	}
	if c.Account(addrB).Balance != 0 || c.Account(addrA).Balance != 4*50*Coin {
		t.Fatalf("state after reorg: A %d B %d", c.Account(addrA).Balance, c.Account(addrB).Balance)
	}
	var sawReorg bool
	for len(sub.Events()) > 0 {
		ev := <-sub.Events()
		if ev.Kind == EventReorg {
			sawReorg = true
			if ev.Reorg.Depth() != 2 || len(ev.Reorg.Added) != 3 {
				t.Fatalf("reorg %+v", ev.Reorg)
			}
		}
	}
	if !sawReorg {
		t.Fatal("no reorg event")
	}
	// Invalidate the side branch: back to the original one.
	if err := c.InvalidateBlock(side); err != nil {
		t.Fatal(err)
	}
	h5, _ := c.HashAtHeight(5)
	_ = h5
	if err := c.InvalidateBlock(mustHashAt(t, c, 5)); err != nil {
		t.Fatal(err)
	}
	if err := c.ReconsiderBlock(b6.Hash()); err != nil {
		t.Fatal(err)
	}
	if c.Best().Hash != b6.Hash() || c.Best().StateDigest != digest6 {
		t.Fatalf("after reconsider tip %s height %d", c.Best().Hash, c.Height())
	}
}

func mustHashAt(t *testing.T, c *Chain, h uint64) Hash {
	x, ok := c.HashAtHeight(h)
	if !ok {
		t.Fatal("no hash at", h)
	}
	return x
}

package mempool_test

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/mempool"
)

// pump feeds every event already published by the chain to the pool.
func pump(sub *chain.Subscription, pool *mempool.Pool) {
	for {
		select {
		case ev := <-sub.Events():
			pool.HandleEvent(ev)
		default:
			return
		}
	}
}

// TestRealChainPartitionDoubleSpend runs the pool against a real chain.Chain:
// the same sender nonce is spent to two recipients on two branches; after
// the heavier branch wins exactly its transaction is in the chain, the
// other is gone from the pool, an unrelated transaction of the losing branch
// returns to the pool, and a template from the pool is accepted by the chain.
func TestRealChainPartitionDoubleSpend(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	clock := chaintest.NewClock(chaintest.FarFuture(p))
	c := chaintest.NewChain(t, p, clock.Now)
	sub := c.Subscribe(256)
	defer sub.Close()
	pool := mempool.New(mempool.Config{Params: p, State: c, Now: clock.Now})

	// Common prefix: funds for Addr(0) and Addr(5).
	g.Next("c1", chaintest.GenesisName)
	g.Next("c2", "c1", chaintest.CoinbaseTo(g.Addr(5)))
	g.AcceptAll(t, c, "c1", "c2")
	pump(sub, pool)
	if pool.Tip().Hash != g.Hash("c2") {
		t.Fatalf("pool tip %s, want c2", pool.Tip().Hash)
	}

	toX := g.NewTransfer(0, g.Addr(1), 10*chain.Coin, 5000, 0)
	toY := g.NewTransfer(0, g.Addr(2), 20*chain.Coin, 5000, 0)
	unrelated := g.NewTransfer(5, g.Addr(3), chain.Coin, 3000, 0)
	for _, tx := range []*chain.Tx{toX, unrelated} {
		if _, err := pool.Add(tx); err != nil {
			t.Fatalf("add: %v", err)
		}
	}
	if _, err := pool.Add(toY); !errors.Is(err, mempool.ErrReplacementUnderpriced) {
		t.Fatalf("conflicting spend: %v", err)
	}

	// Our side mines the pool's template.
	txs := pool.SelectForBlock(p.MaxBlockSize - 1000)
	if len(txs) != 2 {
		t.Fatalf("template has %d txs", len(txs))
	}
	g.Next("a3", "c2", chaintest.Txs(txs...))
	g.Accept(t, c, "a3")
	pump(sub, pool)
	if pool.Count() != 0 {
		t.Fatalf("included txs still pending: %d", pool.Count())
	}

	// The other side spent the same nonce to Y and has more work.
	g.Next("b3", "c2", chaintest.Txs(toY))
	g.Next("b4", "b3")
	g.AcceptAll(t, c, "b3", "b4")
	pump(sub, pool)
	g.AssertTip(t, c, "b4")

	if _, _, _, err := c.Transaction(toY.TxID()); err != nil {
		t.Fatalf("winning spend not in chain: %v", err)
	}
	if _, _, _, err := c.Transaction(toX.TxID()); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("losing spend in chain: %v", err)
	}
	if pool.Has(toX.TxID()) || pool.Has(toY.TxID()) {
		t.Fatalf("pool holds a contested spend: x=%v y=%v", pool.Has(toX.TxID()), pool.Has(toY.TxID()))
	}
	if !pool.Has(unrelated.TxID()) {
		t.Fatal("unrelated tx of the losing branch not back in the pool")
	}
	if c.Account(g.Addr(1)).Balance != 0 || c.Account(g.Addr(2)).Balance != 20*chain.Coin {
		t.Fatal("balances do not reflect the winning branch")
	}
	if _, err := pool.Add(toX); !errors.Is(err, mempool.ErrNonceTooLow) {
		t.Fatalf("re-submitted losing spend: %v", err)
	}
	if pool.Tip().Hash != g.Hash("b4") {
		t.Fatal("pool tip not updated")
	}

	// A template from the pool is valid on the new tip.
	txs = pool.SelectForBlock(p.MaxBlockSize - 1000)
	if len(txs) != 1 || txs[0].TxID() != unrelated.TxID() {
		t.Fatalf("template %v", txs)
	}
	g.Next("b5", "b4", chaintest.Txs(txs...))
	g.Accept(t, c, "b5")
	pump(sub, pool)
	if pool.Count() != 0 {
		t.Fatalf("pending after b5: %d", pool.Count())
	}
	if info := pool.Sender(g.Addr(5)); info.PendingNonce != 1 || info.Confirmed.Nonce != 1 {
		t.Fatalf("sender info %+v", info)
	}
}

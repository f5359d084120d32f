package chaintest_test

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

func TestGeneratorBasics(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	g2 := chaintest.NewGenerator(t, p)
	if g.Addr(3) != g2.Addr(3) || g.Addr(3) == g.Addr(4) {
		t.Fatal("keys are not deterministic and distinct")
	}
	if chaintest.NewGeneratorWithSeed(t, p, "other").Addr(3) == g.Addr(3) {
		t.Fatal("seed ignored")
	}
	b1 := g.Next("b1", chaintest.GenesisName)
	if err := chain.CheckBlockSanity(b1, p); err != nil {
		t.Fatal(err)
	}
	if cb := b1.Txs[0]; cb.Height != 1 || cb.Amount != p.CalcSubsidy(1) || cb.To != g.Addr(0) {
		t.Fatalf("coinbase %+v", cb)
	}
	t1 := g.Transfer("b1", 0, 1, 100, 7)
	t2 := g.Transfer("b1", 0, 2, 100, 7)
	t3 := g.Transfer("b1", 5, 2, 1, 0) // unfunded sender: nonce 0 too
	if t1.Nonce != 0 || t2.Nonce != 1 || t3.Nonce != 0 || len(g.Queued("b1")) != 3 {
		t.Fatalf("nonces %d %d %d", t1.Nonce, t2.Nonce, t3.Nonce)
	}
	b2 := g.Next("b2", "b1")
	if len(b2.Txs) != 4 || b2.Txs[0].Amount != p.CalcSubsidy(2)+14 || len(g.Queued("b1")) != 0 {
		t.Fatalf("block 2: %d txs, coinbase %d", len(b2.Txs), b2.Txs[0].Amount)
	}
	// t3 would fail (no funds): the expected state skips it.
	if a := g.Account("b2", 0); a.Nonce != 2 || a.Balance != 2*p.CalcSubsidy(1)+14-214 {
		t.Fatalf("sender state %+v", a)
	}
	if g.Account("b2", 1).Balance != 100 || g.Account("b2", 5) != (chain.Account{}) || g.Account("b2", 2).Balance != 100 {
		t.Fatalf("recipients %+v %+v", g.Account("b2", 1), g.Account("b2", 2))
	}
	if g.Transfer("b2", 0, 1, 1, 0).Nonce != 2 {
		t.Fatal("nonce after b2")
	}
	// Siblings built with the same options differ; Clone keeps the hash.
	s := g.Next("s", "b1", chaintest.NoQueued())
	if s.Hash() == b2.Hash() || g.Clone("s2", "s", nil).Hash() != s.Hash() {
		t.Fatal("sibling/clone hashes")
	}
	if bad := g.Next("hi", "b1", chaintest.HighHash(), chaintest.NoQueued()); chain.CheckProofOfWork(bad.Hash(), bad.Header.Bits, p.PowLimit) == nil {
		t.Fatal("HighHash solved the block")
	}
	if got := g.Path("b2"); len(got) != 2 || got[0] != "b1" || got[1] != "b2" || g.Parent("b2") != "b1" {
		t.Fatalf("path %v", got)
	}
	if names := chaintest.Names("x", 1, 3); len(names) != 3 || names[2] != "x3" {
		t.Fatalf("names %v", names)
	}
	// The chain rejects b2 (t3 is unfunded); its sibling s is fine.
	c := chaintest.NewChain(t, p, nil)
	g.Accept(t, c, "b1")
	g.Reject(t, c, "b2", chain.ErrInsufficientBal)
	g.AcceptTip(t, c, "s")
	g.Reject(t, c, "hi", chain.ErrHighHash)
}

func TestClock(t *testing.T) {
	p := chain.RegtestParams()
	far := chaintest.FarFuture(p)
	if !far.After(p.GenesisBlock.Header.Time()) || far.Unix() > 1<<32-1 {
		t.Fatal("FarFuture out of range")
	}
	c := chaintest.NewClock(far)
	c.Advance(1500)
	if got := c.Now().Sub(far); got != 1500 {
		t.Fatalf("advanced %v", got)
	}
}

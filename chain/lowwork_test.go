package chain_test

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// TestUnrequestedLowWorkBlocksAreNotStored: a gossiped (unrequested) block
// is stored only if its branch has at least the tip's work; the same block
// is accepted when it was requested (sync), and an equal-work competing tip
// is still stored.
func TestUnrequestedLowWorkBlocksAreNotStored(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	c := chaintest.NewChain(t, p, nil)
	g.Chain("a", "genesis", 3) // a1..a3
	g.AcceptAll(t, c, "a1", "a2", "a3")
	g.Next("s2", "a1") // a side branch one block lighter than the tip
	_, err := c.ProcessUnrequestedBlock(g.Block("s2"))
	if !errors.Is(err, chain.ErrLowWork) {
		t.Fatalf("lighter unrequested block: %v, want ErrLowWork", err)
	}
	if c.HaveBlock(g.Hash("s2")) || c.IsKnownInvalid(g.Hash("s2")) {
		t.Fatal("a refused low-work block was stored or marked")
	}
	// Equal work: a competing tip is stored (first seen stays active).
	g.Next("s3", "a2")
	if res, err := c.ProcessUnrequestedBlock(g.Block("s3")); err != nil || res.Status != chain.StatusSideChain {
		t.Fatalf("equal-work unrequested block: %v %v", res.Status, err)
	}
	// Requested (sync) blocks of the lighter branch are stored, and the
	// heavier continuation connects.
	g.AcceptAll(t, c, "s2")
	g.Next("s3b", "s2")
	g.Next("s4b", "s3b")
	if _, err := c.ProcessUnrequestedBlock(g.Block("s3b")); err != nil {
		t.Fatalf("equal-work continuation: %v", err)
	}
	if res, err := c.ProcessUnrequestedBlock(g.Block("s4b")); err != nil || res.Status != chain.StatusConnected {
		t.Fatalf("heavier unrequested block: %v %v", res.Status, err)
	}
	g.AssertTip(t, c, "s4b")
}

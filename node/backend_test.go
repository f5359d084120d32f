package node

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// TestBackendHeadersOnly: getchaintips reports a headers-only branch with
// Bitcoin Core's status string, and the block RPCs treat a headers-only
// entry as not found until its block is downloaded.
func TestBackendHeadersOnly(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	c := chaintest.NewChain(t, p, nil)
	blocks := g.Chain("b", chaintest.GenesisName, 3)
	g.AcceptAll(t, c, "b1")
	if err := c.ProcessHeaders([]chain.Header{blocks[1].Header, blocks[2].Header}); err != nil {
		t.Fatal(err)
	}
	b := &backend{c: c}
	tips := b.ChainTips()
	if len(tips) != 2 || tips[0].Status != "active" || tips[1].Status != "headers-only" ||
		tips[1].Hash != blocks[2].Hash() || tips[1].BranchLen != 2 {
		t.Fatalf("chain tips %+v", tips)
	}
	if _, ok := b.BlockMeta(blocks[2].Hash()); ok {
		t.Fatal("BlockMeta found a headers-only entry")
	}
	if _, ok := b.BlockMeta(blocks[0].Hash()); !ok {
		t.Fatal("BlockMeta missed a stored block")
	}
}

package p2p

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// TestGossipBlocksAndTxs: five nodes on loopback; blocks mined on any node
// and a transaction reach every node by gossip alone (status polling is
// slowed down to an hour so that it cannot be what delivers them).
func TestGossipBlocksAndTxs(t *testing.T) {
	nodes := startNetwork(t, 5, withStatusInterval(time.Hour))
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	parent := chaintest.GenesisName
	for i, name := range []string{"b1", "b2", "b3", "b4", "b5"} {
		b := mine(t, g, nodes[i%len(nodes)], name, parent)
		waitTip(t, 10*time.Second, b.Hash(), nodes...)
		parent = name
	}
	for _, tn := range nodes {
		if got := tn.n.m.syncs; got == nil {
			t.Fatal("metrics missing")
		}
	}

	tx := g.NewTransfer(1, g.Addr(2), 5*chain.Coin, 1000, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := nodes[3].n.PublishTx(ctx, tx); err != nil {
		t.Fatalf("PublishTx: %v", err)
	}
	testkit.WaitFor(t, 10*time.Second, "tx in every other pool", func() bool {
		for i, tn := range nodes {
			if i != 3 && !tn.pool.has(tx.TxID()) {
				return false
			}
		}
		return true
	})
	for _, tn := range nodes {
		if len(tn.n.ListBans()) != 0 {
			t.Fatalf("%s banned an honest peer: %v", tn.name, tn.n.ListBans())
		}
	}
}

// TestLateJoinerSyncs: a node that starts after 500 blocks were mined syncs
// them all and ends on the same tip and state.
func TestLateJoinerSyncs(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	src := chaintest.NewChain(t, p, nil)
	blocks := g.Chain("b", chaintest.GenesisName, 500)
	for _, b := range blocks {
		if _, err := src.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	a := startNode(t, "src", src)
	late := startNode(t, "late", nil, withBootnodes(a))
	waitTip(t, 30*time.Second, blocks[len(blocks)-1].Hash(), late)
	if got, want := late.c.Best().StateDigest, src.Best().StateDigest; got != want {
		t.Fatalf("state digest %s, want %s", got, want)
	}
	if got := late.c.Best().Height; got != 500 {
		t.Fatalf("height %d", got)
	}
}

// TestShutdownNoLeaks: after a small network has exchanged blocks and
// stopped, no goroutine of it is left (Run returns only after everything
// it started has exited).
func TestShutdownNoLeaks(t *testing.T) {
	before := goleak.IgnoreCurrent() // goroutines of earlier tests still winding down
	nodes := startNetwork(t, 3)
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	b := mine(t, g, nodes[0], "b1", chaintest.GenesisName)
	waitTip(t, 10*time.Second, b.Hash(), nodes...)
	for _, tn := range nodes {
		tn.stop(t)
	}
	// The chains' stores stay open until the test's cleanup; only the
	// networking must be gone.
	goleak.VerifyNone(t, append(leakOptions(), before,
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).compactionError"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mCompaction"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).tCompaction"),
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*session).refLoop"),
	)...)
}

// TestOrphanTriggersFetch: a gossiped block whose parent is unknown makes
// the receiver fetch the missing ancestors from the relaying peer (status
// polling is slowed to an hour, so nothing else can repair the gap).
func TestOrphanTriggersFetch(t *testing.T) {
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	a := startNode(t, "a", nil, withStatusInterval(time.Hour))
	b := startNode(t, "b", nil, withBootnodes(a), withStatusInterval(time.Hour))
	waitMesh(t, []*testNode{a, b}, 1)
	testkit.WaitFor(t, 10*time.Second, "initial status", func() bool {
		ps := b.n.Peers()
		return len(ps) == 1 && ps[0].HasStatus
	})
	// Blocks 1-3 are connected on a but never gossiped; block 4 is.
	for _, blk := range g.Chain("o", chaintest.GenesisName, 3) {
		if _, err := a.c.ProcessBlock(blk); err != nil {
			t.Fatal(err)
		}
	}
	tip := mine(t, g, a, "o4", "o3")
	waitTip(t, 10*time.Second, tip.Hash(), b)
	// The count follows the chain's verdicts back to the sync loop, just
	// after the tip moved.
	testkit.WaitFor(t, 10*time.Second, "the sync to count its blocks", func() bool {
		return counterValue(t, b.n.m.blocksFetched) >= 4
	})
	if got := counterValue(t, b.n.m.blocksFetched); got != 4 {
		t.Fatalf("fetched %v blocks by sync, want 4", got)
	}
}

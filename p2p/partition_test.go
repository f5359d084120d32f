package p2p

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// TestPartitionHeal splits five nodes 2|3, lets each side mine its own
// branch (different lengths, a random node of the side mining each block),
// heals, and checks that every node converges on the branch with the most
// work, that the losing side reorganised (EventReorg), and that all states
// agree. Several seeds choose the lengths and the miners.
func TestPartitionHeal(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) { testPartitionHeal(t, seed) })
	}
}

func testPartitionHeal(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x9a17))
	nodes := startNetwork(t, 5)
	g := chaintest.NewGenerator(t, chain.RegtestParams())

	// A common prefix everyone has.
	parent := chaintest.GenesisName
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("c%d", i)
		b := mine(t, g, nodes[rng.IntN(len(nodes))], name, parent)
		waitTip(t, 10*time.Second, b.Hash(), nodes...)
		parent = name
	}
	fork := parent

	sideA, sideB := nodes[:2], nodes[2:]
	for _, tn := range sideA {
		tn.n.Partition(ids(sideB...))
	}
	for _, tn := range sideB {
		tn.n.Partition(ids(sideA...))
	}
	testkit.WaitFor(t, 10*time.Second, "partition", func() bool {
		for _, tn := range sideA {
			if tn.n.ConnectionCount() != len(sideA)-1 {
				return false
			}
		}
		for _, tn := range sideB {
			if tn.n.ConnectionCount() != len(sideB)-1 {
				return false
			}
		}
		return true
	})

	// Different lengths; which side wins depends on the seed.
	lenA := 1 + rng.IntN(4)
	lenB := lenA + 1 + rng.IntN(3)
	if rng.IntN(2) == 0 {
		lenA, lenB = lenB, lenA
	}
	tipA := mineBranch(t, g, rng, sideA, "a", fork, lenA)
	tipB := mineBranch(t, g, rng, sideB, "b", fork, lenB)
	winner, losers := tipB, sideA
	if lenA > lenB {
		winner, losers = tipA, sideB
	}

	subs := make([]*chain.Subscription, len(losers))
	for i, tn := range losers {
		subs[i] = tn.c.Subscribe(256)
		defer subs[i].Close()
	}
	for _, tn := range nodes {
		tn.n.Heal()
	}
	waitTip(t, 20*time.Second, winner, nodes...)
	want := nodes[0].c.Best().StateDigest
	for _, tn := range nodes {
		if got := tn.c.Best().StateDigest; got != want {
			t.Fatalf("%s: state digest %s, want %s", tn.name, got, want)
		}
	}
	for i, tn := range losers {
		if !sawReorg(subs[i], g.Hash(fork)) {
			t.Fatalf("%s: no reorg event with fork point %s", tn.name, fork)
		}
	}
	for _, tn := range nodes {
		if len(tn.n.ListBans()) != 0 {
			t.Fatalf("%s banned an honest peer", tn.name)
		}
	}
}

// mineBranch mines n blocks on side, each on a random node of the side
// once it has the previous block, and returns the branch tip.
func mineBranch(t *testing.T, g *chaintest.Generator, rng *rand.Rand, side []*testNode, prefix, parent string, n int) chain.Hash {
	t.Helper()
	var tip chain.Hash
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		miner := side[rng.IntN(len(side))]
		b := mine(t, g, miner, name, parent, chaintest.ExtraNonce(uint64(len(prefix)+int(prefix[0]))))
		tip = b.Hash()
		waitTip(t, 10*time.Second, tip, side...)
		parent = name
	}
	return tip
}

// sawReorg drains the buffered events and reports whether a reorg from
// forkPoint was among them.
func sawReorg(sub *chain.Subscription, forkPoint chain.Hash) bool {
	for {
		select {
		case ev := <-sub.Events():
			if ev.Kind == chain.EventReorg && ev.Reorg != nil && ev.Reorg.ForkPoint == forkPoint {
				return true
			}
		default:
			return false
		}
	}
}

package node

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
)

// generate mines k blocks on n with generatetoaddress, ignoring its error
// (an equivocator's held block never becomes the tip, which the call
// reports).
func generate(t *testing.T, n *Node, k int) {
	t.Helper()
	ctx := testkit.Context(t, 30*time.Second)
	var addr string
	rpcMust(ctx, t, n, "getnewaddress", &addr)
	for range k {
		_ = rpcCall(ctx, t, n, "generatetoaddress", new([]chain.Hash), 1, addr)
	}
}

// TestEquivocatorSplitsItsPeers: the equivocator is the only link between
// two honest nodes; it sends twin A to one and twin B to the other, so
// each honest node's tip is a different twin (and neither hears of the
// other's, as the twins have equal work), as getadversaryinfo says; the
// next honest block settles the fork everywhere.
func TestEquivocatorSplitsItsPeers(t *testing.T) {
	h1, h2, e := startMode(t, ""), startMode(t, ""), startMode(t, "equivocate")
	connect(t, e, h1)
	connect(t, e, h2)
	base := mineOne(t, h1)
	waitTip(t, base.Hash(), h1, h2, e)
	height := h1.Chain().Best().Height + 1

	generate(t, e, 2)
	info := adversaryInfo(t, e)
	if info.Twins != 1 || len(info.TwinSends) != 2 {
		t.Fatalf("after one equivocation: twins %d, sends %+v", info.Twins, info.TwinSends)
	}
	sentTo := map[string]string{} // peer -> twin
	which := map[string]string{}  // twin -> A or B
	for _, s := range info.TwinSends {
		if s.Error != "" || s.Height != height {
			t.Fatalf("send %+v", s)
		}
		sentTo[s.Peer], which[s.Twin] = s.Twin, s.Which
	}
	if len(which) != 2 {
		t.Fatalf("both peers were sent the same twin: %+v", info.TwinSends)
	}
	for _, n := range []*Node{h1, h2} {
		want := sentTo[n.net.ID().String()]
		if want == "" {
			t.Fatalf("no twin sent to %s: %+v", n.net.ID(), info.TwinSends)
		}
		testkit.WaitFor(t, 30*time.Second, "the pushed twin is the tip", func() bool {
			return n.Chain().Best().Hash.String() == want
		})
	}
	if h1.Chain().Best().Hash == h2.Chain().Best().Hash {
		t.Fatal("both honest nodes are on the same twin")
	}
	// Equal work: neither honest node switches to, or even fetches, the
	// other's twin.
	if h1.Chain().HaveBlock(h2.Chain().Best().Hash) || h2.Chain().HaveBlock(h1.Chain().Best().Hash) {
		t.Fatal("an honest node has the other twin: it was not sent to one peer only")
	}
	if !strings.Contains(strings.Join(info.Recent, "\n"), "twin A") {
		t.Errorf("recent actions do not say who got which twin: %q", info.Recent)
	}

	next := mineOne(t, h1)
	waitTip(t, next.Hash(), h1, h2, e)
}

// TestJunkKindsGetTheSenderBanned: each kind of junk (an invalid block and
// garbage on gossip, a garbage and an oversized frame pushed on the
// block-push protocol) gets its sender banned by both honest peers with
// the matching reason; the honest nodes keep working together. Each kind
// has a junk node of its own: gossip would replay a banned node's earlier
// junk to its peers if it reconnected.
func TestJunkKindsGetTheSenderBanned(t *testing.T) {
	h1, h2 := startMode(t, ""), startMode(t, "")
	connect(t, h1, h2)
	first := mineOne(t, h1)

	reasons := [junkKinds]string{"invalid_block", "malformed", "malformed", "oversized"}
	for kind := range junkKinds {
		cfg := testConfig(t)
		cfg.Adversary = "junk"
		j, _ := startNode(t, cfg, withJunkEvery(time.Hour)) // the test sends the junk itself
		connect(t, j, h1)
		connect(t, j, h2)
		waitTip(t, first.Hash(), h1, h2, j)
		if kind == junkGossipGarbage || kind == junkInvalidBlock {
			waitGossipPeers(t, j, h1.net.ID(), h2.net.ID())
		}
		j.adv.sendJunk(testkit.Context(t, 30*time.Second), kind)
		testkit.WaitFor(t, 30*time.Second, "the junk sender banned by both honest nodes for "+junkNames[kind], func() bool {
			return h1.net.IsBanned(j.net.ID()) && h2.net.IsBanned(j.net.ID())
		})
		for _, h := range []*Node{h1, h2} {
			for _, b := range h.net.ListBans() {
				if b.ID == j.net.ID() && !strings.HasPrefix(b.Reason, reasons[kind]) {
					t.Errorf("%s: ban reason %q, want %s", junkNames[kind], b.Reason, reasons[kind])
				}
			}
		}
		if got := adversaryInfo(t, j).JunkKinds; len(got) != 1 || got[junkNames[kind]] != 1 {
			t.Errorf("junk kinds %v, want one %s", got, junkNames[kind])
		}
	}
	hb := mineOne(t, h2)
	waitTip(t, hb.Hash(), h1, h2)
}

// waitGossipPeers waits until n's block topic has the given peers, so
// that what it publishes reaches them.
func waitGossipPeers(t *testing.T, n *Node, want ...peer.ID) {
	t.Helper()
	testkit.WaitFor(t, 30*time.Second, "gossip peers", func() bool {
		have := n.net.BlockTopicPeers()
		for _, p := range want {
			if !slices.Contains(have, p) {
				return false
			}
		}
		return true
	})
}

// TestStallPeerIsDroppedWhileSyncing: a node that is behind syncs from a
// stall-mode peer (it serves headers, never blocks) and an honest one; it
// completes its sync from the honest peer and penalises and drops the
// staller once its stall timeout (2 s at first) passes. The staller is
// connected first, so its headers make the best header as heavy as the
// honest peer's claim before that peer is known: the honest peer must
// still be asked for headers to become a source of the blocks.
func TestStallPeerIsDroppedWhileSyncing(t *testing.T) {
	src, s := startMode(t, ""), startMode(t, "stall")
	connect(t, src, s)
	var tip chain.Hash
	for range 5 {
		tip = mineOne(t, src).Hash()
	}
	waitTip(t, tip, src, s)

	late := startMode(t, "")
	connect(t, late, s) // the staller first: it claims the same chain
	connect(t, late, src)
	stalled := func() bool {
		if late.net.IsBanned(s.net.ID()) {
			return true
		}
		for _, p := range late.net.Peers() {
			if p.ID == s.net.ID() {
				return p.BanScore > 0
			}
		}
		return true // dropped
	}
	defer func() {
		if t.Failed() {
			t.Logf("late at height %d, source at %d; late's peers %+v", late.Chain().Best().Height, src.Chain().Best().Height, late.net.Peers())
		}
	}()
	testkit.WaitFor(t, 30*time.Second, "caught up and the staller penalised or dropped", func() bool {
		return late.Chain().Best().Hash == tip && stalled()
	})
	if adversaryInfo(t, s).Stalls == 0 {
		t.Fatal("the staller held no request: the test did not exercise it")
	}
}

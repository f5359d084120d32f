package node

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/rpc/client"
)

// losingPublisher loses the first publication of every transaction, as a
// gossip mesh that is still forming does, and passes the later ones on.
//
// The loss is simulated rather than produced by a partition: a
// publication that reaches gossipsub puts the message ID into its seen
// caches for two to three minutes of real time, and the test's clock is
// fake, so a republication a few real seconds later would be suppressed by
// the publishing node itself. A lost first publication with those minutes
// gone by is what the rebroadcaster meets in a real network.
type losingPublisher struct {
	next txPublisher

	mu   sync.Mutex
	seen map[chain.Hash]bool
	lost int
}

func (p *losingPublisher) PublishTx(ctx context.Context, tx *chain.Tx) error {
	p.mu.Lock()
	first := !p.seen[tx.TxID()]
	p.seen[tx.TxID()] = true
	if first {
		p.lost++
	}
	p.mu.Unlock()
	if first {
		return nil
	}
	return p.next.PublishTx(ctx, tx)
}

func (p *losingPublisher) lostCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}

// rebroadcastNode starts a node whose rebroadcaster runs on clock and
// starts a round when the test sends on the returned channel, and whose
// first publication of each transaction is lost.
func rebroadcastNode(t *testing.T, clock *chaintest.Clock, off bool) (*Node, chan<- time.Time, *losingPublisher) {
	t.Helper()
	cfg := testConfig(t)
	cfg.NoRebroadcast = off
	tick := make(chan time.Time)
	lp := &losingPublisher{seen: map[chain.Hash]bool{}}
	n, _ := startNode(t, cfg, func(n *Node, _ *startSettings) {
		n.cfg.rebroadcastNow, n.cfg.rebroadcastTick = clock.Now, tick
		n.cfg.wrapTxPublisher = func(p txPublisher) txPublisher { lp.next = p; return lp }
	})
	return n, tick, lp
}

// rebroadcastPair starts a rebroadcastNode (off: with NoRebroadcast) on a
// fake clock and a plain node, connected, with each other as gossip peers.
func rebroadcastPair(t *testing.T, off bool) (clock *chaintest.Clock, a, b *Node, tick chan<- time.Time, lp *losingPublisher) {
	t.Helper()
	clock = chaintest.NewClock(time.Now())
	a, tick, lp = rebroadcastNode(t, clock, off)
	b, _ = startNode(t, testConfig(t))
	connect(t, a, b)
	waitGossipPeers(t, a, b.net.ID())
	return clock, a, b, tick, lp
}

// TestRebroadcastDeliversALostTransaction: a wallet payment and a
// sendrawtransaction submission whose gossip messages are lost reach the
// peer's mempool when the rebroadcaster's first slot comes; once a block
// confirms them, the node stops tracking them.
func TestRebroadcastDeliversALostTransaction(t *testing.T) {
	clock, a, b, tick, lp := rebroadcastPair(t, false)
	key, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t, 30*time.Second)
	params, _ := client.Params(1, wallet.AddressOf(key).Encode(a.Chain().Params()))
	if err := rpcClient(t, a).Call(ctx, "generatetoaddress", params, new([]chain.Hash)); err != nil {
		t.Fatal(err)
	}
	funds := mineOne(t, a)
	waitTip(t, funds.Hash(), a, b) // b can validate a's transactions

	ids := []chain.Hash{pay(t, a, b)}
	raw, err := wallet.BuildTransfer(a.Chain().Params(), key, wallet.Payment{To: chain.Address{7}, Amount: chain.Coin, Fee: 1000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	params, _ = client.Params(wallet.EncodeTxHex(raw))
	var rawID chain.Hash
	if err := rpcClient(t, a).Call(ctx, "sendrawtransaction", params, &rawID); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, rawID)
	if lp.lostCount() != 2 {
		t.Fatalf("%d publications lost, want the first of each transaction", lp.lostCount())
	}
	for _, id := range ids {
		if b.pool.Has(id) {
			t.Fatalf("the peer has %s, whose publication was lost", id)
		}
	}
	if v := metricValue(t, a, "quarry_node_rebroadcast_tracked_transactions"); v != 2 {
		t.Fatalf("tracking %v transactions, want 2", v)
	}
	if v := metricValue(t, a, "quarry_node_tx_rebroadcasts_total"); v != 0 {
		t.Fatalf("rebroadcasts before the first slot: %v", v)
	}

	// The latest the first slot can fall (the jitter adds under a quarter).
	clock.Advance(rebroadcastFirst * 5 / 4)
	sendTick(t, tick, clock.Now())
	testkit.WaitFor(t, 30*time.Second, "both rebroadcast transactions in the peer's mempool", func() bool { return b.pool.Has(ids[0]) && b.pool.Has(ids[1]) })
	if v := metricValue(t, a, "quarry_node_tx_rebroadcasts_total"); v != 2 {
		t.Fatalf("rebroadcasts counted %v, want 2", v)
	}

	blk := mineOne(t, b)
	if ids2 := blk.TxIDs(); !slices.Contains(ids2, ids[0]) || !slices.Contains(ids2, ids[1]) {
		t.Fatal("the peer's block does not confirm both transactions")
	}
	waitTip(t, blk.Hash(), a, b)
	testkit.WaitFor(t, 30*time.Second, "the confirmed transactions no longer tracked", func() bool {
		return metricValue(t, a, "quarry_node_rebroadcast_tracked_transactions") == 0
	})
}

// TestNoRebroadcastLeavesALostTransactionLost is the control: with
// --no-rebroadcast the lost payment never reaches the peer, so the test
// above depends on the rebroadcaster. Absence is checked after a
// synchronisation point: a second payment of the same sender, published
// again by hand, arrives (queued behind the missing nonce), and the first
// is still missing.
func TestNoRebroadcastLeavesALostTransactionLost(t *testing.T) {
	clock, a, b, tick, lp := rebroadcastPair(t, true)
	funds := mineOne(t, a)
	waitTip(t, funds.Hash(), a, b)

	lost := pay(t, a, b)
	// The second payment's first publication is lost as well; the test
	// publishes it a second time itself.
	second := pay(t, a, b)
	tx, ok := a.pool.Get(second)
	if !ok {
		t.Fatal("second payment not in the sender's mempool")
	}
	if err := lp.PublishTx(testkit.Context(t, 30*time.Second), tx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the second payment in the peer's mempool", func() bool { return b.pool.Has(second) })
	// The first slot has come: no rebroadcaster may take a round.
	clock.Advance(rebroadcastFirst * 5 / 4)
	select {
	case tick <- clock.Now():
		t.Fatal("a rebroadcaster runs with NoRebroadcast")
	case <-time.After(time.Second):
	}
	if b.pool.Has(lost) {
		t.Fatal("the lost payment reached the peer without a rebroadcaster")
	}
}

func sendTick(t *testing.T, tick chan<- time.Time, now time.Time) {
	t.Helper()
	select {
	case tick <- now:
	case <-time.After(30 * time.Second):
		t.Fatal("the rebroadcaster did not take the tick")
	}
}

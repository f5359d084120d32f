package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// TestOwnGossipIsNotCountedAsReceived: a node's own published block and
// transaction pass its validator (pubsub validates local messages too), but
// only the peer that gets them counts them as received.
func TestOwnGossipIsNotCountedAsReceived(t *testing.T) {
	nodes := startNetwork(t, 2)
	a, b := nodes[0], nodes[1]
	waitMesh(t, nodes, 1)
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	blk := mine(t, g, a, "b1", "genesis")
	waitTip(t, 20*time.Second, blk.Hash(), b)
	tx := g.Transfer("b1", 1, 2, chain.Coin, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.n.PublishTx(ctx, tx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "tx at b", func() bool { return b.pool.has(tx.TxID()) })

	count := func(tn *testNode, topic, result string) float64 {
		return testutil.ToFloat64(tn.n.m.gossipReceived.WithLabelValues(topic, result))
	}
	for _, topic := range []string{topicBlocks, topicTxs} {
		for _, r := range []string{resultAccept, resultIgnore, resultReject} {
			if got := count(a, topic, r); got != 0 {
				t.Errorf("publisher counted %v own %s messages as received (%s)", got, topic, r)
			}
		}
		if got := testutil.ToFloat64(a.n.m.gossipPublished.WithLabelValues(topic, resultOK)); got != 1 {
			t.Errorf("publisher: %v %s messages published, want 1", got, topic)
		}
	}
	if got := count(b, topicTxs, resultAccept); got != 1 {
		t.Errorf("receiver: %v transactions accepted from gossip, want 1", got)
	}
}

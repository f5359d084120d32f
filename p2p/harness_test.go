package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.uber.org/goleak"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOptions()...)
}

// leakOptions ignores process-wide goroutines that libraries start once and
// never stop (they are not per node).
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).runActive"),
		// goleveldb's memory-pool drainer lingers up to 1s after DB.Close.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	}
}

// testLogger logs to the test when QUARRY_P2P_LOG is set, else discards.
func testLogger(tb testing.TB, name string) *slog.Logger {
	if os.Getenv("QUARRY_P2P_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(b []byte) (int, error) {
	w.tb.Log(string(b[:len(b)-1]))
	return len(b), nil
}

// fakePool is a tiny in-test mempool: it keeps what it is given and reports
// duplicates with ErrTxKnown.
type fakePool struct {
	mu  sync.Mutex
	txs map[chain.Hash]*chain.Tx
}

func newFakePool() *fakePool { return &fakePool{txs: make(map[chain.Hash]*chain.Tx)} }

func (p *fakePool) AcceptTx(tx *chain.Tx) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := tx.TxID()
	if _, ok := p.txs[id]; ok {
		return fmt.Errorf("%w: %s", ErrTxKnown, id)
	}
	p.txs[id] = tx
	return nil
}

func (p *fakePool) has(id chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txs[id]
	return ok
}

// testNode is one node of an in-process network.
type testNode struct {
	name   string
	c      *chain.Chain
	pool   *fakePool
	n      *Node
	cancel context.CancelFunc
	done   chan error
}

// nodeOpts tweak a test node's Config.
type nodeOpt func(*Config)

func withBootnodes(nodes ...*testNode) nodeOpt {
	return func(c *Config) {
		for _, n := range nodes {
			c.Bootnodes = append(c.Bootnodes, n.n.Addrs()[0].String())
		}
	}
}

func withStatusInterval(d time.Duration) nodeOpt {
	return func(c *Config) { c.StatusInterval = d }
}

// startNode runs a node on a fresh regtest chain (or the given one) on
// loopback and waits until it listens. It stops when the test ends.
func startNode(tb testing.TB, name string, c *chain.Chain, opts ...nodeOpt) *testNode {
	tb.Helper()
	if c == nil {
		c = chaintest.NewChain(tb, chain.RegtestParams(), nil)
	}
	return startNodeOn(tb, name, c, c, opts...)
}

// startNodeOn is startNode with engine (a wrapper of c) as Config.Chain.
func startNodeOn(tb testing.TB, name string, c *chain.Chain, engine Chain, opts ...nodeOpt) *testNode {
	tb.Helper()
	tn := &testNode{name: name, c: c, pool: newFakePool(), done: make(chan error, 1)}
	cfg := Config{
		Chain:          engine,
		Mempool:        tn.pool,
		ListenAddr:     "127.0.0.1:0",
		StatusInterval: 250 * time.Millisecond,
		RequestTimeout: 5 * time.Second,
		RedialMin:      50 * time.Millisecond,
		RedialMax:      time.Second,
		Logger:         testLogger(tb, name),
	}
	for _, o := range opts {
		o(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		tb.Fatalf("%s: New: %v", name, err)
	}
	tn.n = n
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-tn.done:
		tb.Fatalf("%s: Run returned early: %v", name, err)
	case <-time.After(20 * time.Second):
		tb.Fatalf("%s: not ready after 20s", name)
	}
	tb.Cleanup(func() { tn.stop(tb) })
	return tn
}

// stop cancels the node and waits for Run to return (idempotent).
func (tn *testNode) stop(tb testing.TB) {
	tb.Helper()
	if tn.cancel == nil {
		return
	}
	tn.cancel()
	tn.cancel = nil
	select {
	case err := <-tn.done:
		if err != nil {
			tb.Errorf("%s: Run: %v", tn.name, err)
		}
	case <-time.After(20 * time.Second):
		tb.Errorf("%s: Run did not return 20s after cancel", tn.name)
	}
}

// startNetwork starts k nodes, each bootnoding to every earlier one (a full
// mesh), and waits until every node sees every other on both topics.
func startNetwork(tb testing.TB, k int, opts ...nodeOpt) []*testNode {
	tb.Helper()
	nodes := make([]*testNode, 0, k)
	for i := range k {
		o := append([]nodeOpt{withBootnodes(nodes...)}, opts...)
		nodes = append(nodes, startNode(tb, fmt.Sprintf("n%d", i), nil, o...))
	}
	waitMesh(tb, nodes, k-1)
	return nodes
}

// waitMesh waits until every node is connected to want peers and knows
// them as subscribers of both topics.
func waitMesh(tb testing.TB, nodes []*testNode, want int) {
	tb.Helper()
	testkit.WaitFor(tb, 20*time.Second, "full connectivity", func() bool {
		for _, tn := range nodes {
			if tn.n.ConnectionCount() < want || tn.n.topicPeers(topicBlocks) < want || tn.n.topicPeers(topicTxs) < want {
				return false
			}
		}
		return true
	})
}

// topicPeers returns how many peers n knows as subscribers of a topic.
func (n *Node) topicPeers(topic string) int {
	n.mu.Lock()
	ps := n.ps
	n.mu.Unlock()
	if ps == nil {
		return 0
	}
	name := n.cfg.Params.BlockTopic()
	if topic == topicTxs {
		name = n.cfg.Params.TxTopic()
	}
	return len(ps.ListPeers(name))
}

func ids(nodes ...*testNode) []peer.ID {
	out := make([]peer.ID, len(nodes))
	for i, n := range nodes {
		out[i] = n.n.ID()
	}
	return out
}

// mine builds the named block on parent with g, connects it on tn and
// gossips it, as the node would for a block it mined.
func mine(tb testing.TB, g *chaintest.Generator, tn *testNode, name, parent string, opts ...chaintest.Option) *chain.Block {
	tb.Helper()
	b := g.Next(name, parent, opts...)
	if _, err := tn.c.ProcessBlock(b); err != nil {
		tb.Fatalf("%s: ProcessBlock(%s): %v", tn.name, name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tn.n.PublishBlock(ctx, b); err != nil {
		tb.Fatalf("%s: PublishBlock(%s): %v", tn.name, name, err)
	}
	return b
}

// waitTip waits until every node's tip is hash.
func waitTip(tb testing.TB, timeout time.Duration, hash chain.Hash, nodes ...*testNode) {
	tb.Helper()
	testkit.WaitFor(tb, timeout, "tip "+hash.String()[:16], func() bool {
		for _, tn := range nodes {
			if tn.c.Best().Hash != hash {
				return false
			}
		}
		return true
	})
}

func isErr(err error, kind ErrorKind) bool { return errors.Is(err, kind) }

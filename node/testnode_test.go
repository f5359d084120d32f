package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// testConfig returns the configuration of a test node: regtest, a data
// directory of its own, every listener on a free loopback port, one miner
// thread and no log output. The tests start every node with startNode and
// call its JSON-RPC server with rpcCall or rpcMust.
func testConfig(t testing.TB) Config {
	return Config{
		Network: "regtest", DataDir: t.TempDir(), P2PListen: "127.0.0.1:0", NoMDNS: true,
		RPCListen: "127.0.0.1:0", MetricsListen: "127.0.0.1:0", MinerThreads: 1,
		Logger: discardLogger(),
	}
}

// startOption changes how startNode runs a node.
type startOption func(n *Node, s *startSettings)

type startSettings struct {
	exit *nodeExit
}

// withJunkEvery sets the junk mode's period (a test that sends the junk
// itself makes it long).
func withJunkEvery(d time.Duration) startOption {
	return func(n *Node, _ *startSettings) { n.cfg.junkEvery = d }
}

// nodeExit records how a node's Run ended, for a test in which the node
// stops by itself.
type nodeExit struct {
	done chan struct{} // closed when Run has returned
	err  error         // Run's error, once done is closed
}

// watchExit records the return of the node's Run in e. Once the node is
// ready, an error from Run is left to the test to judge instead of
// failing it at cleanup.
func watchExit(e *nodeExit) startOption {
	return func(_ *Node, s *startSettings) {
		e.done = make(chan struct{})
		s.exit = e
	}
}

// startNode runs a node on cfg until the test ends and returns it once
// Ready, with a function that stops it and returns Run's error. The test
// fails if the node is not ready within 30 s, if Run fails (unless
// watchExit says otherwise) or if Run does not return at cleanup.
func startNode(t testing.TB, cfg Config, opts ...startOption) (*Node, func() error) {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var s startSettings
	for _, o := range opts {
		o(n, &s)
	}
	run := n.Run
	if e := s.exit; e != nil {
		run = func(ctx context.Context) error {
			err := n.Run(ctx)
			e.err = err
			close(e.done)
			select {
			case <-n.Ready():
				return nil
			default:
				return err
			}
		}
	}
	stop := testkit.RunReady(t, run, n.Ready(), 30*time.Second)
	return n, stop
}

// startMode starts a regtest node running adversary mode ("" for honest).
func startMode(t testing.TB, mode string) *Node {
	t.Helper()
	cfg := testConfig(t)
	cfg.Adversary = mode
	n, _ := startNode(t, cfg)
	return n
}

// rpcClient returns a JSON-RPC client of n's server, authenticated with
// the cookie in n's data directory.
func rpcClient(t testing.TB, n *Node) *client.Client {
	t.Helper()
	user, pass, err := client.ReadCookie(n.cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	return client.New("http://"+n.RPCAddr(), user, pass)
}

// rpcCall calls method on n with args as its positional parameters and
// decodes the answer into result (nil drops it). It returns the call's
// error, for a test that expects one or tolerates it.
func rpcCall(ctx context.Context, t testing.TB, n *Node, method string, result any, args ...any) error {
	t.Helper()
	params, err := client.Params(args...)
	if err != nil {
		t.Fatal(err)
	}
	return rpcClient(t, n).Call(ctx, method, params, result)
}

// rpcMust is rpcCall that fails the test if the call fails.
func rpcMust(ctx context.Context, t testing.TB, n *Node, method string, result any, args ...any) {
	t.Helper()
	if err := rpcCall(ctx, t, n, method, result, args...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
}

// addNode makes from add to as a peer (addnode add) at the first listen
// address to reports in getnetworkinfo, and returns to's peer id.
func addNode(ctx context.Context, t testing.TB, from, to *Node) string {
	t.Helper()
	var ni rpcjson.NetworkInfo
	rpcMust(ctx, t, to, "getnetworkinfo", &ni)
	target := ni.LocalAddresses[0].Address
	if !strings.Contains(target, "/p2p/") {
		target += "/p2p/" + ni.LocalPeerID
	}
	rpcMust(ctx, t, from, "addnode", nil, target, "add")
	return ni.LocalPeerID
}

// mineOne mines one block on n through RPC generatetoaddress and returns it.
func mineOne(t testing.TB, n *Node) *chain.Block {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var addr string
	var hashes []chain.Hash
	rpcMust(ctx, t, n, "getnewaddress", &addr)
	rpcMust(ctx, t, n, "generatetoaddress", &hashes, 1, addr)
	b, err := n.Chain().Block(hashes[0])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

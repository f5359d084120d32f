package node

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/faultstore"
	"github.com/quarrychain/quarry/chain/memstore"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// faultNode starts a node on a fault-injecting in-memory store and returns
// it, the store, an RPC caller and a channel closed when Run has returned
// (its error is then in *runErr).
func faultNode(t *testing.T, ctx context.Context, logs *testkit.Buffer, runErr *error) (*Node, *faultstore.Store, func(string, any, ...any) error, <-chan struct{}) {
	t.Helper()
	fs := faultstore.New(memstore.New())
	cfg := testConfig(t)
	cfg.NoP2P = true
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.OpenStore = func(string) (chain.Store, error) { return fs, nil }
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		*runErr = n.Run(runCtx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("node did not stop within 30s")
		}
	})
	select {
	case <-n.Ready():
	case <-done:
		t.Fatalf("node exited before ready: %v", *runErr)
	case <-ctx.Done():
		t.Fatal("node not ready in time")
	}
	user, pass, err := client.ReadCookie(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.New("http://"+n.RPCAddr(), user, pass)
	call := func(method string, result any, args ...any) error {
		params, err := client.Params(args...)
		if err != nil {
			return err
		}
		return cl.Call(ctx, method, params, result)
	}
	return n, fs, call, done
}

// TestNodeStopsOnStoreWriteFailure: when the chain database fails a write,
// the node stops by itself with an error that says so, instead of running
// on with a chain whose memory may not match its disk.
func TestNodeStopsOnStoreWriteFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var runErr error
	n, fs, call, done := faultNode(t, ctx, &testkit.Buffer{}, &runErr)
	var addr string
	if err := call("getnewaddress", &addr); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	if err := call("generatetoaddress", &hashes, 1, addr); err != nil {
		t.Fatal(err)
	}
	fs.FailAllCommits(faultstore.FailSync)
	if err := call("generatetoaddress", &hashes, 1, addr); err == nil {
		t.Fatal("mining succeeded on a failing disk")
	}
	select {
	case <-done:
		if !errors.Is(runErr, chain.ErrWriteFailed) || !errors.Is(runErr, faultstore.ErrSync) {
			t.Fatalf("Run returned %v, want ErrWriteFailed", runErr)
		}
	case <-ctx.Done():
		t.Fatal("node kept running after a failed write")
	}
	if n.Chain().Height() != 1 {
		t.Fatalf("height %d after the failed write", n.Chain().Height())
	}
}

// TestNodeReportsCorruptBlock: a stored block whose data fails its
// integrity check is answered over RPC as corrupt (RPC_DATABASE_ERROR, not
// "not found"), logged at ERROR, counted in quarry_chain_corrupt_reads_total
// and listed until RepairBlock restores it.
func TestNodeReportsCorruptBlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &testkit.Buffer{}
	var runErr error
	n, fs, call, _ := faultNode(t, ctx, logs, &runErr)
	var addr string
	if err := call("getnewaddress", &addr); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	if err := call("generatetoaddress", &hashes, 3, addr); err != nil {
		t.Fatal(err)
	}
	c := n.Chain()
	h, _ := c.HashAtHeight(2)
	good, err := c.Block(h)
	if err != nil {
		t.Fatal(err)
	}
	fs.FailChecksum(append([]byte{'b'}, h[:]...))

	var raw string
	err = call("getblock", &raw, h.String(), 0)
	var re *rpcjson.Error
	if !errors.As(err, &re) || re.Code != rpcjson.CodeDatabaseError || !strings.Contains(re.Message, "Block data corrupt on disk") {
		t.Fatalf("getblock of a corrupt block: %v", err)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "corrupt") {
		t.Fatalf("no ERROR log for the corrupt block:\n%s", logs.String())
	}
	if v := metricValue(t, n, "quarry_chain_corrupt_reads_total"); v < 1 {
		t.Fatalf("corrupt reads counter %v", v)
	}
	if v := metricValue(t, n, "quarry_chain_corrupt_blocks"); v != 1 {
		t.Fatalf("corrupt blocks gauge %v", v)
	}
	if err := c.RepairBlock(good); err != nil {
		t.Fatal(err)
	}
	if err := call("getblock", &raw, h.String(), 0); err != nil {
		t.Fatalf("getblock after repair: %v", err)
	}
	if v := metricValue(t, n, "quarry_chain_corrupt_blocks"); v != 0 {
		t.Fatalf("corrupt blocks gauge after repair %v", v)
	}
}

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
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// faultConfig returns testConfig with the chain on a fault-injecting
// in-memory store, and the store; the node logs to logs.
func faultConfig(t *testing.T, logs *testkit.Buffer) (Config, *faultstore.Store) {
	fs := faultstore.New(memstore.New())
	cfg := testConfig(t)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.OpenStore = func(string) (chain.Store, error) { return fs, nil }
	return cfg, fs
}

// TestNodeStopsOnStoreWriteFailure: when the chain database fails a write,
// the node stops by itself with an error that says so, instead of running
// on with a chain whose memory may not match its disk.
func TestNodeStopsOnStoreWriteFailure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, fs := faultConfig(t, &testkit.Buffer{})
	cfg.NoP2P = true
	var exit nodeExit
	n, _ := startNode(t, cfg, watchExit(&exit))
	var addr string
	rpcMust(ctx, t, n, "getnewaddress", &addr)
	var hashes []string
	rpcMust(ctx, t, n, "generatetoaddress", &hashes, 1, addr)
	fs.FailAllCommits(faultstore.FailSync)
	if err := rpcCall(ctx, t, n, "generatetoaddress", &hashes, 1, addr); err == nil {
		t.Fatal("mining succeeded on a failing disk")
	}
	select {
	case <-exit.done:
		if !errors.Is(exit.err, chain.ErrWriteFailed) || !errors.Is(exit.err, faultstore.ErrSync) {
			t.Fatalf("Run returned %v, want ErrWriteFailed", exit.err)
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
	cfg, fs := faultConfig(t, logs)
	cfg.NoP2P = true
	n, _ := startNode(t, cfg)
	var addr string
	rpcMust(ctx, t, n, "getnewaddress", &addr)
	var hashes []string
	rpcMust(ctx, t, n, "generatetoaddress", &hashes, 3, addr)
	c := n.Chain()
	h, _ := c.HashAtHeight(2)
	good, err := c.Block(h)
	if err != nil {
		t.Fatal(err)
	}
	fs.FailChecksum(append([]byte{'b'}, h[:]...))

	var raw string
	err = rpcCall(ctx, t, n, "getblock", &raw, h.String(), 0)
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
	if err := rpcCall(ctx, t, n, "getblock", &raw, h.String(), 0); err != nil {
		t.Fatalf("getblock after repair: %v", err)
	}
	if v := metricValue(t, n, "quarry_chain_corrupt_blocks"); v != 0 {
		t.Fatalf("corrupt blocks gauge after repair %v", v)
	}
}

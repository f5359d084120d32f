package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// TestCorruptBlockIsFetchedFromPeers: a node whose stored copy of a
// main-chain block fails its checksum reports it as corrupt, then fetches
// the block again from a peer that has it and serves it once more, with no
// operator action.
func TestCorruptBlockIsFetchedFromPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	cfgA, fs := faultConfig(t, &testkit.Buffer{})
	cfgA.MetricsListen = ""
	a, _ := startNode(t, cfgA)
	b, _ := startExplorerNode(t) // a plain regtest node with RPC

	var addr string
	rpcMust(ctx, t, a, "getnewaddress", &addr)
	var hashes []string
	rpcMust(ctx, t, a, "generatetoaddress", &hashes, 5, addr)

	// B learns the chain from A.
	addNode(ctx, t, b, a)
	testkit.WaitFor(t, 30*time.Second, "node B synced 5 blocks", func() bool {
		var n int
		return rpcCall(ctx, t, b, "getblockcount", &n) == nil && n == 5
	})

	// Block 3's stored bytes on A now fail their checksum.
	h, ok := a.Chain().HashAtHeight(3)
	if !ok {
		t.Fatal("no block at height 3")
	}
	fs.FailChecksum(append([]byte{'b'}, h[:]...))
	var raw string
	err := rpcCall(ctx, t, a, "getblock", &raw, h.String(), 0)
	var re *rpcjson.Error
	if !errors.As(err, &re) || re.Code != rpcjson.CodeDatabaseError {
		t.Fatalf("getblock of the corrupt block: %v, want RPC_DATABASE_ERROR", err)
	}
	if got := a.Chain().CorruptBlocks(); len(got) != 1 || got[0] != h {
		t.Fatalf("corrupt blocks %v, want [%s]", got, h)
	}

	// A fetches it from B at its next status round and rewrites it.
	testkit.WaitFor(t, 40*time.Second, "the corrupt block repaired from the peer", func() bool {
		return len(a.Chain().CorruptBlocks()) == 0
	})
	if err := rpcCall(ctx, t, a, "getblock", &raw, h.String(), 0); err != nil {
		t.Fatalf("getblock after the repair: %v", err)
	}
	if v := counterValueLabel(t, a, "quarry_p2p_block_repairs_total", "result", "ok"); v < 1 {
		t.Errorf("quarry_p2p_block_repairs_total{result=ok} = %v", v)
	}
}

func counterValueLabel(t *testing.T, n *Node, name, label, value string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}

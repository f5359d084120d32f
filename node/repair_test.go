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

// TestCorruptBlockIsFetchedFromPeers: a node whose stored copy of a
// main-chain block fails its checksum reports it as corrupt, then fetches
// the block again from a peer that has it and serves it once more, with no
// operator action.
func TestCorruptBlockIsFetchedFromPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	fs := faultstore.New(memstore.New())
	cfgA := testConfig(t)
	cfgA.MetricsListen = ""
	cfgA.OpenStore = func(string) (chain.Store, error) { return fs, nil }
	logs := &testkit.Buffer{}
	cfgA.Logger = slog.New(slog.NewTextHandler(logs, nil))
	a, _ := startNode(t, cfgA)
	b := startExplorerNode(t) // a plain regtest node with RPC

	userA, passA, err := client.ReadCookie(cfgA.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	clA := client.New("http://"+a.RPCAddr(), userA, passA)
	callA := func(method string, result any, args ...any) error {
		params, err := client.Params(args...)
		if err != nil {
			return err
		}
		return clA.Call(ctx, method, params, result)
	}
	var addr string
	if err := callA("getnewaddress", &addr); err != nil {
		t.Fatal(err)
	}
	var hashes []string
	if err := callA("generatetoaddress", &hashes, 5, addr); err != nil {
		t.Fatal(err)
	}

	// B learns the chain from A.
	var ni rpcjson.NetworkInfo
	if err := callA("getnetworkinfo", &ni); err != nil {
		t.Fatal(err)
	}
	target := ni.LocalAddresses[0].Address
	if !strings.Contains(target, "/p2p/") {
		target += "/p2p/" + ni.LocalPeerID
	}
	b.call(ctx, t, "addnode", nil, target, "add")
	testkit.WaitFor(t, 30*time.Second, "node B synced 5 blocks", func() bool {
		var n int
		return b.cl.Call(ctx, "getblockcount", nil, &n) == nil && n == 5
	})

	// Block 3's stored bytes on A now fail their checksum.
	h, ok := a.Chain().HashAtHeight(3)
	if !ok {
		t.Fatal("no block at height 3")
	}
	fs.FailChecksum(append([]byte{'b'}, h[:]...))
	var raw string
	err = callA("getblock", &raw, h.String(), 0)
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
	if err := callA("getblock", &raw, h.String(), 0); err != nil {
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

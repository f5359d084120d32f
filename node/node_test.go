package node

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
)

func TestNodeMinesServesRPCAndStops(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t)
	n, stop := startNode(t, cfg)
	var addr string
	rpcMust(ctx, t, n, "getnewaddress", &addr)
	var hashes []string
	rpcMust(ctx, t, n, "generatetoaddress", &hashes, 3, addr)
	if len(hashes) != 3 || n.Chain().Height() != 3 {
		t.Fatalf("generated %d, height %d", len(hashes), n.Chain().Height())
	}
	// generatetoaddress returns once the mempool and the wallet have
	// taken in what it mined (getbalance below reads the wallet).
	if pt := n.pool.Tip(); pt.Hash != n.Chain().Best().Hash {
		t.Fatalf("mempool at height %d after generatetoaddress returned, chain at 3", pt.Height)
	}
	var bal float64
	rpcMust(ctx, t, n, "getbalance", &bal)
	if bal != 150 {
		t.Fatalf("wallet balance %v, want 150", bal)
	}
	// The whole registry follows Prometheus naming rules.
	problems, err := testutil.GatherAndLint(n.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "quarry_") {
			t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
		}
	}
	if v := metricValue(t, n, "quarry_chain_height_blocks"); v != 3 {
		t.Fatalf("height gauge %v", v)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	// A restart continues from the same tip.
	tip := n.Chain().Best()
	n2, _ := startNode(t, cfg)
	if got := n2.Chain().Best(); got.Hash != tip.Hash || got.StateDigest != tip.StateDigest {
		t.Fatalf("restart: tip %s digest %s, want %s %s", got.Hash, got.StateDigest, tip.Hash, tip.StateDigest)
	}
}

// metricValue returns the first sample of the counter or gauge name in
// n's registry.
func metricValue(t *testing.T, n *Node, name string) float64 {
	t.Helper()
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		if m := mf.GetMetric()[0]; m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		} else if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestSecondInstanceIsRefused(t *testing.T) {
	cfg := testConfig(t)
	startNode(t, cfg)
	n2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = n2.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "in use by another quarryd") {
		t.Fatalf("second instance: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"network":            {Network: "moon"},
		"rpc remote":         {RPCListen: "0.0.0.0:1234"},
		"rpc user":           {RPCUser: "alice"},
		"threads":            {MinerThreads: -1},
		"address":            {MinerAddress: "qm1notanaddress"},
		"other net":          {Network: "regtest", MinerAddress: chain.Address{1}.Encode(chain.DevParams())},
		"listen":             {P2PListen: "nope"},
		"listen host":        {P2PListen: "localhost:4001"},
		"bootnode":           {Bootnodes: []string{"/ip4/127.0.0.1/tcp/1"}},
		"log level":          {LogLevel: "loud"},
		"metrics port":       {MetricsListen: "127.0.0.1:99999"},
		"announce":           {P2PAnnounce: []string{"127.0.0.1:4001"}},
		"block time main":    {Network: "main", BlockTime: time.Second},
		"block time test":    {Network: "test", BlockTime: time.Second},
		"block time regtest": {Network: "regtest", BlockTime: time.Second},
		"block time tiny":    {Network: "dev", BlockTime: time.Millisecond},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: accepted %+v", name, c)
		}
	}
	if _, err := New(Config{Network: "main", BlockTime: time.Second}); err == nil || !strings.Contains(err.Error(), "--block-time: only the dev network") {
		t.Errorf("block time on main: %v", err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

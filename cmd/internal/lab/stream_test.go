package lab

import (
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// fakeLab is a lab whose nodes are RPC servers over rpctest fakes (cookie
// authentication, as quarryd runs it), so the stream and RPC code runs
// without node processes. stops[i] stops node i's server.
func fakeLab(t *testing.T, n int) (*Lab, []*rpctest.Backend, []func() error) {
	t.Helper()
	l := &Lab{params: chain.RegtestParams()}
	var fakes []*rpctest.Backend
	var stops []func() error
	for i := range n {
		f := rpctest.New()
		dir := t.TempDir()
		s, err := rpc.New(rpc.Config{Backend: f, ListenAddr: "127.0.0.1:0", CookieDir: dir, AuthFailureDelay: -1, Now: f.Now})
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, testkit.RunReady(t, s.Run, s.Ready(), 10*time.Second))
		fakes = append(fakes, f)
		l.State.Nodes = append(l.State.Nodes, NodeState{Index: i, DataDir: dir, RPCPort: s.Addr().(*net.TCPAddr).Port})
	}
	return l, fakes, stops
}

func TestStreamReorgs(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	l, fakes, stops := fakeLab(t, 2)
	s, err := l.Subscribe(ctx, "reorgs")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := fakes[1]
	tip := f.Tip()
	h5, _ := f.HashAtHeight(5)
	h4, _ := f.HashAtHeight(4)
	a1 := chain.DoubleSHA256([]byte("a1"))
	// A block is not on the subscribed topic; the reorg is.
	f.Emit(rpc.Notification{Kind: rpc.NotifyBlockConnected, Hash: a1, Height: 6})
	f.Emit(rpc.Notification{Kind: rpc.NotifyReorg, Reorg: &rpc.Reorg{ForkPoint: tip.Hash, ForkHeight: 3,
		Removed: []chain.Hash{h5, h4}, Added: []chain.Hash{a1}, OldTip: h5, NewTip: a1}})
	var ev Event
	select {
	case ev = <-s.C:
	case <-ctx.Done():
		t.Fatal("no event")
	}
	r, ok, err := ReorgFromEvent(ev)
	if err != nil || !ok {
		t.Fatalf("ReorgFromEvent(%+v) = %v, %v", ev, ok, err)
	}
	if r.Node != 1 || !r.Observed || r.At.IsZero() || r.Depth != 2 || r.Fork != tip.Hash || r.ForkHeight != 3 ||
		r.OldTip != h5 || r.NewTip != a1 || !slices.Equal(r.Removed, []chain.Hash{h5, h4}) || r.Added != 1 {
		t.Fatalf("reorg %+v", r)
	}
	// A node that shuts down ends its part of the stream with an error;
	// Close then ends the rest and closes C.
	if err := stops[0](); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the stream to report node0's close", func() bool { return s.Err() != nil })
	s.Close()
	if _, open := <-s.C; open {
		t.Fatal("C open after Close")
	}
}

func TestDeriveReorg(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	l, fakes, _ := fakeLab(t, 1)
	f := fakes[0]
	var side chain.Hash
	for _, tp := range f.ChainTips() {
		if tp.Status == "valid-fork" {
			side = tp.Hash
		}
	}
	h3, _ := f.HashAtHeight(3)
	ev, ok, err := l.DeriveReorg(ctx, 0, side)
	if err != nil || !ok || ev.Observed || ev.Fork != h3 || ev.ForkHeight != 3 || ev.Depth != 1 || !slices.Equal(ev.Removed, []chain.Hash{side}) {
		t.Fatalf("DeriveReorg(side tip) = %+v, %v, %v", ev, ok, err)
	}
	if _, ok, err := l.DeriveReorg(ctx, 0, f.Tip().Hash); ok || err != nil {
		t.Fatalf("DeriveReorg(main tip) = %v, %v; want no reorg", ok, err)
	}
}

func TestScrapeMetric(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# HELP quarry_x_total x\n# TYPE quarry_x_total counter\n" +
			`quarry_x_total{topic="blocks",result="accept"} 3` + "\n" +
			`quarry_x_total{topic="blocks",result="reject"} 4` + "\n" +
			`quarry_x_total{topic="txs",result="accept"} 5` + "\n" +
			"quarry_x_total_more 100\nquarry_y 7\n"))
	}))
	defer srv.Close()
	ctx := testkit.Context(t, 10*time.Second)
	for _, tc := range []struct {
		name    string
		filters []string
		want    float64
		found   bool
	}{
		{"quarry_x_total", nil, 12, true},
		{"quarry_x_total", []string{`topic="blocks"`}, 7, true},
		{"quarry_x_total", []string{`topic="blocks"`, `result="accept"`}, 3, true},
		{"quarry_y", nil, 7, true},
		{"quarry_z", nil, 0, false},
	} {
		got, found, err := ScrapeMetric(ctx, srv.URL, tc.name, tc.filters...)
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("%s %v = %v, %v, %v; want %v, %v", tc.name, tc.filters, got, found, err, tc.want, tc.found)
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for q, want := range map[float64]time.Duration{0: 1, 0.5: 3, 0.9: 5, 1: 5} {
		if got := Percentile(ds, q); got != want {
			t.Errorf("Percentile(%v) = %v, want %v", q, got, want)
		}
	}
	if Percentile(nil, 0.5) != 0 || !slices.Equal(ds, []time.Duration{5, 1, 4, 2, 3}) {
		t.Error("Percentile of nothing, or it sorted its input")
	}
}

// TestCollectReorgs: a node whose heal-time tip left its main chain must
// announce a reorg below that tip; collectReorgs waits for it and keeps
// every reorg that arrived.
func TestCollectReorgs(t *testing.T) {
	ctx := testkit.Context(t, 20*time.Second)
	l, fakes, _ := fakeLab(t, 2)
	f := fakes[0]
	var side chain.Hash
	for _, tp := range f.ChainTips() {
		if tp.Status == "valid-fork" {
			side = tp.Hash
		}
	}
	h3, _ := f.HashAtHeight(3)
	h5, _ := f.HashAtHeight(5)
	tip1 := fakes[1].Tip()
	// Node 0 was on the side branch at heal time; node 1 stayed on its tip.
	rec := &HealRecord{Tips: []TipRecord{{Node: 0, Hash: side, Height: 4}, {Node: 1, Hash: tip1.Hash, Height: tip1.Height}}}
	s, err := l.Subscribe(ctx, "reorgs")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan struct{})
	var evs []ReorgEvent
	go func() {
		defer close(done)
		evs, err = l.collectReorgs(ctx, s, rec)
	}()
	f.Emit(rpc.Notification{Kind: rpc.NotifyReorg, Reorg: &rpc.Reorg{ForkPoint: h3, ForkHeight: 3,
		Removed: []chain.Hash{side}, Added: []chain.Hash{h5}, OldTip: side, NewTip: h5}})
	<-done
	if err != nil || len(evs) != 1 || evs[0].Node != 0 || !evs[0].Observed || evs[0].Fork != h3 || evs[0].OldTip != side {
		t.Fatalf("collectReorgs = %+v, %v", evs, err)
	}
}

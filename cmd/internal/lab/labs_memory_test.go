package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// labCycle runs one small shaped lab through what an experiment does with
// it: start (proxies in this program), mine, watch the streams, scrape a
// metric, change a link, cut the links between two groups and heal with a
// wait (which subscribes to the reorgs), then stop it and delete its
// directory.
func labCycle(ctx context.Context, t *testing.T, dir, bin string) {
	t.Helper()
	opts := UpOptions{N: 3, Seed: "cycle", Network: "regtest", Topology: "mesh", Shaped: true,
		LinkDelay: 5 * time.Millisecond, Attached: true, LogLevel: "warn"}
	l, end, err := startLab(ctx, dir, bin, opts, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer end()
	step := func(name string, f func(context.Context) error) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := f(sctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	step("mine and agree", func(ctx context.Context) error {
		s, err := l.Subscribe(ctx, rpcjson.TopicBlocks)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := l.Generate(ctx, 0, 2); err != nil {
			return err
		}
		_, err = l.WaitAgreement(ctx)
		return err
	})
	step("scrape", func(ctx context.Context) error {
		_, err := l.Metric(ctx, 1, "quarry_p2p_peers")
		return err
	})
	step("set a link", func(ctx context.Context) error {
		d := 10 * time.Millisecond
		if _, err := l.SetLink(ctx, 0, 1, LinkChange{Delay: &d}); err != nil {
			return err
		}
		return l.WaitPeers(ctx, 2)
	})
	step("partition at the links and heal", func(ctx context.Context) error {
		if err := l.PartitionAt(ctx, [][]int{{0}, {1, 2}}, PartitionLinks); err != nil {
			return err
		}
		if _, err := l.Generate(ctx, 0, 1); err != nil {
			return err
		}
		if _, err := l.Generate(ctx, 1, 2); err != nil {
			return err
		}
		_, err := l.Heal(ctx, HealOptions{Wait: true, Timeout: 45 * time.Second})
		return err
	})
}

// TestLabsLeaveNothingBehind runs labs one after another in this process,
// as `devnet experiment` does (a fresh lab per delay, trial or setting),
// and checks that each leaves no goroutine behind (proxies, streams,
// scrapers, process reapers) and that the heap does not grow with the
// number of labs run.
func TestLabsLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("builds quarryd and runs labs; skipped in -short mode")
	}
	ctx := testkit.Context(t, 8*time.Minute)
	bin := t.TempDir()
	if err := Build(ctx, bin, "quarryd"); err != nil {
		t.Fatal(err)
	}
	baseline := goleak.IgnoreCurrent()
	heapInUse := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	const labs = 5
	heap := make([]uint64, labs)
	for i := range labs {
		labCycle(ctx, t, filepath.Join(t.TempDir(), fmt.Sprint("lab", i)), bin)
		// A proxied stream whose destination closed with data in flight
		// ends drainAfter later (drainToxic).
		var leak error
		deadline := time.Now().Add(drainAfter + 20*time.Second)
		for {
			leak = goleak.Find(baseline,
				goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
				goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"))
			if leak == nil || time.Now().After(deadline) {
				break
			}
		}
		if leak != nil {
			t.Fatalf("after lab %d: %v", i+1, leak)
		}
		heap[i] = heapInUse()
		t.Logf("after lab %d: %d goroutines, heap in use %.2f MiB", i+1, runtime.NumGoroutine(), float64(heap[i])/(1<<20))
	}
	// The first lab warms up what is built once per process (the HTTP
	// transport, toxiproxy's and zerolog's globals, the JSON codecs).
	const slack = 1 << 20
	if grown := int64(heap[labs-1]) - int64(heap[1]); grown > slack {
		t.Fatalf("the heap grew by %.2f MiB over labs 2..%d (%.0f KiB a lab)", float64(grown)/(1<<20), labs, float64(grown)/1024/float64(labs-2))
	}
}

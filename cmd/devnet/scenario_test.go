package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// testScenarios runs the short scenario files CI runs.
func testScenarios(t *testing.T, bin string) {
	for _, f := range []string{"link-partition.toml", "slow-link-gater.yaml", "selfish-miner.toml"} {
		t.Run(f, func(t *testing.T) {
			sc, err := lab.ReadScenario(filepath.Join("..", "..", "scripts", "scenarios", f))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
			defer cancel()
			err = lab.RunScenario(ctx, sc, lab.ScenarioOptions{Dir: t.TempDir(), Bin: bin, Attached: true, Out: testWriter{t}})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// testFailingScenario: an assertion that cannot hold makes RunScenario
// fail with ErrAssertion.
func testFailingScenario(t *testing.T, bin string) {
	sc := &lab.Scenario{Name: "fails", Steps: []lab.ScenarioStep{
		{Do: "up", N: 2, Network: "regtest", Seed: "fails"},
		{Do: "assert", Check: "max-reorg-depth", Max: 0},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := lab.RunScenario(ctx, sc, lab.ScenarioOptions{Dir: t.TempDir(), Bin: bin, Attached: true, Out: testWriter{t}})
	if !errors.Is(err, lab.ErrAssertion) {
		t.Fatalf("got %v, want an assertion failure", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// testStaleRateShort is CI's very short stale-rate experiment: one delay,
// a handful of 500 ms blocks; it checks the bookkeeping, not the rate.
func testStaleRateShort(t *testing.T, bin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pts, err := lab.StaleRate(ctx, lab.StaleRateOptions{Delays: []time.Duration{100 * time.Millisecond}, BlockTime: 500 * time.Millisecond,
		Blocks: 8, N: 3, Dir: t.TempDir(), Bin: bin, Attached: true})
	if err != nil {
		t.Fatal(err)
	}
	p := pts[0]
	t.Logf("%+v", p)
	if p.Main < 8 || p.Mined < p.Main || p.Stale != p.Mined-p.Main || p.Lo > p.Rate || p.Hi < p.Rate || p.MeanInterval <= 0 {
		t.Fatalf("inconsistent measurement %+v", p)
	}
}

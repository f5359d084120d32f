package miner

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
)

func TestMetricsLint(t *testing.T) {
	p := chain.RegtestParams()
	var offset atomic.Int64
	clock := func() time.Time { return testNow.Add(time.Duration(offset.Load())) }
	c := newChain(t, p, clock)
	reg := prometheus.NewPedanticRegistry()
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), Threads: 2, Now: clock, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	m.sample()
	if _, err := m.GenerateBlocks(context.Background(), 2, addr(3)); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(2 * time.Second))
	m.sample()

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch {
			case mt.Counter != nil:
				got[mf.GetName()] += mt.Counter.GetValue()
			case mt.Gauge != nil:
				got[mf.GetName()] += mt.Gauge.GetValue()
			default:
				got[mf.GetName()] += 0
			}
		}
	}
	for _, name := range []string{
		"quarry_miner_hashes_total", "quarry_miner_hashrate_hashes_per_second",
		"quarry_miner_worker_hashrate_hashes_per_second", "quarry_miner_blocks_found_total",
		"quarry_miner_blocks_rejected_total", "quarry_miner_stale_work_total",
		"quarry_miner_template_age_seconds", "quarry_miner_tip_switch_seconds",
		"quarry_miner_template_build_seconds", "quarry_miner_threads", "quarry_miner_kernel_faults_total",
	} {
		if _, ok := got[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if got["quarry_miner_blocks_found_total"] != 2 || got["quarry_miner_hashes_total"] == 0 || got["quarry_miner_hashrate_hashes_per_second"] <= 0 {
		t.Errorf("values %v", got)
	}

	// A second miner on the same registry is a configuration error.
	if _, err := New(Config{Chain: c, Submitter: processSubmitter(c), Registerer: reg}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("duplicate registration: %v", err)
	}
}

package miner

import (
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/miner/kernel"
)

// hardBits is a target no benchmark will ever meet (about 2^56 hashes).
const hardBits = 0x1900ffff

// rawKernelRate runs the kernel alone on threads goroutines, each on its
// own prepared job in DefaultBatchSize chunks (what a worker does, minus
// the miner), for about d; it returns nonces per second.
func rawKernelRate(k kernel.Kernel, threads int, d time.Duration) float64 {
	var done atomic.Uint64
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for i := 0; i < threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := kernel.Job{}
			j.Header[0] = byte(i)
			j.Target[0] = 1 // hash <= 1: never
			p := kernel.Prepare(&j)
			var nonce uint32
			for !stop.Load() {
				_, _, tried := k.Search(p, nonce, DefaultBatchSize)
				nonce += uint32(tried)
				done.Add(tried)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// allHashing reports whether threads workers are alive and have each
// hashed at least min nonces more than in base.
func allHashing(m *Miner, threads int, base []uint64, min uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.slots) < threads {
		return false
	}
	for i, s := range m.slots[:threads] {
		var b uint64
		if i < len(base) {
			b = base[i]
		}
		if !m.alive[i] || s.hashes.Load() < b+min {
			return false
		}
	}
	return true
}

func slotCounts(m *Miner) []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]uint64, len(m.slots))
	for i, s := range m.slots {
		out[i] = s.hashes.Load()
	}
	return out
}

// startHardMiner runs a miner with every core on a target it never meets.
func startHardMiner(tb testing.TB, threads int) (*Miner, *chain.Chain, func()) {
	tb.Helper()
	c := newChain(tb, chain.RegtestParams(), time.Now)
	m, err := New(Config{Chain: hardView{c, hardBits}, Submitter: processSubmitter(c), PayTo: addr(1), Generate: true, Threads: threads})
	if err != nil {
		tb.Fatal(err)
	}
	stop := runMiner(tb, m)
	testkit.WaitFor(tb, waitTimeout, "every worker hashing", func() bool { return allHashing(m, threads, nil, 4*DefaultBatchSize) })
	return m, c, stop
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkPipelineVsKernel reports, in the same run, the nonce rate of the
// whole background pipeline (workers, batches, generation checks, counters,
// scheduling points) and the rate of the bare kernel on the same number of
// threads. Each op is one round of 300 ms of bare kernel then 300 ms of
// pipeline (mining switched off during the kernel phase), so host noise
// hits both alike; the metrics are medians over the rounds.
//
//	go test -run XXX -bench PipelineVsKernel -benchtime 10x ./miner/
func BenchmarkPipelineVsKernel(b *testing.B) {
	const phase = 300 * time.Millisecond
	threads := runtime.NumCPU()
	k := kernel.Best()
	m, _, _ := startHardMiner(b, threads)
	alive := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		n := 0
		for _, a := range m.alive {
			if a {
				n++
			}
		}
		return n
	}
	var raws, pipes, ratios []float64
	for b.Loop() {
		if err := m.SetGenerate(false, 0); err != nil {
			b.Fatal(err)
		}
		testkit.WaitFor(b, waitTimeout, "workers stopped", func() bool { return alive() == 0 })
		raw := rawKernelRate(k, threads, phase)

		base := slotCounts(m)
		if err := m.SetGenerate(true, 0); err != nil {
			b.Fatal(err)
		}
		testkit.WaitFor(b, waitTimeout, "workers hashing", func() bool { return allHashing(m, threads, base, DefaultBatchSize) })
		h0, t0 := m.hashesTotal(), time.Now()
		<-time.After(phase)
		pipe := float64(m.hashesTotal()-h0) / time.Since(t0).Seconds()

		raws, pipes, ratios = append(raws, raw), append(pipes, pipe), append(ratios, pipe/raw)
	}
	b.ReportMetric(median(raws)/1e6, "kernel-Mnonce/s")
	b.ReportMetric(median(pipes)/1e6, "pipeline-Mnonce/s")
	b.ReportMetric(median(pipes)/float64(threads)/1e6, "pipeline-Mnonce/s/core")
	b.ReportMetric(median(ratios), "pipeline/kernel")
	b.Logf("kernel %s, %d threads, %d rounds: kernel %.2f M/s, pipeline %.2f M/s, per-round ratios %.3f",
		k.Name(), threads, len(raws), median(raws)/1e6, median(pipes)/1e6, ratios)
}

// latencyStats measures the round trip of a cheap call (chain.Best) served
// by a parked goroutine, as an RPC handler would be, n times at ~200 µs
// intervals. lateness is how late the requester's own timer fired.
func latencyStats(c *chain.Chain, n int) (rtt, lateness []time.Duration) {
	reqs := make(chan chan chain.Snapshot)
	go func() {
		for r := range reqs {
			r <- c.Best()
		}
	}()
	defer close(reqs)
	reply := make(chan chain.Snapshot)
	const gap = 200 * time.Microsecond
	for range n {
		due := time.Now().Add(gap)
		time.Sleep(gap)
		t := time.Now()
		lateness = append(lateness, t.Sub(due))
		reqs <- reply
		<-reply
		rtt = append(rtt, time.Since(t))
	}
	sort.Slice(rtt, func(i, j int) bool { return rtt[i] < rtt[j] })
	sort.Slice(lateness, func(i, j int) bool { return lateness[i] < lateness[j] })
	return rtt, lateness
}

func pct(d []time.Duration, p float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*p))] }

// BenchmarkBestLatencyWhileMining reports the latency of chain.Best served
// by another goroutine while every core mines (and, for comparison, idle).
//
//	go test -run XXX -bench BestLatency -benchtime 2000x ./miner/
func BenchmarkBestLatencyWhileMining(b *testing.B) {
	for _, mining := range []bool{false, true} {
		name := "idle"
		if mining {
			name = "mining-all-cores"
		}
		b.Run(name, func(b *testing.B) {
			c := newChain(b, chain.RegtestParams(), time.Now)
			if mining {
				var stop func()
				_, c, stop = startHardMiner(b, runtime.NumCPU())
				defer stop()
			}
			b.ResetTimer()
			rtt, late := latencyStats(c, b.N)
			b.ReportMetric(float64(pct(rtt, 0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(pct(rtt, 0.99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(rtt[len(rtt)-1].Microseconds()), "max-µs")
			b.ReportMetric(float64(pct(late, 0.99).Microseconds()), "timer-late-p99-µs")
		})
	}
}

// BenchmarkTipSwitch measures, with the real kernel and default batches on
// every core, the latency from TipChanged (a peer's block just connected)
// to every worker hashing on the new tip. One op is one switch.
//
//	go test -run XXX -bench TipSwitch -benchtime 200x ./miner/
func BenchmarkTipSwitch(b *testing.B) {
	m, c, _ := startHardMiner(b, runtime.NumCPU())
	var lat []time.Duration
	ts := uint32(time.Now().Unix())
	st0 := m.Stats()
	for b.Loop() {
		n := m.tipSwitches.Load()
		ts++
		blk := externalBlock(b, c, addr(2), ts)
		if _, err := c.ProcessBlock(blk); err != nil {
			b.Fatal(err)
		}
		m.TipChanged()
		testkit.WaitFor(b, waitTimeout, "switch", func() bool { return m.tipSwitches.Load() > n })
		lat = append(lat, time.Duration(m.lastSwitch.Load()))
	}
	st := m.Stats()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(pct(lat, 0.5).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(lat, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(st.StaleBatches-st0.StaleBatches)/float64(len(lat)), "stale-batches/switch")
}

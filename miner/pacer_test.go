package miner

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
)

// TestPacerBound drives the pacer with simulated workers on a fake
// clock (random batch sizes, hashing speeds and slightly stale clock
// readings) and checks the pacing contract logically: the nonces allowed to
// start by any time t never exceed burst + limit*(t - t0), and a greedy
// load gets close to the limit.
func TestPacerBound(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for _, tc := range []struct {
		limit   float64
		burst   float64
		workers int
	}{
		{1e6, 5000, 2},
		{50e6, 250_000, 8},
		{300, 16, 3},
	} {
		b := newPacer(tc.limit, uint64(tc.burst))
		t0 := testNow
		free := make([]time.Time, tc.workers) // when each simulated worker wants its next batch
		for i := range free {
			free[i] = t0
		}
		type grant struct {
			start time.Time
			n     uint64
		}
		var grants []grant
		for i := 0; i < 20000; i++ {
			w := rng.IntN(tc.workers)
			now := free[w]
			if rng.IntN(4) == 0 && now.After(t0) { // a stale clock reading
				now = now.Add(-time.Duration(rng.IntN(1000)) * time.Microsecond)
				if now.Before(t0) {
					now = t0
				}
			}
			n := uint64(1 + rng.IntN(int(tc.burst))) // at most one batch, as the workers reserve
			start := b.reserve(n, now)
			if start.Before(now) {
				t.Fatalf("start %v before the reservation %v", start, now)
			}
			grants = append(grants, grant{start, n})
			// Each worker alone hashes 2-4 times faster than the limit, as
			// a limited devnet miner does.
			free[w] = start.Add(time.Duration(float64(n) / (tc.limit * (2 + 2*rng.Float64())) * float64(time.Second)))
		}
		sort.SliceStable(grants, func(i, j int) bool { return grants[i].start.Before(grants[j].start) })
		var total float64
		for i, g := range grants {
			total += float64(g.n)
			if i+1 < len(grants) && grants[i+1].start.Equal(g.start) {
				continue // check once all grants starting at this instant are counted
			}
			if bound := tc.burst + tc.limit*g.start.Sub(t0).Seconds(); total > bound+1e-6*bound {
				t.Fatalf("limit %g: %g nonces started by %v, bound %g", tc.limit, total, g.start.Sub(t0), bound)
			}
		}
		last := grants[len(grants)-1].start
		achieved := total / (last.Sub(t0).Seconds() + float64(grants[len(grants)-1].n)/tc.limit)
		if achieved < 0.9*tc.limit {
			t.Fatalf("limit %g: a saturating load only reached %g/s", tc.limit, achieved)
		}
		t.Logf("limit %g H/s: %d batches, achieved %.4g H/s", tc.limit, len(grants), achieved)
	}
}

func TestPacedBatch(t *testing.T) {
	for _, tc := range []struct {
		limit float64
		batch uint64
		want  uint64
	}{
		{1e9, 1 << 16, 1 << 16}, // 5 ms of 1 GH/s is more than a batch
		{1e6, 1 << 16, 5000},
		{100, 1 << 16, MinPacedBatch},
		{100, 4, 4}, // never above the configured batch
	} {
		if got := pacedBatch(tc.limit, tc.batch); got != tc.want {
			t.Errorf("pacedBatch(%g, %d) = %d, want %d", tc.limit, tc.batch, got, tc.want)
		}
	}
}

// TestHashrateLimitMiner runs 2 paced workers and checks the same bound on
// the miner's own hash counter over a window that encloses the whole run.
// The window is measured on the wall clock only to bound it from above; the
// assertion is the bucket's guarantee, not a timing.
func TestHashrateLimitMiner(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, time.Now)
	const limit = 2e6
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), PayTo: addr(1), Generate: true, Threads: 2,
		Kernel: newFakeKernel(), HashrateLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if m.batch != 10000 || m.pacer == nil {
		t.Fatalf("paced batch %d", m.batch)
	}
	t0 := time.Now()
	stop := runMiner(t, m)
	testkit.WaitFor(t, waitTimeout, "some paced hashing", func() bool { return m.hashesTotal() >= 200_000 })
	stop()
	elapsed := time.Since(t0)
	got := float64(m.hashesTotal())
	bound := float64(m.batch) + limit*elapsed.Seconds()
	if got > bound {
		t.Fatalf("%g nonces in %v with a limit of %g/s (bound %g)", got, elapsed, float64(limit), bound)
	}
	t.Logf("limit %g/s: %g nonces in %v = %.4g/s", float64(limit), got, elapsed, got/elapsed.Seconds())
}

package stratum

import (
	"math"
	"testing"
	"time"
)

// TestVardiffConverges simulates a miner of fixed hash rate against the
// retarget rule on a synthetic clock: the difficulty must settle near
// rate * interval / 2^32 (one share per interval), in bounded steps.
func TestVardiffConverges(t *testing.T) {
	const hashrate = 50e6 // H/s
	interval := 5 * time.Second
	want := hashrate * interval.Seconds() / hashesPerDiff1
	for _, start := range []float64{1e-5, 0.01, 100} {
		now := time.Unix(1_800_000_000, 0)
		v := vardiff{interval: interval, since: now}
		d := start
		for i := 0; i < 400; i++ {
			// Expected time to the next share at difficulty d.
			now = now.Add(time.Duration(d * hashesPerDiff1 / hashrate * float64(time.Second)))
			v.shares++
			if nd, changed := v.retarget(now, d, 1e-9, math.Inf(1)); changed {
				if nd > d*vardiffStep*1.0001 || nd < d/vardiffStep/1.0001 {
					t.Fatalf("step %v -> %v exceeds x%v", d, nd, vardiffStep)
				}
				d = nd
			}
		}
		if d < want/1.3 || d > want*1.3 {
			t.Fatalf("start %v: settled at %v, want ~%v", start, d, want)
		}
	}
	// No shares at all: the difficulty falls by one step per window and
	// stops at the floor.
	now := time.Unix(1_800_000_000, 0)
	v := vardiff{interval: interval, since: now}
	d := 1.0
	for i := 0; i < 20; i++ {
		now = now.Add(vardiffMaxWindows * interval)
		if nd, changed := v.retarget(now, d, 0.01, math.Inf(1)); changed {
			d = nd
		}
	}
	if d != 0.01 {
		t.Fatalf("idle miner's difficulty %v, want the floor 0.01", d)
	}
}

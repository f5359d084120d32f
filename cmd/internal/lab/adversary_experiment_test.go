package lab

import (
	"math"
	"testing"
	"time"
)

// TestDoubleSpendSimulationMatchesWhitepaper: the exact race agrees with
// the whitepaper's Poisson approximation within a few points, and z = 0
// always succeeds.
func TestDoubleSpendSimulationMatchesWhitepaper(t *testing.T) {
	pts := ExperimentDoubleSpend([]float64{0.1, 0.3}, []int{0, 1, 2, 4}, 4000, 7)
	for _, p := range pts {
		got := float64(p.CatchUp) / float64(p.Trials)
		if p.Z == 0 && got != 1 {
			t.Errorf("q %.1f z 0: %v, want 1", p.Q, got)
		}
		if math.Abs(got-p.Exact) > 0.02 || math.Abs(got-p.Theory) > 0.05 {
			t.Errorf("q %.1f z %d: simulated %.4f, exact %.4f, whitepaper %.4f", p.Q, p.Z, got, p.Exact, p.Theory)
		}
		if p.Withhold > p.CatchUp {
			t.Errorf("q %.1f z %d: the stricter rule succeeded more often", p.Q, p.Z)
		}
	}
	again := ExperimentDoubleSpend([]float64{0.1, 0.3}, []int{0, 1, 2, 4}, 4000, 7)
	for i := range pts {
		if pts[i] != again[i] {
			t.Fatal("the simulation is not deterministic for a seed")
		}
	}
}

func TestParseRoles(t *testing.T) {
	roles := map[int]Role{}
	if err := ParseAdversaries([]string{"2=selfish", "1=withhold:3"}, 4, roles); err != nil {
		t.Fatal(err)
	}
	if err := ParseClockOffsets([]string{"1=3h", "3=-30m"}, 4, roles); err != nil {
		t.Fatal(err)
	}
	if roles[2].Adversary != "selfish" || roles[1].WithholdDepth != 3 || roles[1].ClockOffset != 3*time.Hour || roles[3].ClockOffset != -30*time.Minute {
		t.Fatalf("roles %+v", roles)
	}
	if got := roles[1].String(); got != "withhold:3, clock +3h0m0s" {
		t.Errorf("String %q", got)
	}
	for _, bad := range []string{"4=selfish", "x=selfish", "1=evil", "1=selfish:3", "1=withhold:0", "1"} {
		if err := ParseAdversaries([]string{bad}, 4, map[int]Role{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ParseClockOffsets([]string{"1=soon"}, 4, map[int]Role{}); err == nil {
		t.Error("bad duration accepted")
	}
}

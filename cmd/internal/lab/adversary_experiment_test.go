package lab

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcjson"
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
	spend := map[int]Role{}
	if err := ParseAdversaries([]string{"0=withhold:2:spend", "1=withhold:spend"}, 2, spend); err != nil {
		t.Fatal(err)
	}
	if r := spend[0]; r.WithholdDepth != 2 || !r.WithholdSpend || r.String() != "withhold:2:spend" || !slices.Contains(r.args(), "--withhold-spend") {
		t.Fatalf("withhold:2:spend: %+v %q %v", r, r.String(), r.args())
	}
	if r := spend[1]; r.WithholdDepth != 0 || !r.WithholdSpend {
		t.Fatalf("withhold:spend: %+v", r)
	}
	for _, bad := range []string{"4=selfish", "x=selfish", "1=evil", "1=selfish:3", "1=withhold:0", "1", "1=selfish:spend", "1=withhold:2:sp", "1=withhold:spend:2"} {
		if err := ParseAdversaries([]string{bad}, 4, map[int]Role{}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if err := ParseClockOffsets([]string{"1=soon"}, 4, map[int]Role{}); err == nil {
		t.Error("bad duration accepted")
	}
}

// TestNodeRuleSuccesses: the node's release rule with a give-up is
// deterministic for a seed, z = 0 succeeds exactly when the attacker
// finds the first block after the payment (rate q), and a deeper merchant
// or a shorter give-up never helps the attacker.
func TestNodeRuleSuccesses(t *testing.T) {
	const n = 40000
	r0 := float64(NodeRuleSuccesses(0.3, 0, 5, n, 1)) / n
	// z = 0, depth 1: the release needs private 1 > public 0 or a later
	// lead; from the first public block on, the race is the gambler's
	// ruin of catching up from behind, so the rate is above q.
	if r0 < 0.3 || r0 > 0.5 {
		t.Errorf("z 0: %.3f", r0)
	}
	r1 := float64(NodeRuleSuccesses(0.3, 1, 5, n, 1)) / n
	r2 := float64(NodeRuleSuccesses(0.3, 2, 5, n, 1)) / n
	r1long := float64(NodeRuleSuccesses(0.3, 1, 50, n, 1)) / n
	if r2 >= r1 || r1 > r1long+0.01 {
		t.Errorf("z 1: %.3f, z 2: %.3f, z 1 giving up 50 behind: %.3f", r1, r2, r1long)
	}
	// The simulation's node-rule column (give-up 50) agrees with it.
	sim := ExperimentDoubleSpend([]float64{0.3}, []int{1}, n, 3)[0]
	if d := float64(sim.Withhold)/float64(sim.Trials) - r1long; math.Abs(d) > 0.015 {
		t.Errorf("node rule %.4f, simulation's withhold column %.4f", r1long, float64(sim.Withhold)/float64(sim.Trials))
	}
	if a, b := NodeRuleSuccesses(0.3, 1, 5, 1000, 9), NodeRuleSuccesses(0.3, 1, 5, 1000, 9); a != b {
		t.Errorf("not deterministic for a seed: %d, then %d", a, b)
	}
	var b bytes.Buffer
	PrintDoubleSpendLive(&b, []DoubleSpendLivePoint{{Q: 0.3, Z: 1, Trials: 10, Successes: 2, Lo: 0.057, Hi: 0.51, NodeRule: 0.2, Covered: true,
		Whitepaper: 0.628, BlockTime: 1, GiveUp: 5, NodeRuleTrials: 200000, Errors: []string{"trial 3: boom"}}})
	for _, want := range []string{"0.200", "[0.057, 0.510]", "0.628", "z=1 trial 3: boom", "gives up 5 behind"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// TestWithholdRace: the release rule the simulation and NodeRuleSuccesses
// share. The branch is released at z+1 blocks and strictly longer, which
// wins only once the merchant has shipped; the give-up ends the race lost.
func TestWithholdRace(t *testing.T) {
	r := withholdRace{z: 2, giveUp: 5}
	for _, c := range []struct {
		priv, pub int
		over, won bool
	}{
		{0, 0, false, false},
		{2, 0, false, false}, // z+1 = 3 blocks needed
		{3, 0, true, false},  // released before the merchant shipped
		{3, 1, true, false},
		{3, 2, true, true}, // shipped after 2, branch 3 > 2
		{3, 3, false, false},
		{4, 3, true, true},
		{1, 5, false, false},
		{1, 6, true, false}, // 5 behind: given up
		{0, 5, true, false},
	} {
		if over, won := r.decide(c.priv, c.pub); over != c.over || won != c.won {
			t.Errorf("private %d, public %d: over %v won %v, want %v %v", c.priv, c.pub, over, won, c.over, c.won)
		}
	}
}

// TestAdversaryLineDoubleSpends: status names a double-spending node's
// outcomes and its last payment.
func TestAdversaryLineDoubleSpends(t *testing.T) {
	a := rpcjson.AdversaryInfo{Mode: "withhold", State: "private 0 / public 0 (release at 2)", DoubleSpends: []rpcjson.DoubleSpend{
		{Payment: "aa", Outcome: "abandoned"}, {Payment: "bb", Outcome: "reversed", Confirmations: 1},
		{Payment: "0123456789abcdef", Outcome: "reversed", Confirmations: 2},
	}}
	got := AdversaryLine(0, Role{Adversary: "withhold", WithholdDepth: 2, WithholdSpend: true}, a)
	for _, want := range []string{"node0 withhold:2:spend:", "double spends: 2 reversed, 1 abandoned, 0 failed, 0 pending", "last: payment 01234567 reversed, 2 confirmation(s)"} {
		if !strings.Contains(got, want) {
			t.Errorf("line lacks %q: %s", want, got)
		}
	}
}

// TestSummarizeSelfishOneReplicate: a single lab's interval is the
// Wilson interval of its blocks, so a share far from theory is reported
// as not covered (the mean interval of one value is [0, 1]).
func TestSummarizeSelfishOneReplicate(t *testing.T) {
	p := summarizeSelfish(0.25, []SelfishReplicate{{Blocks: 200, SelfishCount: 150, Share: 0.75}})
	if p.Share != 0.75 || p.Lo <= 0.6 || p.Hi >= 0.9 || p.Covered {
		t.Fatalf("one replicate at 150/200: share %.3f, interval [%.3f, %.3f], covered %v (theory %.3f)", p.Share, p.Lo, p.Hi, p.Covered, p.Theory)
	}
	two := summarizeSelfish(0.25, []SelfishReplicate{{Blocks: 100, SelfishCount: 20, Share: 0.2}, {Blocks: 100, SelfishCount: 30, Share: 0.3}})
	if two.Lo > two.WilsonLo || two.Hi < two.WilsonHi {
		t.Fatalf("two replicates: interval [%.3f, %.3f] narrower than Wilson [%.3f, %.3f]", two.Lo, two.Hi, two.WilsonLo, two.WilsonHi)
	}
}

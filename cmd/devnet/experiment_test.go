package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/cmd/internal/lab/labtest"
)

// TestAdversaryExperiments runs the CI-short versions of the adversary
// experiments against real quarryd processes, and a lab with a selfish
// node whose role the state file records and status reports.
func TestAdversaryExperiments(t *testing.T) {
	bin := labtest.Build(t, "quarryd")
	t.Run("clock-skew", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		steps, err := lab.ExperimentClockSkew(ctx, filepath.Join(t.TempDir(), "clock"), bin, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) != 5 {
			t.Fatalf("%d steps", len(steps))
		}
		if s := steps[0]; s.Verdict != "time-too-new" {
			t.Errorf("3h ahead: %+v, want time-too-new", s)
		}
		if s := steps[1]; !s.Agree {
			t.Errorf("clock fixed: did not rejoin: %+v", s)
		}
		if s := steps[2]; s.MTPSlack != 1 || !strings.HasPrefix(s.Verdict, "accepted") || !s.Agree {
			t.Errorf("1h behind: %+v, want a block at MTP+1, accepted", s)
		}
		if s := steps[3]; s.Verdict != "time-too-old" || s.MTPSlack >= 0 || !strings.Contains(s.Note, "node 2 itself says time-too-old") || !s.Agree {
			t.Errorf("1h behind, clock-stamped: %+v, want refused time-too-old by both nodes, no tip moved", s)
		}
		if s := steps[4]; s.Verdict != "cannot mine" || !strings.Contains(s.Note, "time-too-new") {
			t.Errorf("3h behind: %+v", s)
		}
	})
	t.Run("selfish-lab", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		pts, err := lab.ExperimentSelfish(ctx, t.TempDir(), bin, lab.SelfishOptions{Alphas: []float64{0.4}, Honest: 2, Warmup: 3,
			Blocks: 10, Replicates: 2, BlockTime: 500 * time.Millisecond, Timeout: 2 * time.Minute}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		p := pts[0]
		if len(p.Replicates) != 2 || p.Blocks != 20 || p.Releases == 0 {
			t.Fatalf("selfish run: %+v (want two labs of 10 blocks, with releases)", p)
		}
		if !(p.Lo <= p.Share && p.Share <= p.Hi && p.Lo < p.Hi) || p.HashShare <= 0 {
			t.Fatalf("selfish run: share %.3f, interval [%.3f, %.3f], measured hash share %.3f", p.Share, p.Lo, p.Hi, p.HashShare)
		}
	})
	t.Run("double-spend-live", func(t *testing.T) {
		// The CI-short live double spend: three payments of a 30% attacker
		// waiting one confirmation; every trial must end (reversed on the
		// merchant's chain, or abandoned), none may fail.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		pts, err := lab.ExperimentDoubleSpendLive(ctx, t.TempDir(), bin, lab.DoubleSpendLiveOptions{Q: 0.3, Zs: []int{1}, Trials: 3,
			Timeout: 100 * time.Second, Seed: 1}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if p := pts[0]; p.Trials != 3 || p.Failed != 0 || p.Reversed+p.Abandoned != 3 || p.Successes+p.Early != p.Reversed {
			t.Fatalf("double-spend live: %+v", p)
		}
	})
	t.Run("equivocation", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		trs, err := lab.ExperimentEquivocation(ctx, t.TempDir(), bin, 1, 200000, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if len(trs) != 1 || trs[0].Tip.IsZero() {
			t.Fatalf("trials %+v", trs)
		}
		// The equivocator's three honest peers, sorted by peer ID, were
		// pushed A, B, A.
		if sent := strings.Join(trs[0].Sent, ""); strings.Count(sent, "A") != 2 || strings.Count(sent, "B") != 1 {
			t.Fatalf("twins pushed %q to the nodes, want A to two and B to one", trs[0].Sent)
		}
	})
	t.Run("status-marks-adversary", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		l := labtest.StartLab(t, ctx, bin, lab.UpOptions{N: 3, Seed: "adv", Network: "regtest",
			Roles: map[int]lab.Role{2: {Adversary: "selfish"}, 1: {ClockOffset: 30 * time.Minute}}})
		again, err := lab.OpenLab(l.Dir, bin, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r := again.State.Nodes[2].Role; r.Adversary != "selfish" {
			t.Fatalf("the state file lost the role: %+v", r)
		}
		if _, err := l.Generate(ctx, 2, 2); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		l.PrintStatus(ctx, &out, time.Now())
		for _, want := range []string{"adversaries:", "node2 selfish: state 2 (private 2, public 0)", "withheld 2", "node1 clock +30m0s"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("status lacks %q:\n%s", want, out.String())
			}
		}
	})
}

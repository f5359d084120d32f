package main

import (
	"bytes"
	"context"
	"encoding/json"
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

// devnet runs the program with args and returns its exit status, stdout
// and stderr.
func devnet(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"--dir", t.TempDir()}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestExperimentDispatch: the experiment is the one its name, the
// positional argument, picks, never one whose name is a flag's value, and
// each experiment parses (and documents under --help) its own flags. Only
// the double-spend simulation runs; every other invocation ends before a
// lab would start.
func TestExperimentDispatch(t *testing.T) {
	// "stale-rate" as a flag's value: the simulation runs.
	code, stdout, stderr := devnet(t, "experiment", "double-spend", "--short", "--json", "--z", "stale-rate")
	var pts []lab.DoubleSpendPoint
	if code != 0 || json.Unmarshal([]byte(stdout), &pts) != nil || len(pts) != 10 || pts[0].Trials != 2000 {
		t.Errorf("double-spend --z stale-rate: exit %d, %d points\n%s", code, len(pts), stderr)
	}
	// ... and selfish reads --alphas (a usage error: stale-rate is no share).
	code, _, stderr = devnet(t, "experiment", "selfish", "--alphas", "stale-rate")
	if code != 2 || !strings.Contains(stderr, `--alphas: strconv.ParseFloat: parsing "stale-rate"`) {
		t.Errorf("selfish --alphas stale-rate: exit %d\n%s", code, stderr)
	}
	code, _, stderr = devnet(t, "experiment", "--plot", "stale-rate", "nosuch")
	if code != 2 || !strings.Contains(stderr, `unknown experiment "nosuch"`) || strings.Contains(stderr, "want stale-rate") {
		t.Errorf("--plot stale-rate nosuch: exit %d\n%s", code, stderr)
	}

	// stale-rate's own flags, before or after its name (a bad --delays
	// stops it before any lab).
	for _, args := range [][]string{
		{"experiment", "stale-rate", "--delays", "bogus"},
		{"experiment", "--delays", "bogus", "stale-rate"},
		{"experiment", "--json", "--blocks", "5", "-n", "2", "--keep", "--plot", "x.png", "stale-rate", "--delays", "0,bogus"},
	} {
		if code, _, stderr := devnet(t, args...); code != 2 || !strings.Contains(stderr, `--delays: delay "bogus"`) {
			t.Errorf("%q: exit %d\n%s", args, code, stderr)
		}
	}
	// A flag of the other set is refused, as before.
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"experiment", "stale-rate", "--alphas", "0.1"}, "-alphas"},
		{[]string{"experiment", "--short", "stale-rate"}, "-short"},
		{[]string{"experiment", "selfish", "--delays", "0"}, "-delays"},
	} {
		if code, _, stderr := devnet(t, c.args...); code != 1 || !strings.Contains(stderr, "flag provided but not defined: "+c.flag) {
			t.Errorf("%q: exit %d\n%s", c.args, code, stderr)
		}
	}

	// --help shows the flags of the experiment named, wherever the name is.
	for _, c := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"experiment", "stale-rate", "--help"}, []string{"-delays", "-keep", "block interval of the lab network (default 2s)", "(default 300)"}, []string{"-alphas", "-short"}},
		{[]string{"experiment", "--help", "stale-rate"}, []string{"-delays", "(default 2s)"}, []string{"-alphas"}},
		{[]string{"experiment", "selfish", "-h"}, []string{"-alphas", "-short", "-give-up", "(default 1s)"}, []string{"-delays", "-keep"}},
		{[]string{"experiment", "--help"}, []string{"-alphas"}, []string{"-delays"}},
	} {
		code, _, stderr := devnet(t, c.args...)
		if code != 0 {
			t.Errorf("%q: exit %d", c.args, code)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%q: help lacks %q:\n%s", c.args, w, stderr)
			}
		}
		for _, n := range c.not {
			if strings.Contains(stderr, n) {
				t.Errorf("%q: help shows %q:\n%s", c.args, n, stderr)
			}
		}
	}
}

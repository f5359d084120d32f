package lab

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// The clock-skew experiment (devnet experiment clock-skew) runs three
// regtest nodes (blocks on demand, so every step is exact):
//
//  1. ahead: node 2 runs --clock-offset +3h and mines a block. Its
//     timestamp is 3 h ahead of the other nodes' clocks, beyond regtest's
//     2 h future limit: the block is handed to node 0 with submitblock to
//     read which rule refuses it (BIP22 reason), and the honest nodes'
//     tips are checked to be unchanged after gossip had its chance (an
//     honest block mined after it reaches every node but node 2 stays on
//     its own branch only as long as that branch has more work).
//  2. fixed: node 2 restarts with a true clock; the honest nodes mine two
//     blocks; node 2 reorganises onto them: it rejoined.
//  3. behind 1 h: node 2 restarts with --clock-offset -1h and mines a
//     block. The template's time is max(now, MTP+1): its now is below the
//     median time past, so the block carries MTP+1 and is accepted; the
//     report says the MTP rule bound its timestamp (a miner that ignored
//     the template's mintime would be refused as time-too-old).
//  4. behind 1 h, stamped by the clock: an external miner on node 2's
//     host builds a block from node 2's getblocktemplate but stamps it with
//     the host's (skewed) clock, ignoring mintime, as a miner that trusts
//     its clock would. The timestamp is below the median time past: node 2
//     itself and node 0 refuse it as time-too-old (the MTP rule), and no
//     tip moves.
//  5. behind 3 h: MTP+1 is beyond the node's own future limit (local time
//     + 2 h), so it cannot build a template at all, and it refuses the
//     honest nodes' new blocks as too far in its future: it is stuck
//     until its clock is fixed.

// ClockStep is one phase's outcome.
type ClockStep struct {
	Phase string `json:"phase"`
	// Offset is node 2's clock offset in this phase.
	Offset time.Duration `json:"offset_ns"`
	Block  chain.Hash    `json:"block"`
	// BlockTime is the block's timestamp minus the real time it was
	// mined at; MTPSlack its timestamp minus the parent's median time
	// past.
	BlockAhead time.Duration `json:"block_ahead_ns"`
	MTPSlack   int64         `json:"mtp_slack_s"`
	// Verdict is node 0's submitblock answer ("accepted" or the BIP22
	// reason, e.g. time-too-new) and Rule the consensus rule it names.
	Verdict string `json:"verdict"`
	Rule    string `json:"rule"`
	// Agree says whether every node ended on one tip.
	Agree bool   `json:"agree"`
	Note  string `json:"note"`
}

// ExperimentClockSkew runs the three phases in a fresh lab under dir.
func ExperimentClockSkew(ctx context.Context, dir, bin string, progress io.Writer) ([]ClockStep, error) {
	opts := UpOptions{N: 3, Seed: "clock", Network: "regtest", Attached: true, LogLevel: "warn",
		Roles: map[int]Role{2: {ClockOffset: 3 * time.Hour}}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	l, end, err := startLab(ctx, dir, bin, opts, true, nil)
	if err != nil {
		return nil, err
	}
	defer end()
	// A common history of a few honest blocks (the MTP is now).
	if _, err := l.Generate(ctx, 0, 11); err != nil {
		return nil, err
	}
	if _, err := l.WaitAgreement(ctx); err != nil {
		return nil, err
	}
	var out []ClockStep

	ahead, err := l.skewedBlock(ctx, "ahead", 3*time.Hour)
	if err != nil {
		return out, err
	}
	// An honest block after it: the honest nodes extend their own tip.
	hb, err := l.Generate(ctx, 1, 1)
	if err != nil {
		return out, err
	}
	err = Poll(ctx, pollFast, func() (bool, error) {
		t, err := l.Tips(ctx)
		return err == nil && t[0].Hash == hb[0] && t[1].Hash == hb[0], err
	})
	if err != nil {
		return out, err
	}
	has, _ := l.Header(ctx, 0, ahead.Block)
	ahead.Note = fmt.Sprintf("honest nodes mined on %s without it", short(hb[0]))
	if has.Hash == ahead.Block {
		ahead.Note += " (but node 0 stored it)"
	}
	out = append(out, ahead)
	fmt.Fprintf(progress, "clock-skew: ahead: %s (%s)\n", ahead.Verdict, ahead.Rule)

	// Fixed clock: node 2 restarts honest and must rejoin.
	if err := l.restartWithRole(ctx, 2, Role{}, opts); err != nil {
		return out, err
	}
	if _, err := l.Generate(ctx, 0, 2); err != nil {
		return out, err
	}
	ag, err := l.WaitAgreement(ctx)
	fixed := ClockStep{Phase: "fixed", Verdict: "rejoined", Agree: err == nil}
	if err == nil {
		fixed.Note = fmt.Sprintf("node 2 reorganised onto the honest chain: all on %s height %d", short(ag.Tip), ag.Height)
	} else {
		fixed.Note = err.Error()
	}
	out = append(out, fixed)
	fmt.Fprintf(progress, "clock-skew: fixed: %s\n", fixed.Note)

	// Behind by 1 h: the template's time is MTP+1, accepted.
	if err := l.restartWithRole(ctx, 2, Role{ClockOffset: -time.Hour}, opts); err != nil {
		return out, err
	}
	behind, err := l.skewedBlock(ctx, "behind", -time.Hour)
	if err != nil {
		return out, err
	}
	_, err = l.WaitAgreement(ctx)
	behind.Agree = err == nil
	if behind.MTPSlack == 1 {
		behind.Note = "the template's time was MTP+1: the median-time-past rule bound it, not the clock (the next phase shows a miner that ignores mintime)"
	}
	out = append(out, behind)
	fmt.Fprintf(progress, "clock-skew: behind 1h: %s, %s\n", behind.Verdict, behind.Note)

	// Behind by 1 h, stamped by the clock: a miner on node 2's host that
	// takes its time from the host's clock instead of the template's
	// mintime produces a block below the median time past.
	own, err := l.clockStampBehind(ctx, -time.Hour)
	if err != nil {
		return out, err
	}
	out = append(out, own)
	fmt.Fprintf(progress, "clock-skew: behind 1h, clock-stamped: %s (%s)\n", own.Verdict, own.Note)

	// Behind by 3 h: the earliest valid time, MTP+1, is beyond the node's
	// own future limit: it cannot mine, and it refuses the honest
	// blocks as too far in its future.
	if err := l.restartWithRole(ctx, 2, Role{ClockOffset: -3 * time.Hour}, opts); err != nil {
		return out, err
	}
	far := ClockStep{Phase: "behind", Offset: -3 * time.Hour}
	if _, err := l.Generate(ctx, 2, 1); err != nil {
		far.Verdict = "cannot mine"
		far.Rule = "its own future-time limit: MTP+1 > local time + " + l.params.MaxFutureBlockTime.String()
		far.Note = err.Error()
	} else {
		far.Verdict, far.Rule = "mined", "none fired"
	}
	hb, err = l.Generate(ctx, 0, 1)
	if err != nil {
		return out, err
	}
	raw, err := call[string](ctx, l, 0, "getblock", hb[0], 0)
	if err != nil {
		return out, err
	}
	verdict, err := l.submitVerdict(ctx, 2, raw)
	if err != nil {
		return out, err
	}
	far.Note = fmt.Sprintf("%s; an honest block submitted to node 2: %q", far.Note, verdict)
	out = append(out, far)
	fmt.Fprintf(progress, "clock-skew: behind 3h: %s (%s)\n", far.Verdict, far.Note)
	return out, nil
}

// clockStampBehind runs phase 4: a block from node 2's template stamped
// with node 2's clock (real time + offset), submitted to node 2 and node 0.
func (l *Lab) clockStampBehind(ctx context.Context, offset time.Duration) (ClockStep, error) {
	st := ClockStep{Phase: "behind", Offset: offset}
	before, err := l.Tips(ctx)
	if err != nil {
		return st, err
	}
	at := time.Now()
	b, tmpl, err := l.clockStampedBlock(ctx, 2, at.Add(offset))
	if err != nil {
		return st, err
	}
	st.Block = b.Hash()
	st.BlockAhead = time.Unix(int64(b.Header.Timestamp), 0).Sub(at).Round(time.Second)
	// The template's mintime is the parent's median time past + 1.
	st.MTPSlack = int64(b.Header.Timestamp) - (tmpl.MinTime - 1)
	raw := hex.EncodeToString(b.Bytes())
	self, err := l.submitVerdict(ctx, 2, raw)
	if err != nil {
		return st, err
	}
	if st.Verdict, err = l.submitVerdict(ctx, 0, raw); err != nil {
		return st, err
	}
	st.Rule = l.timeRule(st.Verdict)
	after, err := l.Tips(ctx)
	if err != nil {
		return st, err
	}
	moved := 0
	for i := range after {
		if i < len(before) && after[i].Hash != before[i].Hash {
			moved++
		}
	}
	st.Agree = moved == 0
	st.Note = fmt.Sprintf("stamped by the host clock, below the template's mintime %d; node 2 itself says %s; tips moved on %d nodes",
		tmpl.MinTime, self, moved)
	return st, nil
}

// skewedBlock mines one block on node 2 and asks node 0's verdict on it.
func (l *Lab) skewedBlock(ctx context.Context, phase string, offset time.Duration) (ClockStep, error) {
	st := ClockStep{Phase: phase, Offset: offset}
	at := time.Now()
	hs, err := l.Generate(ctx, 2, 1)
	if err != nil {
		return st, err
	}
	st.Block = hs[0]
	hdr, err := l.Header(ctx, 2, st.Block)
	if err != nil {
		return st, err
	}
	st.BlockAhead = time.Unix(int64(hdr.Time), 0).Sub(at).Round(time.Second)
	parent, err := l.Header(ctx, 2, *hdr.PreviousBlockHash)
	if err != nil {
		return st, err
	}
	st.MTPSlack = int64(hdr.Time) - parent.MedianTime
	raw, err := call[string](ctx, l, 2, "getblock", st.Block, 0)
	if err != nil {
		return st, err
	}
	if st.Verdict, err = l.submitVerdict(ctx, 0, raw); err != nil {
		return st, err
	}
	if st.Verdict == "duplicate" {
		st.Verdict = "accepted (already relayed)"
	}
	st.Rule = l.timeRule(st.Verdict)
	return st, nil
}

// timeRule names the consensus rule behind a submitblock answer about a
// block's time ("none fired" for an accepted block).
func (l *Lab) timeRule(verdict string) string {
	switch verdict {
	case "time-too-new":
		return fmt.Sprintf("future-time limit (local time + %s)", l.params.MaxFutureBlockTime)
	case "time-too-old":
		return "median time past of the last 11 blocks"
	case "accepted", "accepted (already relayed)":
		return "none fired"
	}
	return ""
}

// restartWithRole stops node i, gives it role and starts it again.
func (l *Lab) restartWithRole(ctx context.Context, i int, role Role, opts UpOptions) error {
	if p := l.procs[i]; p != nil {
		p.Stop(10 * time.Second)
		delete(l.procs, i)
	}
	l.State.Nodes[i].PID = 0
	l.State.Nodes[i].Role = role
	if err := l.Save(); err != nil {
		return err
	}
	return l.Up(ctx, opts)
}

// PrintClockSkew writes the report.
func PrintClockSkew(w io.Writer, steps []ClockStep) {
	for _, s := range steps {
		fmt.Fprintf(w, "%-7s offset %-6s", s.Phase, fmtOffset(s.Offset))
		if s.Block != (chain.Hash{}) {
			fmt.Fprintf(w, " block %s stamped %s from real time, MTP%+ds: node 0 says %s -> rule: %s", short(s.Block), fmtOffset(s.BlockAhead), s.MTPSlack, s.Verdict, s.Rule)
		} else if s.Rule != "" {
			fmt.Fprintf(w, " %s -> rule: %s", s.Verdict, s.Rule)
		} else {
			fmt.Fprintf(w, " %s", s.Verdict)
		}
		if s.Note != "" {
			fmt.Fprintf(w, "; %s", s.Note)
		}
		fmt.Fprintln(w)
	}
}

func fmtOffset(d time.Duration) string {
	if d > 0 {
		return "+" + d.String()
	}
	return d.String()
}

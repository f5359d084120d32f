package lab

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The equivocation experiment (devnet experiment equivocation) runs a dev
// lab of four mining nodes, node 3 with --adversary equivocate and half of
// the hash rate (so that it often finds the second block of a height
// before anyone else). The equivocator pushes twin A to half of its peers
// and twin B to the other half (sorted peer IDs, alternately), and each
// receiver relays its twin on gossip. Each trial waits for a pair of twins
// (getadversaryinfo twinsends), records which node was sent which twin and
// which twin each node's main chain holds right then (the twin it saw
// first: the twins have equal work, so a node keeps the first), and
// measures the time from then to every node being on one tip at least one
// block above the twins: the network converges when the next block makes
// one twin's branch heavier.

// EquivocationTrial is one pair of twins.
type EquivocationTrial struct {
	Height uint64     `json:"height"`
	TwinA  chain.Hash `json:"twin_a"`
	TwinB  chain.Hash `json:"twin_b"`
	// Sent[i] is the twin node i was pushed ("A" or "B"; "" for none, the
	// equivocator itself included).
	Sent []string `json:"sent"`
	// Seen[i] is the twin on node i's main chain when the twins were
	// found ("A", "B", "-" for a node still below the twins' height,
	// "other" for another block at that height).
	Seen []string `json:"seen"`
	// Split: some honest node was on twin A and another on twin B.
	Split bool `json:"split"`
	// Distinct is the number of distinct tips among the nodes then.
	Distinct    int           `json:"distinct_tips"`
	Convergence time.Duration `json:"convergence_ns"`
	Tip         chain.Hash    `json:"tip"`
	// Winner is the twin on the common chain ("A", "B" or "other").
	Winner string `json:"winner"`
}

// equivocator is the lab index of the equivocating node.
const equivocator = 3

// ExperimentEquivocation runs trials in a fresh lab under dir.
func ExperimentEquivocation(ctx context.Context, dir, bin string, trials int, total float64, progress io.Writer) ([]EquivocationTrial, error) {
	opts := UpOptions{N: 4, Seed: "equivocation", Network: "dev", Shares: []float64{50.0 / 3, 50.0 / 3, 50.0 / 3, 50},
		TotalHashrate: total, Mine: true, Attached: true, LogLevel: "warn", Roles: map[int]Role{equivocator: {Adversary: "equivocate"}}}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(trials)*3*time.Minute+time.Minute)
	defer cancel()
	l, end, err := startLab(ctx, dir, bin, opts, true, nil)
	if err != nil {
		return nil, err
	}
	defer end()
	var out []EquivocationTrial
	var lastHeight uint64
	for len(out) < trials {
		var sends []rpcjson.TwinSend
		var twinsAt time.Time
		err := Poll(ctx, pollFast, func() (bool, error) {
			a, err := l.AdversaryInfo(ctx, equivocator)
			if err != nil {
				return false, err
			}
			sends = latestTwinSends(a.TwinSends)
			if len(sends) > 0 && sends[0].Height > lastHeight {
				twinsAt = time.Now()
				return true, nil
			}
			return false, nil
		})
		if err != nil {
			return out, err
		}
		tr, err := equivocationSeen(ctx, l, sends)
		if err != nil {
			return out, err
		}
		err = Poll(ctx, pollFast, func() (bool, error) {
			t, err := l.Tips(ctx)
			if err != nil {
				return false, err
			}
			for _, x := range t[1:] {
				if x.Hash != t[0].Hash {
					return false, nil
				}
			}
			if t[0].Height > tr.Height {
				// Twins found before this point are not trials: the
				// network was not at rest when they appeared.
				tr.Tip, lastHeight = t[0].Hash, t[0].Height
				return true, nil
			}
			return false, nil
		})
		if err != nil {
			return out, err
		}
		tr.Convergence = time.Since(twinsAt)
		tr.Winner = "other"
		if h, err := l.HashAt(ctx, 0, tr.Height); err == nil {
			tr.Winner = tr.which(h)
		}
		out = append(out, tr)
		fmt.Fprintf(progress, "equivocation: %s\n", tr.line())
	}
	return out, nil
}

// latestTwinSends returns the deliveries of the latest equivocation.
func latestTwinSends(all []rpcjson.TwinSend) []rpcjson.TwinSend {
	if len(all) == 0 {
		return nil
	}
	h := all[len(all)-1].Height
	i := len(all)
	for i > 0 && all[i-1].Height == h {
		i--
	}
	return all[i:]
}

// equivocationSeen records who was sent which twin and which twin each
// node's main chain holds now.
func equivocationSeen(ctx context.Context, l *Lab, sends []rpcjson.TwinSend) (EquivocationTrial, error) {
	n := l.N()
	tr := EquivocationTrial{Height: sends[0].Height, Sent: make([]string, n), Seen: make([]string, n)}
	for _, s := range sends {
		h, err := chain.ParseHash(s.Twin)
		if err != nil {
			return tr, err
		}
		if s.Which == "A" {
			tr.TwinA = h
		} else {
			tr.TwinB = h
		}
		if i := l.nodeByPeerID(s.Peer); i >= 0 && s.Error == "" {
			tr.Sent[i] = s.Which
		}
	}
	tips, err := l.Tips(ctx)
	if err != nil {
		return tr, err
	}
	distinct := map[chain.Hash]bool{}
	onA, onB := false, false
	for i, t := range tips {
		distinct[t.Hash] = true
		tr.Seen[i] = "-"
		if t.Height < tr.Height {
			continue
		}
		h := t.Hash
		if t.Height > tr.Height {
			if h, err = l.HashAt(ctx, i, tr.Height); err != nil {
				return tr, err
			}
		}
		tr.Seen[i] = tr.which(h)
		if i != equivocator {
			onA = onA || tr.Seen[i] == "A"
			onB = onB || tr.Seen[i] == "B"
		}
	}
	tr.Distinct, tr.Split = len(distinct), onA && onB
	return tr, nil
}

// which names h as twin A or B, or "other".
func (t EquivocationTrial) which(h chain.Hash) string {
	switch h {
	case t.TwinA:
		return "A"
	case t.TwinB:
		return "B"
	}
	return "other"
}

// line describes a trial on one line.
func (t EquivocationTrial) line() string {
	var sent, seen []string
	for i := range t.Sent {
		if t.Sent[i] != "" {
			sent = append(sent, fmt.Sprintf("node%d %s", i, t.Sent[i]))
		}
		if i != equivocator {
			seen = append(seen, fmt.Sprintf("node%d %s", i, t.Seen[i]))
		}
	}
	split := "no split"
	if t.Split {
		split = "split"
	}
	tips := "tips"
	if t.Distinct == 1 {
		tips = "tip"
	}
	return fmt.Sprintf("twins at height %d (A %s, B %s): pushed %s; honest chains then: %s (%s, %d %s); one tip after %s on %s (%s)",
		t.Height, short(t.TwinA), short(t.TwinB), strings.Join(sent, ", "), strings.Join(seen, ", "), split, t.Distinct, tips,
		FormatDuration(t.Convergence), winnerText(t.Winner), short(t.Tip))
}

func winnerText(w string) string {
	if w == "other" {
		return "another block at that height"
	}
	return "twin " + w
}

// PrintEquivocation writes the trials, how often the network split, and
// the median and maximum time to convergence.
func PrintEquivocation(w io.Writer, trs []EquivocationTrial) {
	var ds []time.Duration
	splits := 0
	for i, t := range trs {
		fmt.Fprintf(w, "trial %d: %s\n", i+1, t.line())
		ds = append(ds, t.Convergence)
		if t.Split {
			splits++
		}
	}
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Fprintf(w, "the honest nodes split between the twins in %d of %d trials; time to convergence: median %s, max %s (dev target spacing %s)\n",
		splits, len(trs), FormatDuration(ds[len(ds)/2]), FormatDuration(ds[len(ds)-1]), chain.DevParams().TargetSpacing)
}

package lab

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// The equivocation experiment (devnet experiment equivocation) runs a dev
// lab of four mining nodes, node 3 with --adversary equivocate and half of
// the hash rate (so that it often finds the second block of a height
// before anyone else). Each trial waits for the equivocator to announce a
// pair of twins (getadversaryinfo twins grows), records how the nodes'
// tips split right then, and measures the time from the announcement seen
// to every node being on one tip at least one block above the twins: the
// network converges when the next block makes one twin's branch heavier.

// EquivocationTrial is one pair of twins.
type EquivocationTrial struct {
	Height uint64 `json:"height"`
	// Split is the number of distinct tips among the nodes when the twins
	// were seen (2 or more: the network split between them).
	Split       int           `json:"split"`
	Convergence time.Duration `json:"convergence_ns"`
	Tip         chain.Hash    `json:"tip"`
}

// ExperimentEquivocation runs trials in a fresh lab under dir.
func ExperimentEquivocation(ctx context.Context, dir, bin string, trials int, total float64, progress io.Writer) ([]EquivocationTrial, error) {
	opts := UpOptions{N: 4, Seed: "equivocation", Network: "dev", Shares: []float64{50.0 / 3, 50.0 / 3, 50.0 / 3, 50},
		TotalHashrate: total, Mine: true, Attached: true, LogLevel: "warn", Roles: map[int]Role{3: {Adversary: "equivocate"}}}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(trials)*3*time.Minute+time.Minute)
	defer cancel()
	l, end, err := startLab(ctx, dir, bin, opts, true, nil)
	if err != nil {
		return nil, err
	}
	defer end()
	var out []EquivocationTrial
	var seen uint64
	for len(out) < trials {
		var twinsAt time.Time
		err := Poll(ctx, pollFast, func() (bool, error) {
			a, err := l.AdversaryInfo(ctx, 3)
			if err != nil {
				return false, err
			}
			if a.Twins > seen {
				seen, twinsAt = a.Twins, time.Now()
				return true, nil
			}
			return false, nil
		})
		if err != nil {
			return out, err
		}
		tips, err := l.Tips(ctx)
		if err != nil {
			return out, err
		}
		tr := EquivocationTrial{Height: tips[3].Height}
		distinct := map[chain.Hash]bool{}
		for _, t := range tips {
			distinct[t.Hash] = true
		}
		tr.Split = len(distinct)
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
				tr.Tip = t[0].Hash
				return true, nil
			}
			return false, nil
		})
		if err != nil {
			return out, err
		}
		tr.Convergence = time.Since(twinsAt)
		out = append(out, tr)
		fmt.Fprintf(progress, "equivocation: twins at height %d, %d tips, converged in %s\n", tr.Height, tr.Split, FormatDuration(tr.Convergence))
	}
	return out, nil
}

// PrintEquivocation writes the trials and the median and maximum time to
// convergence.
func PrintEquivocation(w io.Writer, trs []EquivocationTrial) {
	var ds []time.Duration
	for i, t := range trs {
		fmt.Fprintf(w, "trial %d: twins at height %d, %d distinct tips when seen, one tip after %s (%s)\n", i+1, t.Height, t.Split, FormatDuration(t.Convergence), short(t.Tip))
		ds = append(ds, t.Convergence)
	}
	if len(ds) == 0 {
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Fprintf(w, "time to convergence over %d trials: median %s, max %s (dev target spacing %s)\n",
		len(ds), FormatDuration(ds[len(ds)/2]), FormatDuration(ds[len(ds)-1]), chain.DevParams().TargetSpacing)
}

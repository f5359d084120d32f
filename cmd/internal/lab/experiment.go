package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quarrychain/quarry/node/adversary"
)

// StaleRateModel states the model the stale-rate experiment compares
// its measurements with; the experiment prints it beside the table.
const StaleRateModel = `Model (Decker and Wattenhofer, 2013): a block found at time 0 reaches the
other miners after the one-way delay d; block discovery is a Poisson
process with mean interval T, so the chance that another miner finds a
competing block before the first arrives is 1 - e^(-d/T). The lab's
topology is a full mesh, so every block travels one shaped link (d is the
link delay; validation and relay add a little). Miners holding the
fraction 1/N of the hash power each would see only (N-1)/N of the rate,
1 - e^(-(N-1)d/(NT)); "theory" uses the textbook form with the measured
mean interval T, "theory(N)" the corrected one. "rate" is the fraction of
mined blocks (the nodes' quarry_miner_blocks_found_total) that are not in
the final main chain, with a 95% Wilson score interval.`

// StaleRateOptions configure StaleRate.
type StaleRateOptions struct {
	// Delays are the one-way link delays to measure, one fresh lab each.
	Delays []time.Duration
	// BlockTime is the target block interval (a dev-derived network,
	// DevParamsWithBlockTime); Blocks the main-chain height each run mines
	// to.
	BlockTime time.Duration
	Blocks    int
	// N is the number of mining nodes (default 4), each with an equal
	// share; they form a full mesh of shaped links.
	N    int
	Seed string
	// Dir is the parent directory of the runs' labs (removed after each
	// run unless Keep); Bin holds quarryd; Devnet is the devnet program
	// (detached labs' proxy daemon).
	Dir, Bin, Devnet string
	Keep             bool
	Attached         bool
	// Progress receives a line per run and a status line now and then.
	Progress io.Writer
}

// StalePoint is the measurement at one delay.
type StalePoint struct {
	Delay     time.Duration `json:"delay_ns"`
	BlockTime time.Duration `json:"block_time_ns"`
	// MeanInterval is the measured time per main-chain block.
	MeanInterval time.Duration `json:"mean_interval_ns"`
	Nodes        int           `json:"nodes"`
	Mined        int           `json:"mined"`
	Main         int           `json:"main"`
	Stale        int           `json:"stale"`
	Rate         float64       `json:"rate"`
	Lo           float64       `json:"ci95_lo"`
	Hi           float64       `json:"ci95_hi"`
	// Theory is 1 - e^(-d/T) with T the measured mean interval;
	// TheoryN the (N-1)/N form.
	Theory  float64 `json:"theory"`
	TheoryN float64 `json:"theory_n"`
	// Inside reports whether Theory lies in [Lo, Hi], InsideN whether
	// TheoryN does.
	Inside  bool          `json:"theory_inside_ci"`
	InsideN bool          `json:"theory_n_inside_ci"`
	Elapsed time.Duration `json:"elapsed_ns"`
}

// Wilson returns the 95% Wilson score interval of k successes in n
// trials.
func Wilson(k, n int) (lo, hi float64) { return adversary.Wilson(k, n, 1.959963984540054) }

// StaleRate runs one lab per delay: N nodes on a full mesh of links with
// that one-way delay, mining a dev-derived chain with the block interval
// until the main chain is Blocks long; then it stops the miners, waits
// for agreement and counts the mined blocks that are not on the main
// chain. The total hash rate is set so that the network's easiest
// difficulty (about 65,536 hashes a block) gives the block interval, so
// the chain runs at its interval from the first block.
func StaleRate(ctx context.Context, opts StaleRateOptions) ([]StalePoint, error) {
	if opts.N == 0 {
		opts.N = 4
	}
	if opts.Blocks < 2 || opts.BlockTime <= 0 || len(opts.Delays) == 0 {
		return nil, errors.New("stale-rate: want delays, a block time and at least 2 blocks")
	}
	if opts.Seed == "" {
		opts.Seed = "stale-rate"
	}
	var out []StalePoint
	for k, d := range opts.Delays {
		dir := filepath.Join(opts.Dir, "delay-"+strconv.Itoa(k))
		pt, err := staleRun(ctx, opts, d, dir)
		if !opts.Keep {
			_ = os.RemoveAll(dir)
		}
		if err != nil {
			return out, fmt.Errorf("delay %s: %w", d, err)
		}
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, "delay %s: %d mined, %d stale (%.1f%%), mean interval %s, %s\n",
				d, pt.Mined, pt.Stale, 100*pt.Rate, pt.MeanInterval.Round(time.Millisecond), pt.Elapsed.Round(time.Second))
		}
		out = append(out, pt)
	}
	return out, nil
}

func staleRun(ctx context.Context, opts StaleRateOptions, d time.Duration, dir string) (StalePoint, error) {
	pt := StalePoint{Delay: d, BlockTime: opts.BlockTime, Nodes: opts.N}
	hashrate := floorHashrate(opts.BlockTime)
	up := UpOptions{N: opts.N, Seed: opts.Seed, Network: "dev", BlockTime: opts.BlockTime, Mine: true,
		TotalHashrate: hashrate, Topology: "mesh", Shaped: true, LinkDelay: d, Attached: opts.Attached,
		Devnet: opts.Devnet, LogLevel: "warn"}
	start := time.Now()
	l, end, err := startLab(ctx, dir, opts.Bin, up, false, nil)
	if err != nil {
		return pt, err
	}
	defer end()
	mineStart := time.Now() // the nodes mine from their start; Up takes well under a block interval
	lastReport := time.Now()
	err = Poll(ctx, 500*time.Millisecond, func() (bool, error) {
		si, err := l.StateInfo(ctx, 0)
		if err != nil {
			return false, err
		}
		if opts.Progress != nil && time.Since(lastReport) > 30*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(opts.Progress, "  delay %s: height %d of %d\n", d, si.Height, opts.Blocks)
		}
		return si.Height >= uint64(opts.Blocks), nil
	})
	if err != nil {
		return pt, err
	}
	for i := 0; i < l.N(); i++ {
		if _, err := call[json.RawMessage](ctx, l, i, "setgenerate", false); err != nil {
			return pt, err
		}
	}
	mineEnd := time.Now()
	actx, cancel := context.WithTimeout(ctx, 15*time.Second+4*d)
	a, err := l.WaitAgreement(actx)
	cancel()
	if err != nil && ctx.Err() == nil {
		// Two branches of equal work when the miners stopped: nothing
		// breaks the tie but a next block, as on a live network. Node 0
		// mines it (counted as mined and on the main chain, so the stale
		// count is unchanged).
		if _, gerr := l.Generate(ctx, 0, 1); gerr != nil {
			return pt, fmt.Errorf("nodes did not agree after mining stopped (%v), and the tie-breaking block failed: %w", err, gerr)
		}
		actx, cancel := context.WithTimeout(ctx, 60*time.Second)
		a, err = l.WaitAgreement(actx)
		cancel()
	}
	if err != nil {
		return pt, fmt.Errorf("nodes did not agree after mining stopped: %w", err)
	}
	for i := 0; i < l.N(); i++ {
		v, err := l.Metric(ctx, i, "quarry_miner_blocks_found_total")
		if err != nil {
			return pt, err
		}
		pt.Mined += int(v)
	}
	pt.Main = int(a.Height)
	pt.Stale = max(pt.Mined-pt.Main, 0)
	pt.Elapsed = time.Since(start)
	pt.MeanInterval = mineEnd.Sub(mineStart) / time.Duration(max(pt.Main, 1))
	pt.Rate = float64(pt.Stale) / float64(max(pt.Mined, 1))
	pt.Lo, pt.Hi = Wilson(pt.Stale, pt.Mined)
	T := pt.MeanInterval.Seconds()
	pt.Theory = 1 - math.Exp(-d.Seconds()/T)
	pt.TheoryN = 1 - math.Exp(-float64(opts.N-1)/float64(opts.N)*d.Seconds()/T)
	pt.Inside = pt.Theory >= pt.Lo && pt.Theory <= pt.Hi
	pt.InsideN = pt.TheoryN >= pt.Lo && pt.TheoryN <= pt.Hi
	return pt, nil
}

// PrintStaleRate writes the experiment's table and model.
func PrintStaleRate(w io.Writer, pts []StalePoint) {
	fmt.Fprintf(w, "%-8s %-6s %-9s %6s %5s %5s  %-7s %-17s %-7s %-9s %s\n",
		"delay", "T", "mean T", "mined", "main", "stale", "rate", "95% CI (Wilson)", "theory", "theory(N)", "in CI: theory, theory(N)")
	for _, p := range pts {
		fmt.Fprintf(w, "%-8s %-6s %-9s %6d %5d %5d  %6.2f%% [%6.2f%%, %6.2f%%] %6.2f%% %8.2f%%  %s, %s\n",
			p.Delay, p.BlockTime, p.MeanInterval.Round(time.Millisecond), p.Mined, p.Main, p.Stale,
			100*p.Rate, 100*p.Lo, 100*p.Hi, 100*p.Theory, 100*p.TheoryN, yesNo(p.Inside), yesNo(p.InsideN))
	}
	fmt.Fprintf(w, "\n%s\n", StaleRateModel)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

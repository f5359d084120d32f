package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// experimentUsage lists the experiments.
const experimentUsage = `experiments (scripts/devnet experiment NAME [--json] [--plot out.png] [--short]):
  selfish       revenue share of a selfish node vs its hash share, beside Eyal and Sirer's closed form
                [--alphas 0.1,0.25,0.33,0.4,0.45] [--replicates 5] [--block-time 1s] [--blocks 60] [--warmup 10]
                [--honest 3] [--total-hashrate H (default: the floor-difficulty rate for --block-time)]
  double-spend  success rate of the withhold state machine vs the whitepaper's P(q,z) (seeded simulation)
                [--trials 20000] [--seed 1]
                --live: the attack on real nodes (a --withhold-spend attacker with share q pays a merchant
                waiting z confirmations, one fresh payment per trial) [--q 0.3] [--z 1,2] [--trials 30]
                [--block-time 1s] [--give-up 5] [--honest 2]
  clock-skew    a node 3 h ahead, then a node 3 h behind: which rule refused their blocks
  equivocation  twin blocks at one height: time until every node is on one tip [--trials 5]
  stale-rate    stale blocks per link delay (shaped full-mesh labs) beside 1 - e^(-d/T); flags of its own, no --short:
                [--delays 0,100ms,250ms,500ms] [--block-time 2s] [--blocks 300] [-n 4] [--keep]`

// experimentFlags are the flags of `devnet experiment`. stale-rate has
// flags of its own (its labs are shaped meshes, and its defaults for
// --block-time and --blocks are not the adversary experiments'); the
// adversary experiments share one set, each flag's help naming the
// experiments that read it. registerExperimentFlags registers one of the
// two sets; the fields of the other keep their zero values.
type experimentFlags struct {
	// Both sets.
	asJSON    bool
	plotPath  string
	blockTime time.Duration
	blocks    int
	// stale-rate's.
	delays string
	n      int
	keep   bool
	// The adversary experiments'.
	short, live                                bool
	alphas, liveZ                              string
	warmup, honest, replicates, trials, giveUp int
	total, liveQ                               float64
	timeout                                    time.Duration
	seed                                       int64
}

// registerExperimentFlags registers on fs the flags of the experiment
// name: stale-rate's own, or (any other name, or none) the adversary
// experiments'.
func registerExperimentFlags(fs *flag.FlagSet, name string) *experimentFlags {
	f := &experimentFlags{}
	if name == "stale-rate" {
		fs.StringVar(&f.delays, "delays", "0,100ms,250ms,500ms", "comma-separated one-way link delays, one lab each")
		fs.DurationVar(&f.blockTime, "block-time", 2*time.Second, "block interval of the lab network")
		fs.IntVar(&f.blocks, "blocks", 300, "main-chain blocks to mine per delay")
		fs.IntVar(&f.n, "n", 4, "mining nodes (full mesh, equal shares)")
		fs.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
		fs.StringVar(&f.plotPath, "plot", "", "save a chart of measurement and theory (.png, .svg or .pdf)")
		fs.BoolVar(&f.keep, "keep", false, "keep the labs' directories")
		return f
	}
	fs.BoolVar(&f.asJSON, "json", false, "print the results as JSON")
	fs.StringVar(&f.plotPath, "plot", "", "write a figure (PNG, SVG or PDF by extension)")
	fs.BoolVar(&f.short, "short", false, "a short run for CI")
	fs.StringVar(&f.alphas, "alphas", "0.1,0.25,0.33,0.4,0.45", "selfish: hash shares of the selfish node")
	fs.IntVar(&f.blocks, "blocks", 60, "selfish: main-chain blocks counted per lab")
	fs.IntVar(&f.warmup, "warmup", 10, "selfish: blocks before counting starts")
	fs.IntVar(&f.honest, "honest", 3, "selfish: honest nodes")
	fs.IntVar(&f.replicates, "replicates", 5, "selfish: independent labs per alpha (the interval comes from their spread)")
	fs.DurationVar(&f.blockTime, "block-time", time.Second, "selfish, double-spend --live: block interval of the labs' dev-derived chain (selfish: 0 is dev's own)")
	fs.Float64Var(&f.total, "total-hashrate", 0, "total hash rate in H/s (selfish: default the floor-difficulty rate for --block-time, 400000 without; equivocation: default 400000)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Minute, "bound on each run")
	fs.IntVar(&f.trials, "trials", 0, "double-spend: trials per (q, z) (default 20000); equivocation: trials (default 5)")
	fs.Int64Var(&f.seed, "seed", 1, "double-spend: simulation seed")
	fs.BoolVar(&f.live, "live", false, "double-spend: run the attack on real nodes instead of the simulation")
	fs.Float64Var(&f.liveQ, "q", 0.3, "double-spend --live: the attacker's hash share")
	fs.StringVar(&f.liveZ, "z", "1,2", "double-spend --live: the merchant's confirmations, one lab each")
	fs.IntVar(&f.giveUp, "give-up", 5, "double-spend --live: the attacker abandons its branch this far behind")
	return f
}

// experimentName returns the experiment that args name: their first
// positional argument as the flag parser reads them with the flags of
// every experiment (so that a flag's value, such as --plot stale-rate, is
// never taken for the name), or "" if there is none. The name picks the
// flags that the experiment's own parse then reads args with. A flag this
// parse rejects is skipped: the experiment's own parse reports it.
func experimentName(args []string) string {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	all.SetOutput(io.Discard)
	all.Bool("h", false, "") // --help before the name: the name picks the help shown
	all.Bool("help", false, "")
	for _, name := range []string{"stale-rate", ""} {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		(&globals{}).register(fs)
		registerExperimentFlags(fs, name)
		// A flag of both sets has one type in both, so which set's
		// copy is taken does not change how it parses.
		fs.VisitAll(func(f *flag.Flag) {
			if all.Lookup(f.Name) == nil {
				all.Var(f.Value, f.Name, f.Usage)
			}
		})
	}
	for len(args) > 0 {
		err := all.Parse(args)
		rest := all.Args()
		if err == nil {
			if len(rest) == 0 {
				return ""
			}
			return rest[0]
		}
		if len(rest) == len(args) { // bad flag syntax: the flag parser did not consume it
			rest = rest[1:]
		}
		args = rest
	}
	return ""
}

// experiment runs one experiment in fresh labs: the adversary experiments
// under the lab directory, stale-rate in a temporary directory.
func (c *command) experiment(ctx context.Context, rest []string) error {
	f := registerExperimentFlags(c.fs, experimentName(rest))
	pos, err := c.args(rest, 1, "an experiment name\n"+experimentUsage)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.g.dir, "experiments")
	var result any
	switch pos[0] {
	case "stale-rate":
		return c.staleRate(ctx, f)
	case "selfish":
		o := lab.SelfishOptions{Honest: f.honest, Warmup: f.warmup, Blocks: f.blocks, Replicates: f.replicates, BlockTime: f.blockTime,
			TotalHashrate: f.total, Timeout: f.timeout}
		if o.BlockTime == 0 && o.TotalHashrate == 0 {
			o.TotalHashrate = 400000
		}
		if o.Alphas, err = parseFloats(f.alphas); err != nil {
			return usagef("--alphas: %v", err)
		}
		if f.short {
			o.Alphas, o.Warmup, o.Blocks, o.Honest, o.Replicates = []float64{0.4}, 5, 10, 2, 2
		}
		pts, err := lab.ExperimentSelfish(ctx, dir, c.g.bin, o, c.stderr)
		if err != nil {
			return err
		}
		if f.plotPath != "" {
			if err := lab.PlotSelfish(f.plotPath, pts); err != nil {
				return err
			}
		}
		if !f.asJSON {
			lab.PrintSelfish(c.stdout, pts)
		}
		result = pts
	case "double-spend":
		if f.live {
			o := lab.DoubleSpendLiveOptions{Q: f.liveQ, Trials: f.trials, Honest: f.honest, BlockTime: f.blockTime, GiveUp: f.giveUp,
				Timeout: f.timeout, Seed: f.seed}
			o.Honest = 2 // selfish's default of 3 is not this experiment's
			c.fs.Visit(func(set *flag.Flag) {
				if set.Name == "honest" {
					o.Honest = f.honest
				}
			})
			zs, err := parseFloats(f.liveZ)
			if err != nil {
				return usagef("--z: %v", err)
			}
			for _, z := range zs {
				o.Zs = append(o.Zs, int(z))
			}
			if o.Trials == 0 {
				o.Trials = 30
			}
			if f.short {
				o.Zs, o.Trials = []int{1}, 3
			}
			pts, err := lab.ExperimentDoubleSpendLive(ctx, dir, c.g.bin, o, c.stderr)
			if !f.asJSON {
				lab.PrintDoubleSpendLive(c.stdout, pts)
			}
			if err != nil {
				return err
			}
			result = pts
			break
		}
		n := f.trials
		if n == 0 {
			n = 20000
		}
		if f.short {
			n = 2000
		}
		pts := lab.ExperimentDoubleSpend([]float64{0.1, 0.3}, []int{0, 1, 2, 3, 4}, n, f.seed)
		if f.plotPath != "" {
			series := map[string]plotter.XYs{}
			var order []string
			for _, p := range pts {
				sim, th := fmt.Sprintf("simulated q=%.1f", p.Q), fmt.Sprintf("whitepaper P(q=%.1f, z)", p.Q)
				if _, ok := series[sim]; !ok {
					order = append(order, sim, th)
				}
				series[sim] = append(series[sim], plotter.XY{X: float64(p.Z), Y: float64(p.CatchUp) / float64(p.Trials)})
				series[th] = append(series[th], plotter.XY{X: float64(p.Z), Y: p.Theory})
			}
			if err := lab.PlotXY(f.plotPath, "Double spend: attacker success vs confirmations", "confirmations z", "success probability", series, order); err != nil {
				return err
			}
		}
		if !f.asJSON {
			lab.PrintDoubleSpend(c.stdout, pts)
		}
		result = pts
	case "clock-skew":
		steps, err := lab.ExperimentClockSkew(ctx, filepath.Join(dir, "clock-skew"), c.g.bin, c.stderr)
		if err != nil {
			return err
		}
		if !f.asJSON {
			lab.PrintClockSkew(c.stdout, steps)
		}
		result = steps
	case "equivocation":
		n := f.trials
		if n == 0 {
			n = 5
		}
		if f.short {
			n = 1
		}
		eqTotal := f.total
		if eqTotal == 0 {
			eqTotal = 400000
		}
		trs, err := lab.ExperimentEquivocation(ctx, filepath.Join(dir, "equivocation"), c.g.bin, n, eqTotal, c.stderr)
		if err != nil {
			return err
		}
		if f.plotPath != "" {
			xy := plotter.XYs{}
			for i, t := range trs {
				xy = append(xy, plotter.XY{X: float64(i + 1), Y: t.Convergence.Seconds()})
			}
			if err := lab.PlotXY(f.plotPath, "Equivocation: time to one tip", "trial", "seconds", map[string]plotter.XYs{"convergence": xy}, []string{"convergence"}); err != nil {
				return err
			}
		}
		if !f.asJSON {
			lab.PrintEquivocation(c.stdout, trs)
		}
		result = trs
	default:
		return usagef("unknown experiment %q\n%s", pos[0], experimentUsage)
	}
	if f.asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	if f.plotPath != "" {
		fmt.Fprintf(c.stdout, "figure: %s\n", f.plotPath)
	}
	return nil
}

// staleRate runs the stale-rate experiment: one fresh shaped mesh lab per
// link delay, in a temporary directory.
func (c *command) staleRate(ctx context.Context, f *experimentFlags) error {
	var ds []time.Duration
	for _, s := range strings.Split(f.delays, ",") {
		d, _, err := lab.ParseDelay(strings.TrimSpace(s))
		if err != nil {
			return usagef("--delays: %v", err)
		}
		ds = append(ds, d)
	}
	dir, err := os.MkdirTemp("", "quarry-stale-rate-")
	if err != nil {
		return err
	}
	if f.keep {
		fmt.Fprintf(c.stderr, "labs in %s (kept)\n", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }() // temporary lab; best effort
	}
	devnet, _ := os.Executable()
	pts, err := lab.StaleRate(ctx, lab.StaleRateOptions{Delays: ds, BlockTime: f.blockTime, Blocks: f.blocks, N: f.n,
		Dir: dir, Bin: c.g.bin, Devnet: devnet, Keep: f.keep, Progress: c.stderr})
	if err != nil {
		return err
	}
	if f.asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"model": lab.StaleRateModel, "points": pts}); err != nil {
			return err
		}
	} else {
		lab.PrintStaleRate(c.stdout, pts)
	}
	if f.plotPath != "" {
		if err := lab.PlotStaleRate(pts, f.plotPath); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "plot saved to %s\n", f.plotPath)
	}
	return nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// experimentUsage lists the adversary experiments.
const experimentUsage = `experiments (scripts/devnet experiment NAME [--json] [--plot out.png] [--short]):
  selfish       revenue share of a selfish node vs its hash share, beside Eyal and Sirer's closed form
                [--alphas 0.1,0.25,0.33,0.4,0.45] [--replicates 5] [--block-time 1s] [--blocks 60] [--warmup 10]
                [--honest 3] [--total-hashrate H (default: the floor-difficulty rate for --block-time)]
  double-spend  success rate of the withhold state machine vs the whitepaper's P(q,z) (seeded simulation)
                [--trials 20000] [--seed 1]
  clock-skew    a node 3 h ahead, then a node 3 h behind: which rule refused their blocks
  equivocation  twin blocks at one height: time until every node is on one tip [--trials 5]`

// experiment runs one adversary experiment in fresh labs under the lab
// directory.
func (c *command) experiment(ctx context.Context, rest []string) error {
	// stale-rate has flags of its own (network.go).
	for _, a := range rest {
		if a == "stale-rate" {
			return c.staleRate(ctx, rest)
		}
	}
	asJSON := c.fs.Bool("json", false, "print the results as JSON")
	plotPath := c.fs.String("plot", "", "write a figure (PNG, SVG or PDF by extension)")
	short := c.fs.Bool("short", false, "a short run for CI")
	alphas := c.fs.String("alphas", "0.1,0.25,0.33,0.4,0.45", "selfish: hash shares of the selfish node")
	blocks := c.fs.Int("blocks", 60, "selfish: main-chain blocks counted per lab")
	warmup := c.fs.Int("warmup", 10, "selfish: blocks before counting starts")
	honest := c.fs.Int("honest", 3, "selfish: honest nodes")
	replicates := c.fs.Int("replicates", 5, "selfish: independent labs per alpha (the interval comes from their spread)")
	blockTime := c.fs.Duration("block-time", time.Second, "selfish: block interval of the labs' dev-derived chain (0: dev's own)")
	total := c.fs.Float64("total-hashrate", 0, "total hash rate in H/s (selfish: default the floor-difficulty rate for --block-time, 400000 without; equivocation: default 400000)")
	timeout := c.fs.Duration("timeout", 30*time.Minute, "bound on each run")
	trials := c.fs.Int("trials", 0, "double-spend: trials per (q, z) (default 20000); equivocation: trials (default 5)")
	seed := c.fs.Int64("seed", 1, "double-spend: simulation seed")
	pos, err := c.args(rest, 1, "an experiment name\n"+experimentUsage)
	if err != nil {
		return err
	}
	dir := filepath.Join(c.g.dir, "experiments")
	var result any
	switch pos[0] {
	case "selfish":
		o := lab.SelfishOptions{Honest: *honest, Warmup: *warmup, Blocks: *blocks, Replicates: *replicates, BlockTime: *blockTime,
			TotalHashrate: *total, Timeout: *timeout}
		if o.BlockTime == 0 && o.TotalHashrate == 0 {
			o.TotalHashrate = 400000
		}
		if o.Alphas, err = parseFloats(*alphas); err != nil {
			return usagef("--alphas: %v", err)
		}
		if *short {
			o.Alphas, o.Warmup, o.Blocks, o.Honest, o.Replicates = []float64{0.4}, 5, 10, 2, 2
		}
		pts, err := lab.ExperimentSelfish(ctx, dir, c.g.bin, o, c.stderr)
		if err != nil {
			return err
		}
		if *plotPath != "" {
			if err := lab.PlotSelfish(*plotPath, pts); err != nil {
				return err
			}
		}
		if !*asJSON {
			lab.PrintSelfish(c.stdout, pts)
		}
		result = pts
	case "double-spend":
		n := *trials
		if n == 0 {
			n = 20000
		}
		if *short {
			n = 2000
		}
		pts := lab.ExperimentDoubleSpend([]float64{0.1, 0.3}, []int{0, 1, 2, 3, 4}, n, *seed)
		if *plotPath != "" {
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
			if err := lab.PlotXY(*plotPath, "Double spend: attacker success vs confirmations", "confirmations z", "success probability", series, order); err != nil {
				return err
			}
		}
		if !*asJSON {
			lab.PrintDoubleSpend(c.stdout, pts)
		}
		result = pts
	case "clock-skew":
		steps, err := lab.ExperimentClockSkew(ctx, filepath.Join(dir, "clock-skew"), c.g.bin, c.stderr)
		if err != nil {
			return err
		}
		if !*asJSON {
			lab.PrintClockSkew(c.stdout, steps)
		}
		result = steps
	case "equivocation":
		n := *trials
		if n == 0 {
			n = 5
		}
		if *short {
			n = 1
		}
		eqTotal := *total
		if eqTotal == 0 {
			eqTotal = 400000
		}
		trs, err := lab.ExperimentEquivocation(ctx, filepath.Join(dir, "equivocation"), c.g.bin, n, eqTotal, c.stderr)
		if err != nil {
			return err
		}
		if *plotPath != "" {
			xy := plotter.XYs{}
			for i, t := range trs {
				xy = append(xy, plotter.XY{X: float64(i + 1), Y: t.Convergence.Seconds()})
			}
			if err := lab.PlotXY(*plotPath, "Equivocation: time to one tip", "trial", "seconds", map[string]plotter.XYs{"convergence": xy}, []string{"convergence"}); err != nil {
				return err
			}
		}
		if !*asJSON {
			lab.PrintEquivocation(c.stdout, trs)
		}
		result = trs
	default:
		return usagef("unknown experiment %q\n%s", pos[0], experimentUsage)
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(result)
	}
	if *plotPath != "" {
		fmt.Fprintf(c.stdout, "figure: %s\n", *plotPath)
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

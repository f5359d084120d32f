package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// bench runs the lab's benchmarks (lab.BenchHeal, lab.BenchPropagation)
// in fresh labs under the lab directory and prints their figures.
func (c *command) bench(ctx context.Context, rest []string) error {
	divs := c.fs.String("divergence", "10,100", "comma-separated divergences (blocks on the losing side) for the heal benchmark")
	runs := c.fs.Int("runs", 3, "heal runs per divergence")
	blocks := c.fs.Int("blocks", 60, "blocks to observe for the propagation benchmark (0 skips it)")
	total := c.fs.Float64("total-hashrate", 2e6, "total hash rate of the propagation devnet (H/s)")
	maxTime := c.fs.Duration("max-time", 2*time.Minute, "upper bound of the propagation observation")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	var ds []int
	for _, s := range strings.Split(*divs, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		d, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || d < 1 {
			return usagef("--divergence: %q is not a positive block count", s)
		}
		ds = append(ds, d)
	}
	root, err := filepath.Abs(c.g.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	base, err := os.MkdirTemp(root, "bench-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(base) }() // temporary labs; best effort
	if len(ds) > 0 && *runs > 0 {
		res, err := lab.BenchHeal(ctx, filepath.Join(base, "heal"), c.g.bin, ds, *runs, c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "heal -> agreement (4 regtest nodes, 2|2, losing side D blocks, winning side D+1):")
		for _, r := range res {
			fmt.Fprintf(c.stdout, "  D=%-4d runs %d  median %-8s min %-8s max %s\n", r.Divergence, len(r.Runs),
				lab.FormatDuration(lab.Percentile(r.Runs, 0.5)), lab.FormatDuration(slices.Min(r.Runs)), lab.FormatDuration(slices.Max(r.Runs)))
		}
	}
	if *blocks > 0 {
		pctx, cancel := context.WithTimeout(ctx, *maxTime+time.Minute)
		defer cancel()
		p, err := lab.BenchPropagation(pctx, filepath.Join(base, "prop"), c.g.bin, *total, *blocks, *maxTime, c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "block propagation (4 dev nodes mining %s total, full mesh on 127.0.0.1):\n", lab.FormatRate(*total))
		if len(p.Samples) == 0 {
			fmt.Fprintln(c.stdout, "  no block reached every node")
			return nil
		}
		fmt.Fprintf(c.stdout, "  %d blocks, %d samples (first node -> each other node): median %s  p90 %s  p99 %s  max %s  (%d reorg-connected excluded)\n",
			p.Blocks, len(p.Samples), lab.FormatDuration(lab.Percentile(p.Samples, 0.5)), lab.FormatDuration(lab.Percentile(p.Samples, 0.9)),
			lab.FormatDuration(lab.Percentile(p.Samples, 0.99)), lab.FormatDuration(slices.Max(p.Samples)), p.Excluded)
	}
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// The commands of shaped labs (link, links, the proxy daemon), scenario
// files (run) and experiments.

func (c *command) link(ctx context.Context, rest []string) error {
	delay := c.fs.String("delay", "", "one-way delay, e.g. 100ms or 100ms±20ms")
	jitter := c.fs.String("jitter", "", "jitter, e.g. 20ms")
	bandwidth := c.fs.String("bandwidth", "", `bandwidth per direction, e.g. 1mbit ("0": unlimited)`)
	down := c.fs.Bool("down", false, "cut the link (connections through it close)")
	up := c.fs.Bool("up", false, "restore a cut link")
	l, nodes, _, err := c.labNodes(rest, 2, "A B", 2)
	if err != nil {
		return err
	}
	if *down && *up {
		return usagef("--down and --up together")
	}
	var ch lab.LinkChange
	if *delay != "" {
		d, j, err := lab.ParseDelay(*delay)
		if err != nil {
			return usagef("--delay: %v", err)
		}
		ch.Delay = &d
		if strings.ContainsAny(*delay, "±") || strings.Contains(*delay, "+-") {
			ch.Jitter = &j
		}
	}
	if *jitter != "" {
		_, j, err := lab.ParseDelay("0±" + *jitter)
		if err != nil {
			return usagef("--jitter: %v", err)
		}
		ch.Jitter = &j
	}
	if *bandwidth != "" {
		var bw int64
		if *bandwidth != "0" {
			if bw, err = lab.ParseBandwidth(*bandwidth); err != nil {
				return usagef("--bandwidth: %v", err)
			}
		}
		ch.Bandwidth = &bw
	}
	if *down || *up {
		ch.Down = down
	}
	k, err := l.SetLink(ctx, nodes[0], nodes[1], ch)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "link %s: %s\n", k.Name(), k.Conditions())
	return nil
}

func (c *command) links(ctx context.Context, rest []string) error {
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	links := l.State.Links
	if pc, err := l.ProxyClient(); err == nil {
		if links, err = pc.Links(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.stdout, "topology %s, %d links, shaped: %v\n", l.State.Topology, len(links), l.State.Shaped)
	for _, line := range lab.FormatLinks(links) {
		fmt.Fprintln(c.stdout, line)
	}
	return nil
}

func (c *command) runScenario(ctx context.Context, rest []string) error {
	keep := c.fs.Bool("keep", false, "keep the scenario's lab directory (default: removed at the end)")
	pos, err := c.args(rest, 1, "FILE")
	if err != nil {
		return err
	}
	sc, err := lab.ReadScenario(pos[0])
	if err != nil {
		return usagef("%v", err)
	}
	dir, err := os.MkdirTemp("", "quarry-scenario-")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Fprintf(c.stdout, "lab directory %s (kept)\n", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }() // temporary lab; best effort
	}
	devnet, _ := os.Executable()
	return lab.RunScenario(ctx, sc, lab.ScenarioOptions{Dir: dir, Bin: c.g.bin, Devnet: devnet, Out: c.stdout})
}

func (c *command) staleRate(ctx context.Context, rest []string) error {
	delays := c.fs.String("delays", "0,100ms,250ms,500ms", "comma-separated one-way link delays, one lab each")
	blockTime := c.fs.Duration("block-time", 2*time.Second, "block interval of the lab network")
	blocks := c.fs.Int("blocks", 300, "main-chain blocks to mine per delay")
	n := c.fs.Int("n", 4, "mining nodes (full mesh, equal shares)")
	asJSON := c.fs.Bool("json", false, "print the results as JSON")
	plotPath := c.fs.String("plot", "", "save a chart of measurement and theory (.png, .svg or .pdf)")
	keep := c.fs.Bool("keep", false, "keep the labs' directories")
	pos, err := c.args(rest, 1, "stale-rate")
	if err != nil {
		return err
	}
	if pos[0] != "stale-rate" {
		return usagef("unknown experiment %q (want stale-rate)", pos[0])
	}
	var ds []time.Duration
	for _, s := range strings.Split(*delays, ",") {
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
	if *keep {
		fmt.Fprintf(c.stderr, "labs in %s (kept)\n", dir)
	} else {
		defer func() { _ = os.RemoveAll(dir) }() // temporary lab; best effort
	}
	devnet, _ := os.Executable()
	pts, err := lab.StaleRate(ctx, lab.StaleRateOptions{Delays: ds, BlockTime: *blockTime, Blocks: *blocks, N: *n,
		Dir: dir, Bin: c.g.bin, Devnet: devnet, Keep: *keep, Progress: c.stderr})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"model": lab.StaleRateModel, "points": pts}); err != nil {
			return err
		}
	} else {
		lab.PrintStaleRate(c.stdout, pts)
	}
	if *plotPath != "" {
		if err := lab.PlotStaleRate(pts, *plotPath); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "plot saved to %s\n", *plotPath)
	}
	return nil
}

// proxy runs a shaped lab's link proxies until SIGTERM (started by up,
// stopped by down; not meant to be run by hand).
func (c *command) proxy(ctx context.Context, rest []string) error {
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	return l.RunProxy(ctx, slog.New(slog.NewTextHandler(c.stderr, nil)))
}

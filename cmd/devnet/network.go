package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// The commands of shaped labs (link, links, the proxy daemon) and scenario
// files (run).

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

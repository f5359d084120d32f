package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Benchmarks of the lab (devnet bench). Each runs in a fresh lab of its
// own (free ports, its processes tied to the bench) under the lab
// directory, removed afterwards:
//
//   - heal: 4 regtest nodes split 2|2; the losing side mines D blocks with
//     generatetoaddress, the winning side D+1 (just more work, the hardest
//     case for the losers: a reorg of depth D); then heal and time until
//     every node has the same tip and state digest (polled every 20 ms).
//     regtest makes the divergence exact and leaves the CPU to sync.
//   - propagation: 4 dev nodes mining (--total-hashrate, equal shares);
//     every node's WebSocket block_connected notifications are stamped on
//     arrival, and for every block all nodes connected, the delay of each
//     node after the first one (normally the miner) is a sample. Blocks a
//     node connected through a reorg are left out (that is fork
//     resolution, not propagation).

// HealBench is the result of one divergence.
type HealBench struct {
	Divergence int
	Runs       []time.Duration
}

// PropagationBench is the result of the propagation benchmark.
type PropagationBench struct {
	Blocks   int // blocks every node connected
	Samples  []time.Duration
	Excluded int // (node, block) pairs connected through a reorg
}

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
	defer os.RemoveAll(base)
	if len(ds) > 0 && *runs > 0 {
		res, err := BenchHeal(ctx, filepath.Join(base, "heal"), c.g.bin, ds, *runs, c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, "heal -> agreement (4 regtest nodes, 2|2, losing side D blocks, winning side D+1):")
		for _, r := range res {
			fmt.Fprintf(c.stdout, "  D=%-4d runs %d  median %-8s min %-8s max %s\n", r.Divergence, len(r.Runs),
				rnd(percentile(r.Runs, 0.5)), rnd(slices.Min(r.Runs)), rnd(slices.Max(r.Runs)))
		}
	}
	if *blocks > 0 {
		pctx, cancel := context.WithTimeout(ctx, *maxTime+time.Minute)
		defer cancel()
		p, err := BenchPropagation(pctx, filepath.Join(base, "prop"), c.g.bin, *total, *blocks, *maxTime, c.stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "block propagation (4 dev nodes mining %s total, full mesh on 127.0.0.1):\n", fmtRate(*total))
		if len(p.Samples) == 0 {
			fmt.Fprintln(c.stdout, "  no block reached every node")
			return nil
		}
		fmt.Fprintf(c.stdout, "  %d blocks, %d samples (first node -> each other node): median %s  p90 %s  p99 %s  max %s  (%d reorg-connected excluded)\n",
			p.Blocks, len(p.Samples), rnd(percentile(p.Samples, 0.5)), rnd(percentile(p.Samples, 0.9)),
			rnd(percentile(p.Samples, 0.99)), rnd(slices.Max(p.Samples)), p.Excluded)
	}
	return nil
}

// rnd rounds a duration for printing.
func rnd(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// percentile returns the q-quantile (nearest rank) of ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

// BenchHeal runs the heal benchmark in a fresh regtest lab in dir.
func BenchHeal(ctx context.Context, dir, bin string, divergences []int, runs int, progress io.Writer) ([]HealBench, error) {
	opts := UpOptions{N: 4, Seed: "bench", Network: "regtest", Attached: true}
	l, err := CreateLab(dir, bin, opts)
	if err != nil {
		return nil, err
	}
	defer l.Down(10 * time.Second)
	if err := l.Up(ctx, opts); err != nil {
		return nil, err
	}
	step := func(name string, d time.Duration, f func(ctx context.Context) error) error {
		sctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		if err := f(sctx); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if err := step("first block", 30*time.Second, func(ctx context.Context) error {
		if _, err := l.Generate(ctx, 0, 1); err != nil {
			return err
		}
		_, err := l.WaitAgreement(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	groups := [][]int{{0, 1}, {2, 3}}
	var out []HealBench
	for _, d := range divergences {
		hb := HealBench{Divergence: d}
		for r := 0; r < runs; r++ {
			err := step("diverge", 2*time.Minute, func(ctx context.Context) error {
				if err := l.WaitPeers(ctx, 3); err != nil {
					return err
				}
				if err := l.Partition(ctx, groups); err != nil {
					return err
				}
				if _, err := l.Generate(ctx, 2, d); err != nil {
					return err
				}
				if _, err := l.Generate(ctx, 0, d+1); err != nil {
					return err
				}
				return poll(ctx, pollFast, func() (bool, error) {
					t, err := l.Tips(ctx)
					if err != nil {
						return false, err
					}
					return t[0].Hash == t[1].Hash && t[2].Hash == t[3].Hash, nil
				})
			})
			if err != nil {
				return nil, err
			}
			var rec *HealRecord
			if err := step("heal", 3*time.Minute, func(ctx context.Context) error {
				rec, err = l.Heal(ctx, HealOptions{Wait: true, Timeout: 2 * time.Minute})
				return err
			}); err != nil {
				return nil, err
			}
			if rec.AgreedTip != rec.Tips[0].Hash {
				return nil, fmt.Errorf("D=%d: the nodes agreed on %s, not on the heavier branch's tip %s", d, rec.AgreedTip, rec.Tips[0].Hash)
			}
			fmt.Fprintf(progress, "heal bench: D=%d run %d: %s\n", d, r+1, rnd(rec.Agreement))
			hb.Runs = append(hb.Runs, rec.Agreement)
		}
		out = append(out, hb)
	}
	return out, nil
}

// arrival is one notification as the lab received it.
type arrival struct {
	node int
	n    rpcjson.Notification
	at   time.Time
}

// BenchPropagation runs the propagation benchmark in a fresh dev lab in dir.
func BenchPropagation(ctx context.Context, dir, bin string, total float64, blocks int, maxTime time.Duration, progress io.Writer) (*PropagationBench, error) {
	opts := UpOptions{N: 4, Seed: "bench", Network: "dev", Mine: true, TotalHashrate: total, Attached: true}
	l, err := CreateLab(dir, bin, opts)
	if err != nil {
		return nil, err
	}
	defer l.Down(10 * time.Second)
	if err := l.Up(ctx, opts); err != nil {
		return nil, err
	}
	arrivals := make(chan arrival, 1024)
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i := 0; i < l.N(); i++ {
		c, err := l.Client(i)
		if err != nil {
			return nil, err
		}
		sub, err := c.Subscribe(sctx, rpcjson.TopicBlocks, rpcjson.TopicReorgs)
		if err != nil {
			return nil, fmt.Errorf("node%d subscribe: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer sub.Close()
			for {
				select {
				case <-sctx.Done():
					return
				case n, ok := <-sub.C:
					if !ok {
						return
					}
					select {
					case arrivals <- arrival{node: i, n: n, at: time.Now()}:
					case <-sctx.Done():
						return
					}
				}
			}
		}()
	}
	fmt.Fprintf(progress, "propagation bench: observing %d blocks (at most %s)\n", blocks, maxTime)
	seen := make(map[chain.Hash]map[int]time.Time)
	viaReorg := make(map[[2]string]bool) // (node, hash) connected by a reorg
	complete := 0
	deadline := time.NewTimer(maxTime)
	defer deadline.Stop()
collect:
	for complete < blocks {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			break collect
		case a := <-arrivals:
			switch a.n.Method {
			case rpcjson.MethodBlockConnected:
				var b rpcjson.BlockNotification
				if err := json.Unmarshal(a.n.Params, &b); err != nil {
					return nil, err
				}
				m := seen[b.Hash]
				if m == nil {
					m = make(map[int]time.Time)
					seen[b.Hash] = m
				}
				if _, dup := m[a.node]; !dup {
					m[a.node] = a.at
					if len(m) == l.N() {
						complete++
					}
				}
			case rpcjson.MethodReorg:
				var r rpcjson.ReorgNotification
				if err := json.Unmarshal(a.n.Params, &r); err != nil {
					return nil, err
				}
				for _, h := range r.Added {
					viaReorg[[2]string{strconv.Itoa(a.node), h.String()}] = true
				}
			}
		}
	}
	cancel()
	res := &PropagationBench{}
	for h, m := range seen {
		if len(m) < l.N() {
			continue
		}
		res.Blocks++
		first := time.Time{}
		for _, t := range m {
			if first.IsZero() || t.Before(first) {
				first = t
			}
		}
		for node, t := range m {
			if t.Equal(first) {
				continue
			}
			if viaReorg[[2]string{strconv.Itoa(node), h.String()}] {
				res.Excluded++
				continue
			}
			res.Samples = append(res.Samples, t.Sub(first))
		}
	}
	return res, nil
}

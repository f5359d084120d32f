package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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

// BenchHeal runs the heal benchmark in a fresh regtest lab in dir.
func BenchHeal(ctx context.Context, dir, bin string, divergences []int, runs int, progress io.Writer) ([]HealBench, error) {
	opts := UpOptions{N: 4, Seed: "bench", Network: "regtest", Attached: true}
	l, end, err := startLab(ctx, dir, bin, opts, false, progress)
	if err != nil {
		return nil, err
	}
	defer end()
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
				return Poll(ctx, pollFast, func() (bool, error) {
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
				return nil, fmt.Errorf("divergence %d: the nodes agreed on %s, not on the heavier branch's tip %s", d, rec.AgreedTip, rec.Tips[0].Hash)
			}
			fmt.Fprintf(progress, "heal bench: D=%d run %d: %s\n", d, r+1, FormatDuration(rec.Agreement))
			hb.Runs = append(hb.Runs, rec.Agreement)
		}
		out = append(out, hb)
	}
	return out, nil
}

// nodeBlock is a block as one node connected it.
type nodeBlock struct {
	node int
	hash chain.Hash
}

// BenchPropagation runs the propagation benchmark in a fresh dev lab in dir.
func BenchPropagation(ctx context.Context, dir, bin string, total float64, blocks int, maxTime time.Duration, progress io.Writer) (*PropagationBench, error) {
	opts := UpOptions{N: 4, Seed: "bench", Network: "dev", Mine: true, TotalHashrate: total, Attached: true}
	l, end, err := startLab(ctx, dir, bin, opts, false, progress)
	if err != nil {
		return nil, err
	}
	defer end()
	stream, err := l.Subscribe(ctx, rpcjson.TopicBlocks, rpcjson.TopicReorgs)
	if err != nil {
		return nil, err
	}
	defer stream.Close()
	fmt.Fprintf(progress, "propagation bench: observing %d blocks (at most %s)\n", blocks, maxTime)
	seen := make(map[chain.Hash]map[int]time.Time)
	viaReorg := make(map[nodeBlock]bool) // connected by a reorg
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
		case a, ok := <-stream.C:
			if !ok {
				return nil, fmt.Errorf("notifications ended: %v", stream.Err())
			}
			switch a.Method {
			case rpcjson.MethodBlockConnected:
				var b rpcjson.BlockNotification
				if err := json.Unmarshal(a.Params, &b); err != nil {
					return nil, err
				}
				m := seen[b.Hash]
				if m == nil {
					m = make(map[int]time.Time)
					seen[b.Hash] = m
				}
				if _, dup := m[a.Node]; !dup {
					m[a.Node] = a.At
					if len(m) == l.N() {
						complete++
					}
				}
			case rpcjson.MethodReorg:
				var r rpcjson.ReorgNotification
				if err := json.Unmarshal(a.Params, &r); err != nil {
					return nil, err
				}
				for _, h := range r.Added {
					viaReorg[nodeBlock{a.Node, h}] = true
				}
			}
		}
	}
	stream.Close()
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
			if viaReorg[nodeBlock{node, h}] {
				res.Excluded++
				continue
			}
			res.Samples = append(res.Samples, t.Sub(first))
		}
	}
	return res, nil
}

package lab

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// NodeStatus is one row of the status table.
type NodeStatus struct {
	Node    int
	Running bool
	Err     error
	rpcjson.StateInfo
	Peers       int
	Active      bool
	Partitioned int
	Hashrate    float64
	Mining      bool
	Mempool     int
	LastReorg   *ReorgEvent
}

// miningInfo is the part of getmininginfo the lab reads.
type miningInfo struct {
	Generate     bool    `json:"generate"`
	HashesPerSec float64 `json:"hashespersec"`
}

// NodeStatus queries node i.
func (l *Lab) NodeStatus(ctx context.Context, i int) NodeStatus {
	s := NodeStatus{Node: i, Running: l.Running(i)}
	if !s.Running {
		return s
	}
	si, err := l.StateInfo(ctx, i)
	if err != nil {
		s.Err = err
		return s
	}
	s.StateInfo = si
	if ni, err := call[rpcjson.NetworkInfo](ctx, l, i, "getnetworkinfo"); err == nil {
		s.Peers, s.Active, s.Partitioned = ni.Connections, ni.NetworkActive, len(ni.Partitioned)
	}
	if mi, err := call[miningInfo](ctx, l, i, "getmininginfo"); err == nil {
		s.Hashrate, s.Mining = mi.HashesPerSec, mi.Generate
	}
	if mp, err := call[rpcjson.MempoolInfo](ctx, l, i, "getmempoolinfo"); err == nil {
		s.Mempool = mp.Size
	}
	if ev, ok := l.LastReorg(i); ok {
		s.LastReorg = &ev
	}
	return s
}

// statuses queries every node.
func (l *Lab) statuses(ctx context.Context) []NodeStatus {
	out := make([]NodeStatus, l.N())
	for i := range out {
		out[i] = l.NodeStatus(ctx, i)
	}
	return out
}

// PrintStatus writes the status table and the agreement line.
func (l *Lab) PrintStatus(ctx context.Context, w io.Writer, now time.Time) {
	sts := l.statuses(ctx)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHEIGHT\tTIP\tCHAINWORK\tPEERS\tNET\tHASHRATE\tMEMPOOL\tLAST REORG")
	for _, s := range sts {
		switch {
		case !s.Running:
			fmt.Fprintf(tw, "%d\t-\t-\t-\t-\tdown\t-\t-\t-\n", s.Node)
			continue
		case s.Err != nil:
			fmt.Fprintf(tw, "%d\t-\t-\t-\t-\terror: %v\t-\t-\t-\n", s.Node, s.Err)
			continue
		}
		netw := "on"
		if !s.Active {
			netw = "off"
		} else if s.Partitioned > 0 {
			netw = fmt.Sprintf("split(%d)", s.Partitioned)
		}
		rate := "-"
		if s.Mining {
			rate = FormatRate(s.Hashrate)
		}
		reorg := "-"
		if r := s.LastReorg; r != nil {
			reorg = fmt.Sprintf("depth %d at height %d, %s ago", r.Depth, r.ForkHeight, now.Sub(r.At).Round(time.Second))
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", s.Node, s.Height, short(s.BestBlockHash),
			fmtWork(parseWork(s.ChainWork)), s.Peers, netw, rate, s.Mempool, reorg)
	}
	_ = tw.Flush() // a table on a terminal: a failed write has nowhere to go
	fmt.Fprintln(w, agreementLine(sts))
	l.printAdversaries(ctx, w)
}

// agreementLine summarises whether the nodes agree, or how they split.
func agreementLine(sts []NodeStatus) string {
	type tip struct {
		hash   chain.Hash
		height uint64
		digest chain.Hash
		nodes  []int
		work   *big.Int
	}
	var tips []*tip
	byHash := map[chain.Hash]*tip{}
	for _, s := range sts {
		if !s.Running || s.Err != nil {
			return fmt.Sprintf("agreement: unknown (node%d is not answering)", s.Node)
		}
		t := byHash[s.BestBlockHash]
		if t == nil {
			t = &tip{hash: s.BestBlockHash, height: s.Height, digest: s.StateDigest, work: parseWork(s.ChainWork)}
			byHash[s.BestBlockHash] = t
			tips = append(tips, t)
		}
		if t.digest != s.StateDigest {
			return fmt.Sprintf("DISAGREE: node%d has state digest %s on tip %s, others %s", s.Node, short(s.StateDigest), short(t.hash), short(t.digest))
		}
		t.nodes = append(t.nodes, s.Node)
	}
	if len(tips) == 1 {
		return fmt.Sprintf("all %d nodes agree: tip %s height %d, state digest %s", len(sts), short(tips[0].hash), tips[0].height, short(tips[0].digest))
	}
	sort.Slice(tips, func(i, j int) bool { return tips[i].work.Cmp(tips[j].work) > 0 })
	parts := make([]string, len(tips))
	for i, t := range tips {
		parts[i] = fmt.Sprintf("%s (height %d, work %s) on nodes %v", short(t.hash), t.height, fmtWork(t.work), t.nodes)
	}
	return fmt.Sprintf("%d tips: %s", len(tips), strings.Join(parts, "; "))
}

// Watch redraws the status table and the forks every interval until ctx
// ends (once: a single frame without screen control). While it runs, the
// LAST REORG column also shows the reorgs the nodes announce on their
// WebSocket streams.
func (l *Lab) Watch(ctx context.Context, w io.Writer, interval time.Duration, once bool) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	// Reorgs while watching come from the nodes' streams (a node that is
	// down only loses this column).
	var reorgs *Stream
	if !once {
		if s, err := l.Subscribe(ctx, rpcjson.TopicReorgs); err == nil {
			reorgs = s
			defer s.Close()
		}
	}
	for {
		if reorgs != nil {
			if err := l.takeLiveReorgs(reorgs); err != nil {
				return err
			}
		}
		var b strings.Builder
		now := time.Now()
		fmt.Fprintf(&b, "devnet %s (%d %s nodes)  %s\n\n", l.Dir, l.N(), l.State.Network, now.Format("15:04:05"))
		l.PrintStatus(ctx, &b, now)
		l.printForks(ctx, &b)
		if !once {
			fmt.Fprint(w, "\033[H\033[2J") // home, clear screen
		}
		fmt.Fprint(w, b.String())
		if once {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// printForks shows, when the nodes are on different tips, where each
// node's branch leaves the branch of the node with the most work.
func (l *Lab) printForks(ctx context.Context, w io.Writer) {
	tips, err := l.Tips(ctx)
	if err != nil || len(tips) == 0 {
		return
	}
	best := 0
	for i, t := range tips {
		if parseWork(t.ChainWork).Cmp(parseWork(tips[best].ChainWork)) > 0 {
			best = i
		}
	}
	var lines []string
	for i, t := range tips {
		if t.Hash == tips[best].Hash {
			continue
		}
		fork, height, err := l.ForkPoint(ctx, best, i)
		if err != nil {
			continue
		}
		lines = append(lines, fmt.Sprintf("  node%d: %d blocks on its own branch since height %d (%s); node%d's branch has %d, work %s ahead",
			i, t.Height-height, height, short(fork), best, tips[best].Height-height, fmtWork(workDiff(tips[best].ChainWork, t.ChainWork))))
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nforks (against node%d, the most work):\n%s\n", best, strings.Join(lines, "\n"))
	}
}

// takeLiveReorgs records the reorgs that s has delivered so far as each
// node's latest, without waiting.
func (l *Lab) takeLiveReorgs(s *Stream) error {
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				return nil
			}
			r, isReorg, err := ReorgFromEvent(ev)
			if err != nil {
				return err
			}
			if isReorg {
				if l.live == nil {
					l.live = make(map[int]ReorgEvent)
				}
				l.live[r.Node] = r
			}
		default:
			return nil
		}
	}
}

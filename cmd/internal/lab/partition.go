package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// pollFast is the polling interval for conditions whose timing is
// measured (agreement after a heal).
const pollFast = 20 * time.Millisecond

// ParseGroups parses partition arguments such as "0,1" "2,3" and checks
// that every node of an n-node lab is in exactly one group.
func ParseGroups(args []string, n int) ([][]int, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("partition needs at least two groups, e.g. `partition 0,1 2,3`")
	}
	seen := make(map[int]int)
	var groups [][]int
	for gi, a := range args {
		var g []int
		for _, f := range strings.Split(a, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			i, err := strconv.Atoi(f)
			if err != nil || i < 0 || i >= n {
				return nil, fmt.Errorf("group %q: %q is not a node index 0..%d", a, f, n-1)
			}
			if prev, dup := seen[i]; dup {
				return nil, fmt.Errorf("node %d is in groups %d and %d", i, prev, gi)
			}
			seen[i] = gi
			g = append(g, i)
		}
		if len(g) == 0 {
			return nil, fmt.Errorf("group %d is empty", gi)
		}
		groups = append(groups, g)
	}
	for i := 0; i < n; i++ {
		if _, ok := seen[i]; !ok {
			return nil, fmt.Errorf("node %d is in no group (every node must be on one side)", i)
		}
	}
	return groups, nil
}

// groupOf returns the index of the group holding node i.
func groupOf(groups [][]int, i int) int {
	for gi, g := range groups {
		if slices.Contains(g, i) {
			return gi
		}
	}
	return -1
}

// Where a partition is made.
const (
	// PartitionGater: each node's connection gater refuses the other
	// groups (RPC partition); the nodes know they are split.
	PartitionGater = "gater"
	// PartitionLinks: the proxies of every link between the groups stop,
	// so connections die as on a real network and the nodes know nothing.
	PartitionLinks = "links"
)

// Partition splits the devnet through the nodes' gaters
// (PartitionAt with PartitionGater).
func (l *Lab) Partition(ctx context.Context, groups [][]int) error {
	return l.PartitionAt(ctx, groups, PartitionGater)
}

// PartitionAt splits the devnet where says: PartitionGater makes each
// node block (RPC partition) the peer IDs of every node outside its
// group; PartitionLinks cuts every link between the groups in the
// proxies of a shaped lab. Either way the lab then waits until no
// connection crosses the split.
func (l *Lab) PartitionAt(ctx context.Context, groups [][]int, where string) error {
	var cut []string
	switch where {
	case PartitionGater, "":
		where = PartitionGater
		if err := l.gaterPartition(ctx, groups); err != nil {
			return err
		}
	case PartitionLinks:
		var err error
		if cut, err = l.setLinksDown(ctx, groups, true, nil); err != nil {
			return err
		}
	default:
		return fmt.Errorf("partition at %q: want %s or %s", where, PartitionGater, PartitionLinks)
	}
	if err := l.waitSplit(ctx, groups); err != nil {
		return err
	}
	tips, err := l.Tips(ctx)
	if err != nil {
		return err
	}
	l.State.Partition = &PartitionRecord{Groups: groups, Where: where, Cut: cut, At: time.Now().UTC(), Tips: tips}
	l.State.Heal = nil
	return l.Save()
}

// gaterPartition makes every node block the peers outside its group.
func (l *Lab) gaterPartition(ctx context.Context, groups [][]int) error {
	for i := 0; i < l.N(); i++ {
		var others []string
		for _, n := range l.State.Nodes {
			if groupOf(groups, n.Index) != groupOf(groups, i) {
				others = append(others, n.PeerID)
			}
		}
		if _, err := call[json.RawMessage](ctx, l, i, "partition", others); err != nil {
			return err
		}
	}
	return nil
}

// waitSplit waits until no connection crosses the groups.
func (l *Lab) waitSplit(ctx context.Context, groups [][]int) error {
	err := Poll(ctx, pollFast, func() (bool, error) {
		for i := 0; i < l.N(); i++ {
			peers, err := call[[]rpcjson.PeerInfo](ctx, l, i, "getpeerinfo")
			if err != nil {
				return false, err
			}
			for _, p := range peers {
				if j := l.nodeByPeerID(p.PeerID); j >= 0 && groupOf(groups, j) != groupOf(groups, i) {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the partition to close cross connections: %w", err)
	}
	return nil
}

// nodeByPeerID returns the index of the node with that peer ID, or -1.
func (l *Lab) nodeByPeerID(id string) int {
	for _, n := range l.State.Nodes {
		if n.PeerID == id {
			return n.Index
		}
	}
	return -1
}

// HealOptions configure Heal.
type HealOptions struct {
	// Wait waits for agreement and records the time it took.
	Wait bool
	// Timeout bounds the wait (default 2 minutes).
	Timeout time.Duration
}

// Heal records every node's tip, lifts the partition (RPC heal on every
// node, or, after a link partition, brings the cut links up and has
// their ends redial) and, with Wait, measures the time until all nodes agree on tip and
// state digest and records the reorgs the nodes announce on their
// WebSocket "reorgs" topic (subscribed before the tips are recorded).
func (l *Lab) Heal(ctx context.Context, opts HealOptions) (*HealRecord, error) {
	// Subscribe first: a reorg that moves a node off the tip recorded
	// below is then always seen.
	var reorgs *Stream
	if opts.Wait {
		var err error
		if reorgs, err = l.Subscribe(ctx, rpcjson.TopicReorgs); err != nil {
			return nil, err
		}
		defer reorgs.Close()
	}
	tips, err := l.Tips(ctx)
	if err != nil {
		return nil, err
	}
	rec := &HealRecord{Tips: tips, Where: PartitionGater}
	var cut map[string]bool
	if l.State.Partition != nil {
		rec.Groups = l.State.Partition.Groups
		if l.State.Partition.Where == PartitionLinks {
			rec.Where = PartitionLinks
			cut = map[string]bool{}
			for _, name := range l.State.Partition.Cut {
				cut[name] = true
			}
		}
		if err := l.recordSides(ctx, rec); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	rec.At = start.UTC()
	if rec.Where == PartitionLinks {
		if _, err := l.setLinksDown(ctx, rec.Groups, false, cut); err != nil {
			return nil, err
		}
	} else {
		for i := 0; i < l.N(); i++ {
			if _, err := call[json.RawMessage](ctx, l, i, "heal"); err != nil {
				return nil, err
			}
		}
	}
	l.State.Heal = rec
	if err := l.Save(); err != nil {
		return nil, err
	}
	if !opts.Wait {
		return rec, nil
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := l.WaitAgreement(wctx)
	if err != nil {
		return rec, fmt.Errorf("after heal, nodes did not agree within %s: %w", timeout, err)
	}
	rec.Agreement = time.Since(start)
	rec.AgreedTip = a.Tip
	if rec.Reorgs, err = l.collectReorgs(ctx, reorgs, rec); err != nil {
		return rec, err
	}
	if rec.Reorgs == nil {
		rec.Reorgs = []ReorgEvent{} // observed: none
	}
	return rec, l.Save()
}

// recordSides fills the fork point and each side's branch into rec from
// rec.Tips, before the heal changes them.
func (l *Lab) recordSides(ctx context.Context, rec *HealRecord) error {
	for _, g := range rec.Groups {
		rep := g[0]
		for _, i := range g[1:] {
			if parseWork(rec.Tips[i].ChainWork).Cmp(parseWork(rec.Tips[rep].ChainWork)) > 0 {
				rep = i
			}
		}
		t := rec.Tips[rep]
		rec.Sides = append(rec.Sides, SideRecord{Group: g, Rep: rep, Tip: t.Hash, Height: t.Height, ChainWork: t.ChainWork})
	}
	first := true
	for _, s := range rec.Sides[1:] {
		fork, height, err := l.ForkPoint(ctx, rec.Sides[0].Rep, s.Rep)
		if err != nil {
			return err
		}
		if first || height < rec.ForkHeight {
			rec.Fork, rec.ForkHeight, first = fork, height, false
		}
	}
	hdr, err := l.Header(ctx, rec.Sides[0].Rep, rec.Fork)
	if err != nil {
		return err
	}
	rec.ForkWork = hdr.ChainWork
	for k := range rec.Sides {
		s := &rec.Sides[k]
		if s.Height > rec.ForkHeight {
			if s.First, err = l.HashAt(ctx, s.Rep, rec.ForkHeight+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetNetworkActive switches node i's networking (RPC setnetworkactive).
func (l *Lab) SetNetworkActive(ctx context.Context, i int, on bool) error {
	_, err := call[bool](ctx, l, i, "setnetworkactive", on)
	return err
}

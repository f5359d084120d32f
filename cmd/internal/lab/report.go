package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// Report is what happened at the last heal: the fork, each side's branch,
// which branch won, every node's reorg, the orphaned blocks, the time to
// agreement and the fate of the double spend.
type Report struct {
	HealAt time.Time
	// Where the partition was made: PartitionGater or PartitionLinks.
	Where      string
	Fork       chain.Hash
	ForkHeight uint64
	Sides      []SideReport
	// Heaviest is the side with the most work at heal time; Winner the
	// side whose branch the final chain contains (-1: none yet).
	Heaviest, Winner int
	Reorgs           []NodeReorg
	// Orphaned counts the distinct blocks the heal reorgs disconnected.
	Orphaned int
	Now      Agreement
	// HealToAgreement is the measured time (0 when heal did not wait).
	HealToAgreement time.Duration
	DoubleSpend     *DoubleSpendReport
	// Adversaries describe what each dishonest node did (AdversaryLine).
	Adversaries []string
}

// SideReport is one side's branch at heal time.
type SideReport struct {
	SideRecord
	BranchLen uint64
	Work      *big.Int // chain work since the fork
}

// NodeReorg is a node's reorganisation back to the fork point after the
// heal (Found false: the node did not reorganise past the fork).
type NodeReorg struct {
	Node  int
	Side  int
	Found bool
	ReorgEvent
	// BranchAtHeal is how many blocks the node had above the fork at heal
	// time; OldTipHeight the height of the tip the reorg left.
	BranchAtHeal uint64
	OldTipHeight uint64
	// After is the time from the heal to the reorg's notification (0 when
	// the reorg was derived from RPC, not observed).
	After time.Duration
}

// DoubleSpendReport says where each of the two spends ended up.
type DoubleSpendReport struct {
	DoubleSpendRecord
	Side [2]int
	// InChain[k] is true when every node has spend k in its main chain;
	// Block[k] and Height[k] say where (as node 0 sees it).
	InChain [2]bool
	Block   [2]chain.Hash
	Height  [2]uint64
	// InMempool[k] lists the nodes whose mempool holds spend k.
	InMempool [2][]int
	// Balances are the sinks' confirmed balances on node 0.
	Balances [2]uint64
}

// errNoHeal is returned by BuildReport before any partition was healed.
var errNoHeal = errors.New("no healed partition to report on (run partition, then heal)")

// BuildReport computes the report of the last heal from the state file,
// the nodes' RPC and the reorgs heal recorded from their WebSocket
// streams (derived from RPC when heal did not wait).
func (l *Lab) BuildReport(ctx context.Context) (*Report, error) {
	h := l.State.Heal
	if h == nil || len(h.Sides) == 0 {
		return nil, errNoHeal
	}
	r := &Report{HealAt: h.At, Where: h.Where, Fork: h.Fork, ForkHeight: h.ForkHeight, Heaviest: -1, Winner: -1, HealToAgreement: h.Agreement}
	var err error
	if r.Now, err = l.CheckAgreement(ctx); err != nil {
		return nil, err
	}
	var best *big.Int
	for k, s := range h.Sides {
		sr := SideReport{SideRecord: s, BranchLen: s.Height - h.ForkHeight, Work: workDiff(s.ChainWork, h.ForkWork)}
		if best == nil || sr.Work.Cmp(best) > 0 {
			best, r.Heaviest = sr.Work, k
		}
		r.Sides = append(r.Sides, sr)
	}
	// The winner is the side whose first block after the fork is in node
	// 0's main chain.
	if final, err := l.HashAt(ctx, 0, h.ForkHeight+1); err == nil {
		for k, s := range h.Sides {
			if !s.First.IsZero() && s.First == final {
				r.Winner = k
			}
		}
	}
	orphaned := make(map[chain.Hash]struct{})
	for i := 0; i < l.N(); i++ {
		nr := NodeReorg{Node: i, Side: groupOf(h.Groups, i)}
		if t := h.Tips[i]; t.Height > h.ForkHeight {
			nr.BranchAtHeal = t.Height - h.ForkHeight
		}
		evs := h.Reorgs
		if evs == nil { // heal did not watch: derive the reorg from RPC
			ev, ok, err := l.DeriveReorg(ctx, i, h.Tips[i].Hash)
			if err != nil {
				return nil, err
			}
			if ok {
				evs = []ReorgEvent{ev}
			}
		}
		for _, ev := range evs {
			if ev.Observed && ev.At.Before(h.At) {
				continue // before the heal calls (heal subscribes first)
			}
			if ev.Node == i && (ev.Fork == h.Fork || ev.ForkHeight <= h.ForkHeight) {
				nr.Found, nr.ReorgEvent = true, ev
				if ev.Observed {
					nr.After = ev.At.Sub(h.At)
				}
				break
			}
		}
		if nr.Found {
			for _, b := range nr.Removed {
				orphaned[b] = struct{}{}
			}
			hdr, err := l.Header(ctx, i, nr.OldTip)
			if err != nil {
				return nil, err
			}
			nr.OldTipHeight = hdr.Height
		}
		r.Reorgs = append(r.Reorgs, nr)
	}
	r.Orphaned = len(orphaned)
	r.Adversaries = l.adversaryLines(ctx)
	if ds := l.State.DoubleSpend; ds != nil && ds.At.After(l.partitionStart()) {
		if r.DoubleSpend, err = l.doubleSpendReport(ctx, *ds, h.Groups); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// partitionStart is when the last partition began (zero if none).
func (l *Lab) partitionStart() time.Time {
	if l.State.Partition == nil {
		return time.Time{}
	}
	return l.State.Partition.At
}

func (l *Lab) doubleSpendReport(ctx context.Context, ds DoubleSpendRecord, groups [][]int) (*DoubleSpendReport, error) {
	r := &DoubleSpendReport{DoubleSpendRecord: ds}
	for k := 0; k < 2; k++ {
		r.Side[k] = groupOf(groups, ds.Nodes[k])
		id, err := chain.ParseHash(ds.TxIDs[k])
		if err != nil {
			return nil, err
		}
		r.InChain[k] = true
		for i := 0; i < l.N(); i++ {
			st, err := l.TxStatus(ctx, i, id)
			if err != nil {
				return nil, err
			}
			if st.InMempool {
				r.InMempool[k] = append(r.InMempool[k], i)
			}
			if st.Block == nil {
				r.InChain[k] = false
			} else if i == 0 {
				r.Block[k], r.Height[k] = *st.Block, st.Height
			}
		}
		acct, err := l.Account(ctx, 0, ds.To[k])
		if err != nil {
			return nil, err
		}
		r.Balances[k] = uint64(acct.Balance)
	}
	return r, nil
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	var groups []string
	for _, s := range r.Sides {
		groups = append(groups, GroupName(s.Group))
	}
	at := ""
	if r.Where != "" {
		at = " at the " + r.Where
	}
	fmt.Fprintf(w, "Heal report: partition %s%s, healed %s\n", strings.Join(groups, " | "), at, r.HealAt.Local().Format("15:04:05.000"))
	fmt.Fprintf(w, "  fork point    height %d  %s\n", r.ForkHeight, r.Fork)
	for k, s := range r.Sides {
		note := ""
		if k == r.Heaviest {
			note = "  most work at heal"
		}
		if k == r.Winner {
			note += "  WON"
		} else if r.Winner >= 0 {
			note += "  lost"
		}
		fmt.Fprintf(w, "  side %s %-7s %3d blocks since fork, work %-9s (tip %s height %d)%s\n",
			sideName(k), GroupName(s.Group), s.BranchLen, fmtWork(s.Work), short(s.Tip), s.Height, note)
	}
	switch {
	case r.Winner < 0:
		fmt.Fprintf(w, "  winner        none yet: %s\n", r.Now.Reason)
	case r.Winner == r.Heaviest:
		fmt.Fprintf(w, "  winner        side %s, the branch with the most work at heal time\n", sideName(r.Winner))
	default:
		fmt.Fprintf(w, "  winner        side %s, NOT the branch with the most work at heal time (side %s): it mined more after the heal\n",
			sideName(r.Winner), sideName(r.Heaviest))
	}
	for _, nr := range r.Reorgs {
		if !nr.Found {
			fmt.Fprintf(w, "  node%d (side %s) no reorg past the fork (%d own blocks at heal)\n", nr.Node, sideName(nr.Side), nr.BranchAtHeal)
			continue
		}
		if !nr.Observed {
			fmt.Fprintf(w, "  node%d (side %s) reorg depth %d at fork height %d (from RPC: heal did not watch the nodes' streams) (%d blocks at heal, old tip %s height %d)\n",
				nr.Node, sideName(nr.Side), nr.Depth, nr.ForkHeight, nr.BranchAtHeal, short(nr.OldTip), nr.OldTipHeight)
			continue
		}
		fmt.Fprintf(w, "  node%d (side %s) reorg depth %d at fork height %d, %s after heal (%d blocks at heal, old tip %s height %d -> new tip %s)\n",
			nr.Node, sideName(nr.Side), nr.Depth, nr.ForkHeight, nr.After.Round(time.Millisecond), nr.BranchAtHeal,
			short(nr.OldTip), nr.OldTipHeight, short(nr.NewTip))
	}
	fmt.Fprintf(w, "  orphaned      %d blocks\n", r.Orphaned)
	if r.Now.Agree {
		who := "all nodes"
		if len(r.Now.Left) > 0 {
			who = fmt.Sprintf("all nodes but %v (lie-work, junk: banned by their peers)", r.Now.Left)
		}
		fmt.Fprintf(w, "  agreement     %s on %s height %d, state digest %s\n", who, short(r.Now.Tip), r.Now.Height, short(r.Now.Digest))
	} else {
		fmt.Fprintf(w, "  agreement     NO: %s\n", r.Now.Reason)
	}
	if r.HealToAgreement > 0 {
		fmt.Fprintf(w, "  heal->agree   %s\n", r.HealToAgreement.Round(time.Millisecond))
	}
	for _, a := range r.Adversaries {
		fmt.Fprintf(w, "  adversary     %s\n", a)
	}
	if ds := r.DoubleSpend; ds != nil {
		fmt.Fprintf(w, "  double spend  nonce %d of node%d's key\n", ds.Nonce, ds.Sender)
		for k := 0; k < 2; k++ {
			where := "in no chain"
			if ds.InChain[k] {
				where = fmt.Sprintf("CONFIRMED at height %d (%s) on every node", ds.Height[k], short(ds.Block[k]))
			}
			pool := "in no mempool"
			if len(ds.InMempool[k]) > 0 {
				pool = fmt.Sprintf("in the mempool of nodes %v", ds.InMempool[k])
			}
			fmt.Fprintf(w, "    spend %d %s  %s coin(s) -> sink%d, sent on node%d (side %s): %s, %s; sink balance %s\n",
				k+1, ds.TxIDs[k][:16], FormatCoins(ds.Amounts[k]), k, ds.Nodes[k], sideName(ds.Side[k]), where, pool, FormatCoins(ds.Balances[k]))
		}
	}
}

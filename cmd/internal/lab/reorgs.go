package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// ReorgEvent is one chain reorganisation of one node. Observed events come
// from the node's WebSocket "reorgs" topic (At is when the lab received
// the notification, NewTip the block at which the new branch overtook the
// old one); events derived afterwards from RPC (DeriveReorg) know the
// fork, depth and removed blocks but neither the time nor the new tip.
type ReorgEvent struct {
	Node       int        `json:"node"`
	Observed   bool       `json:"observed"`
	At         time.Time  `json:"at,omitzero"`
	Depth      int        `json:"depth"`
	ForkHeight uint64     `json:"fork_height"`
	Fork       chain.Hash `json:"fork"`
	OldTip     chain.Hash `json:"old_tip"`
	NewTip     chain.Hash `json:"new_tip,omitzero"`
	// Removed are the disconnected blocks, old tip first; Added counts the
	// connected ones.
	Removed []chain.Hash `json:"removed"`
	Added   int          `json:"added"`
}

// ReorgFromEvent decodes a "reorg" notification; ok is false for any
// other event.
func ReorgFromEvent(ev Event) (ReorgEvent, bool, error) {
	if ev.Method != rpcjson.MethodReorg {
		return ReorgEvent{}, false, nil
	}
	var r rpcjson.ReorgNotification
	if err := json.Unmarshal(ev.Params, &r); err != nil {
		return ReorgEvent{}, false, fmt.Errorf("node%d: reorg notification %s: %w", ev.Node, ev.Params, err)
	}
	return ReorgEvent{
		Node: ev.Node, Observed: true, At: ev.At, Depth: r.Depth, ForkHeight: r.ForkHeight, Fork: r.ForkPoint,
		OldTip: r.OldTip, NewTip: r.NewTip, Removed: r.Removed, Added: len(r.Added),
	}, true, nil
}

// reorgDrainTimeout bounds how long Heal waits, after agreement, for the
// reorg notifications of nodes that left their branch.
const reorgDrainTimeout = 5 * time.Second

// collectReorgs reads the reorg notifications of s that arrived by now
// and waits (up to reorgDrainTimeout) until every node whose heal-time
// tip has left its main chain has announced the reorg that removed it. The
// notification can trail the chain state getstateinfo shows, since the
// nodes publish it after the fact. A node whose announcement does not come
// (its stream failed) gets its reorg derived from RPC instead, and a
// progress line says so.
func (l *Lab) collectReorgs(ctx context.Context, s *Stream, rec *HealRecord) ([]ReorgEvent, error) {
	var pending []int
	for i := range l.N() {
		left, err := l.leftMainChain(ctx, i, rec.Tips[i].Hash)
		if err != nil {
			return nil, err
		}
		if left {
			pending = append(pending, i)
		}
	}
	var out []ReorgEvent
	take := func(ev Event) error {
		r, isReorg, err := ReorgFromEvent(ev)
		if isReorg {
			out = append(out, r)
			pending = slices.DeleteFunc(pending, func(i int) bool { return i == r.Node && slices.Contains(r.Removed, rec.Tips[i].Hash) })
		}
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, reorgDrainTimeout)
	defer cancel()
	for open := true; open && len(pending) > 0; {
		select {
		case ev, ok := <-s.C:
			if open = ok; ok {
				if err := take(ev); err != nil {
					return nil, err
				}
			}
		case <-dctx.Done():
			open = false
		}
	}
	for open := true; open; { // what else has arrived, without waiting
		select {
		case ev, ok := <-s.C:
			if open = ok; ok {
				if err := take(ev); err != nil {
					return nil, err
				}
			}
		default:
			open = false
		}
	}
	for _, i := range pending {
		l.logf("node%d left its branch but announced no reorg within %s (stream: %v); deriving it from RPC", i, reorgDrainTimeout, s.Err())
		ev, ok, err := l.DeriveReorg(ctx, i, rec.Tips[i].Hash)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ev)
		}
	}
	return out, ctx.Err()
}

// leftMainChain reports whether block h is no longer in node i's main
// chain.
func (l *Lab) leftMainChain(ctx context.Context, i int, h chain.Hash) (bool, error) {
	hdr, err := l.Header(ctx, i, h)
	if err != nil {
		return false, err
	}
	return hdr.Confirmations < 0, nil
}

// DeriveReorg reconstructs from node i's RPC the reorganisation that took
// oldTip out of its main chain: it walks down from oldTip until a block of
// the main chain (the fork point). ok is false while oldTip is still in
// the main chain.
func (l *Lab) DeriveReorg(ctx context.Context, i int, oldTip chain.Hash) (ReorgEvent, bool, error) {
	ev := ReorgEvent{Node: i, OldTip: oldTip}
	cur := oldTip
	for {
		hdr, err := l.Header(ctx, i, cur)
		if err != nil {
			return ReorgEvent{}, false, err
		}
		if hdr.Confirmations >= 0 {
			ev.Fork, ev.ForkHeight, ev.Depth = cur, hdr.Height, len(ev.Removed)
			return ev, ev.Depth > 0, nil
		}
		if hdr.PreviousBlockHash == nil {
			return ReorgEvent{}, false, fmt.Errorf("node%d: block %s has no main-chain ancestor", i, oldTip)
		}
		ev.Removed = append(ev.Removed, cur)
		cur = *hdr.PreviousBlockHash
	}
}

// LastReorg returns node i's most recent reorg the lab observed: while
// Watch runs, from the node's stream; otherwise the last one recorded at
// the last heal.
func (l *Lab) LastReorg(i int) (ReorgEvent, bool) {
	if ev, ok := l.live[i]; ok {
		return ev, true
	}
	if h := l.State.Heal; h != nil {
		for k := len(h.Reorgs) - 1; k >= 0; k-- {
			if h.Reorgs[k].Node == i {
				return h.Reorgs[k], true
			}
		}
	}
	return ReorgEvent{}, false
}

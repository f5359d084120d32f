package web

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The collector keeps the tree current: it backfills recent heights from
// every node's RPC, then follows the nodes' WebSocket streams (blocks and
// reorgs). A block whose parent the tree lacks is fetched by header, so a
// burst of sync never leaves a hole. It resubscribes when the lab's nodes
// restart.

// resubscribeDelay is how long the collector waits before subscribing
// again after the nodes' streams ended (a node stopped or restarted).
const resubscribeDelay = 2 * time.Second

// headerWalkLimit bounds how many headers one backfill walks per branch.
const headerWalkLimit = 2000

func (s *Server) collect(ctx context.Context) error {
	for ctx.Err() == nil {
		l, err := s.openLab()
		if err == nil {
			err = s.follow(ctx, l)
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Debug("lab page: node streams ended; subscribing again", "err", err)
		t := time.NewTimer(resubscribeDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	return nil
}

// follow subscribes to every node, backfills, and applies notifications
// until the stream ends.
func (s *Server) follow(ctx context.Context, l *lab.Lab) error {
	st, err := l.Subscribe(ctx, rpcjson.TopicBlocks, rpcjson.TopicReorgs)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := s.backfill(ctx, l, 0); err != nil {
		s.log.Debug("lab page: backfill", "err", err)
	}
	s.refreshNodes(ctx)
	for ev := range st.C {
		s.apply(ctx, l, ev)
	}
	return st.Err()
}

// apply records one notification.
func (s *Server) apply(ctx context.Context, l *lab.Lab, ev lab.Event) {
	name := nodeName(ev.Node)
	switch ev.Method {
	case rpcjson.MethodBlockConnected:
		var n rpcjson.BlockNotification
		if err := json.Unmarshal(ev.Params, &n); err != nil {
			return
		}
		s.mu.Lock()
		parent, ok := s.tree.Get(n.PreviousBlockHash)
		var work *big.Int
		if ok {
			if bits, err := strconv.ParseUint(n.Bits, 16, 32); err == nil {
				work = new(big.Int).Add(parent.Work, chain.CalcWork(uint32(bits)))
			}
		}
		s.mu.Unlock()
		if work == nil {
			// Unknown parent (or unreadable bits): read the header, which
			// carries the chain work, and walk back to known blocks.
			if err := s.walkBack(ctx, l, ev.Node, n.Hash, 0); err != nil {
				s.log.Debug("lab page: header walk", "node", name, "err", err)
			}
		} else {
			s.mu.Lock()
			s.tree.Add(Block{Hash: n.Hash, Parent: n.PreviousBlockHash, Height: n.Height, Time: n.Time, Work: work})
			s.mu.Unlock()
		}
		s.mu.Lock()
		s.tree.SetTip(name, n.Hash)
		s.mu.Unlock()
		s.changed(true)
	case rpcjson.MethodBlockDisconnected:
		var n rpcjson.BlockNotification
		if err := json.Unmarshal(ev.Params, &n); err != nil {
			return
		}
		s.mu.Lock()
		s.tree.SetTip(name, n.PreviousBlockHash)
		s.mu.Unlock()
		s.changed(false)
	case rpcjson.MethodReorg:
		r, ok, err := lab.ReorgFromEvent(ev)
		if err != nil || !ok {
			return
		}
		s.mu.Lock()
		s.reorgs = append(s.reorgs, reorgLine{Node: name, At: r.At, Depth: r.Depth, ForkHeight: r.ForkHeight, Fork: r.Fork, NewTip: r.NewTip})
		if len(s.reorgs) > maxReorgLines {
			s.reorgs = s.reorgs[len(s.reorgs)-maxReorgLines:]
		}
		s.mu.Unlock()
		s.changed(true)
	}
}

// backfill loads the heights (top-window, top] (top 0: each node's tip)
// from every running node: its main chain by height, and the branches its
// getchaintips lists, walked back by header.
func (s *Server) backfill(ctx context.Context, l *lab.Lab, top uint64) error {
	var firstErr error
	for i := range l.N() {
		if !l.Running(i) {
			continue
		}
		if err := s.backfillNode(ctx, l, i, top); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("node%d: %w", i, err)
		}
	}
	s.changed(true)
	return firstErr
}

func (s *Server) backfillNode(ctx context.Context, l *lab.Lab, i int, top uint64) error {
	cl, err := l.Client(i)
	if err != nil {
		return err
	}
	tips, err := cl.GetChainTips(ctx)
	if err != nil {
		return err
	}
	for _, tip := range tips {
		if tip.Status == "active" {
			if top == 0 {
				s.mu.Lock()
				s.tree.SetTip(nodeName(i), tip.Hash)
				s.mu.Unlock()
			}
		} else if tip.Status != "valid-fork" && tip.Status != "valid-headers" {
			continue
		}
		start := tip.Hash
		if top != 0 && tip.Height > top {
			if tip.Status != "active" {
				continue
			}
			if start, err = cl.GetBlockHash(ctx, top); err != nil {
				return err
			}
		}
		if err := s.walkBack(ctx, l, i, start, uint64(s.cfg.Window)); err != nil {
			return err
		}
	}
	return nil
}

// walkBack adds the block h and its ancestors, read by header from node
// i, until it reaches a block the tree has, walks limit blocks (0:
// headerWalkLimit), or reaches genesis.
func (s *Server) walkBack(ctx context.Context, l *lab.Lab, i int, h chain.Hash, limit uint64) error {
	if limit == 0 || limit > headerWalkLimit {
		limit = headerWalkLimit
	}
	for n := uint64(0); n < limit; n++ {
		s.mu.Lock()
		have := s.tree.Has(h)
		s.mu.Unlock()
		if have {
			return nil
		}
		hdr, err := l.Header(ctx, i, h)
		if err != nil {
			return err
		}
		work, ok := new(big.Int).SetString(hdr.ChainWork, 16)
		if !ok {
			return fmt.Errorf("block %s: chain work %q is not hex", h, hdr.ChainWork)
		}
		var parent chain.Hash
		if hdr.PreviousBlockHash != nil {
			parent = *hdr.PreviousBlockHash
		}
		s.mu.Lock()
		added := s.tree.Add(Block{Hash: h, Parent: parent, Height: hdr.Height, Time: hdr.Time, Work: work})
		s.mu.Unlock()
		if !added || hdr.PreviousBlockHash == nil {
			return nil
		}
		h = parent
	}
	return nil
}

func nodeName(i int) string { return "node" + strconv.Itoa(i) }

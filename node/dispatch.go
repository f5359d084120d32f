package node

import (
	"context"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/rpc"
)

// dispatch is the node's event loop: it delivers every chain event, in
// order, to the mempool (reorg handling), the wallet, the miner (instant
// restart on a new tip), the RPC notification hub and the metrics, and logs
// connected blocks and reorgs; its ticker drives the status summary
// (summary.go). Mempool events go to the hub and the rebroadcaster (which
// stops republishing a transaction the pool removed).
func (n *Node) dispatch(ctx context.Context, events *chain.Subscription, cm *chainMetrics, comps *components) error {
	poolEvents := n.pool.Subscribe(4096)
	defer poolEvents.Close()
	progress := newStatusReporter(nodeStatus{n: n, comps: comps}, n.log, n.cfg.summaryInterval(), n.cfg.Bootnodes, time.Now())
	ticker := time.NewTicker(statusTick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-events.Events():
			if !ok {
				return nil
			}
			n.handleChainEvent(ev, cm, comps, progress)
		case ev, ok := <-poolEvents.Events():
			if !ok {
				return nil
			}
			n.hub.publishMempool(ev)
			if comps.rebroadcast != nil {
				comps.rebroadcast.handlePoolEvent(ev)
			}
		case now := <-ticker.C:
			progress.tick(now)
		}
	}
}

func (n *Node) handleChainEvent(ev chain.Event, cm *chainMetrics, comps *components, progress *statusReporter) {
	cm.observe(ev)
	n.pool.HandleEvent(ev)
	comps.wallet.HandleEvent(ev)
	n.hub.publishChain(ev)
	if ev.Kind == chain.EventNewTip { // the last event of a change
		n.synced.set(ev.Tip)
	}
	switch ev.Kind {
	case chain.EventBlockConnected:
		progress.connected()
		if progress.quiet() {
			return
		}
		who := "peer"
		if n.ours.has(ev.Hash) {
			who = "us"
		}
		n.log.Info("block connected", "height", ev.Height, "hash", ev.Hash, "txs", len(ev.Block.Txs), "miner", who)
	case chain.EventReorg:
		r := ev.Reorg
		n.log.Info("reorg", "depth", r.Depth(), "fork_height", r.ForkHeight, "fork", r.ForkPoint,
			"old_tip", r.OldTip, "new_tip", r.NewTip, "added", len(r.Added))
	case chain.EventNewTip:
		comps.miner.TipChanged()
		if comps.stratum != nil {
			comps.stratum.TipChanged()
		}
	}
}

// notifyHub fans chain and mempool events out to RPC subscribers. A full
// subscriber channel drops the notification and counts it in the Lost field
// of the next one delivered; it never blocks the dispatcher.
type notifyHub struct {
	mu   sync.Mutex
	subs map[*notifySub]struct{}
}

type notifySub struct {
	ch   chan rpc.Notification
	lost uint64
}

func (h *notifyHub) subscribe(buffer int) (<-chan rpc.Notification, func()) {
	if buffer < 1 {
		buffer = 1
	}
	s := &notifySub{ch: make(chan rpc.Notification, buffer)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*notifySub]struct{})
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, s)
			h.mu.Unlock()
			close(s.ch)
		})
	}
}

func (h *notifyHub) publish(nt rpc.Notification) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		nt.Lost = s.lost
		select {
		case s.ch <- nt:
			s.lost = 0
		default:
			s.lost++
		}
	}
}

func (h *notifyHub) publishChain(ev chain.Event) {
	switch ev.Kind {
	case chain.EventBlockConnected:
		h.publish(rpc.Notification{Kind: rpc.NotifyBlockConnected, Hash: ev.Hash, Height: ev.Height, Block: ev.Block})
	case chain.EventBlockDisconnected:
		h.publish(rpc.Notification{Kind: rpc.NotifyBlockDisconnected, Hash: ev.Hash, Height: ev.Height, Block: ev.Block})
	case chain.EventReorg:
		r := ev.Reorg
		h.publish(rpc.Notification{Kind: rpc.NotifyReorg, Reorg: &rpc.Reorg{
			ForkPoint: r.ForkPoint, ForkHeight: r.ForkHeight, Removed: r.Removed, Added: r.Added, OldTip: r.OldTip, NewTip: r.NewTip,
		}})
	}
}

func (h *notifyHub) publishMempool(ev mempool.Event) {
	switch ev.Kind {
	case mempool.EventAdded:
		h.publish(rpc.Notification{Kind: rpc.NotifyMempoolAdded, TxID: ev.ID, Tx: ev.Tx})
	case mempool.EventRemoved:
		reason := string(ev.Reason)
		if ev.Reason == mempool.ReasonIncluded {
			reason = "block" // the documented WebSocket vocabulary (rpc/doc.go), as Core's removal reason
		}
		h.publish(rpc.Notification{Kind: rpc.NotifyMempoolRemoved, TxID: ev.ID, Tx: ev.Tx, Reason: reason})
	}
}

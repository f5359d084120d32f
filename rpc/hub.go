package rpc

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// topic indexes the WebSocket topics.
type topic int

const (
	topicBlocks topic = iota
	topicReorgs
	topicMempool
	numTopics
)

var topicNames = [numTopics]string{rpcjson.TopicBlocks, rpcjson.TopicReorgs, rpcjson.TopicMempool}

func parseTopic(s string) (topic, bool) {
	for i, n := range topicNames {
		if n == s {
			return topic(i), true
		}
	}
	return 0, false
}

func topicOf(k NotificationKind) (topic, bool) {
	switch k {
	case NotifyBlockConnected, NotifyBlockDisconnected:
		return topicBlocks, true
	case NotifyReorg:
		return topicReorgs, true
	case NotifyMempoolAdded, NotifyMempoolRemoved:
		return topicMempool, true
	}
	return 0, false
}

// hub fans the backend's notifications out to WebSocket subscribers and
// wakes waitfornewblock. One goroutine (run) reads the backend channel and
// never blocks on a client: each client has a bounded queue, and a client
// whose queue is full is disconnected. Sequence numbers are per topic,
// assigned here, so a subscriber that is not disconnected has seen every
// notification of its topics since it subscribed, in order.
type hub struct {
	s *Server

	mu      sync.Mutex
	running bool
	closed  bool
	clients map[*wsClient]struct{}
	seq     [numTopics]uint64
	tipCh   chan struct{} // closed (and replaced) on every block event

	wg sync.WaitGroup // WebSocket connection handlers
}

func newHub(s *Server) *hub {
	return &hub{s: s, clients: make(map[*wsClient]struct{}), tipCh: make(chan struct{})}
}

// run dispatches notifications until ctx ends or the channel closes.
func (h *hub) run(ctx context.Context, events <-chan Notification) {
	h.mu.Lock()
	h.running = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.running = false
		close(h.tipCh) // wake waiters: no more wakeups will come
		h.tipCh = make(chan struct{})
		h.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-events:
			if !ok {
				return
			}
			h.dispatch(n)
		}
	}
}

// tipWaiter returns a channel closed at the next block event, nil if no
// event source is running.
func (h *hub) tipWaiter() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return nil
	}
	return h.tipCh
}

func (h *hub) dispatch(n Notification) {
	params := h.s.notificationParams(n)
	t, ok := topicOf(n.Kind)
	h.mu.Lock()
	defer h.mu.Unlock()
	if n.Lost > 0 {
		h.s.log.Warn("rpc: event source dropped notifications; disconnecting subscribers", "lost", n.Lost)
		for c := range h.clients {
			if c.subscribed() {
				h.s.metrics.wsDropped.WithLabelValues("lost").Inc()
				c.kill(closeTryAgainLater, "notifications lost; reconnect and resubscribe")
			}
		}
	}
	if t == topicBlocks {
		close(h.tipCh)
		h.tipCh = make(chan struct{})
	}
	if !ok || params == nil {
		return
	}
	h.s.metrics.notifySent.WithLabelValues(topicNames[t]).Inc()
	h.seq[t]++
	params.setSeq(h.seq[t])
	msg, err := json.Marshal(wsNotification{Version: "2.0", Method: n.Kind.String(), Params: params})
	if err != nil {
		h.s.log.Error("rpc: encode notification", "err", err)
		return
	}
	for c := range h.clients {
		if c.topics[t] && !c.enqueue(msg) {
			h.s.metrics.wsDropped.WithLabelValues("slow").Inc()
			c.kill(closePolicyViolation, "slow consumer: notification queue full")
		}
	}
}

// subscribe adds t to c's topics and returns the topic's current sequence
// number, atomically with respect to dispatch.
func (h *hub) subscribe(c *wsClient, t topic, on bool) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running {
		return 0, false
	}
	c.topics[t] = on
	return h.seq[t], true
}

// add registers a connection; false if the server is closing or full.
func (h *hub) add(c *wsClient) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.clients) >= h.s.cfg.MaxWSClients {
		return false
	}
	h.clients[c] = struct{}{}
	h.wg.Add(1)
	h.s.metrics.wsClients.Inc()
	return true
}

func (h *hub) remove(c *wsClient) {
	h.mu.Lock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		h.s.metrics.wsClients.Dec()
		h.wg.Done()
	}
	h.mu.Unlock()
}

// closeAll disconnects every client and refuses new ones.
func (h *hub) closeAll(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		h.s.metrics.wsDropped.WithLabelValues(reason).Inc()
		c.kill(closeGoingAway, "server shutting down")
	}
}

// waitClients waits until every connection handler has returned.
func (h *hub) waitClients() { h.wg.Wait() }

// seqParams is a notification's params with a settable sequence number.
type seqParams interface{ setSeq(uint64) }

type wsNotification struct {
	Version string    `json:"jsonrpc"`
	Method  string    `json:"method"`
	Params  seqParams `json:"params"`
}

type blockParams struct{ rpcjson.BlockNotification }

func (p *blockParams) setSeq(n uint64) { p.Seq = n }

type reorgParams struct{ rpcjson.ReorgNotification }

func (p *reorgParams) setSeq(n uint64) { p.Seq = n }

type mempoolParams struct{ rpcjson.MempoolNotification }

func (p *mempoolParams) setSeq(n uint64) { p.Seq = n }

// notificationParams builds the JSON params of a notification (without its
// sequence number), nil for an unknown kind.
func (s *Server) notificationParams(n Notification) seqParams {
	switch n.Kind {
	case NotifyBlockConnected, NotifyBlockDisconnected:
		p := &blockParams{rpcjson.BlockNotification{Hash: n.Hash, Height: n.Height, Tx: []chain.Hash{}}}
		if b := n.Block; b != nil {
			p.PreviousBlockHash = b.Header.PrevBlock
			p.Time = b.Header.Timestamp
			p.Bits = bitsHex(b.Header.Bits)
			p.NTx = len(b.Txs)
			p.Size = b.SerializeSize()
			p.Tx = b.TxIDs()
		}
		return p
	case NotifyReorg:
		if n.Reorg == nil {
			return nil
		}
		r := n.Reorg
		return &reorgParams{rpcjson.ReorgNotification{
			Depth: len(r.Removed), ForkPoint: r.ForkPoint, ForkHeight: r.ForkHeight,
			OldTip: r.OldTip, NewTip: r.NewTip,
			Removed: nonNilHashes(r.Removed), Added: nonNilHashes(r.Added),
		}}
	case NotifyMempoolAdded, NotifyMempoolRemoved:
		p := &mempoolParams{rpcjson.MempoolNotification{TxID: n.TxID, Reason: n.Reason}}
		if tx := n.Tx; tx != nil {
			amount, fee, nonce := rpcjson.AmountFromUnits(tx.Amount), rpcjson.AmountFromUnits(tx.Fee), tx.Nonce
			p.Amount, p.Fee, p.Nonce = &amount, &fee, &nonce
			p.To = tx.To.Encode(s.params)
			if !tx.IsCoinbase() {
				p.From = tx.From().Encode(s.params)
			}
			p.Size = tx.SerializeSize()
		}
		return p
	}
	return nil
}

func nonNilHashes(h []chain.Hash) []chain.Hash {
	if h == nil {
		return []chain.Hash{}
	}
	return h
}

package chain

import (
	"sync"
	"sync/atomic"
)

// EventKind says what changed.
type EventKind int

// Event kinds, in the order they are emitted for one change: disconnections
// (old tip first), connections (lowest first), the reorg summary (only when
// something was disconnected), then the new tip.
const (
	EventBlockConnected EventKind = iota + 1
	EventBlockDisconnected
	EventReorg
	EventNewTip
)

// String names the kind.
func (k EventKind) String() string {
	switch k {
	case EventBlockConnected:
		return "block_connected"
	case EventBlockDisconnected:
		return "block_disconnected"
	case EventReorg:
		return "reorg"
	case EventNewTip:
		return "new_tip"
	}
	return "unknown"
}

// Reorg describes a switch of the best chain to another branch.
type Reorg struct {
	ForkPoint  Hash
	ForkHeight uint64
	// Removed lists the disconnected blocks, old tip first; Added the
	// connected ones, lowest first.
	Removed, Added []Hash
	OldTip, NewTip Hash
}

// Depth returns the number of blocks disconnected.
func (r *Reorg) Depth() int { return len(r.Removed) }

// Event is one change of the chain. Seq increases by one per event across
// the chain's lifetime, so a subscriber can detect drops. Block is set for
// connected and disconnected blocks, Reorg for EventReorg, Tip for EventNewTip.
type Event struct {
	Kind   EventKind
	Seq    uint64
	Block  *Block
	Hash   Hash
	Height uint64
	Reorg  *Reorg
	Tip    Snapshot
}

// Subscription receives chain events on a buffered channel. When the buffer
// is full an event is dropped (and counted) rather than stalling the chain.
// Safe for concurrent use.
type Subscription struct {
	ch      chan Event
	dropped atomic.Uint64
	hub     *eventHub
	once    sync.Once
}

// Events returns the channel events arrive on. It is closed by Close.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped returns how many events were dropped because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes the channel.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.hub.mu.Lock()
		delete(s.hub.subs, s)
		s.hub.mu.Unlock()
		close(s.ch)
	})
}

type eventHub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
	seq  uint64
}

func (h *eventHub) subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	s := &Subscription{ch: make(chan Event, buffer), hub: h}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*Subscription]struct{})
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// publish delivers events in order to every subscriber without blocking.
func (h *eventHub) publish(evs []Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range evs {
		h.seq++
		evs[i].Seq = h.seq
		for s := range h.subs {
			select {
			case s.ch <- evs[i]:
			default:
				s.dropped.Add(1)
			}
		}
	}
}

// Subscribe returns a subscription to every chain change with the given
// buffer size. Call Close when done.
func (c *Chain) Subscribe(buffer int) *Subscription { return c.events.subscribe(buffer) }

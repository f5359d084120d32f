package mempool

import (
	"sync/atomic"

	"github.com/quarrychain/quarry/chain"
)

// RemoveReason says why a transaction left the pool. The values are the
// bounded label set of quarry_mempool_removed_total.
type RemoveReason string

// Removal reasons.
const (
	// ReasonIncluded: the transaction is in a connected block.
	ReasonIncluded RemoveReason = "included"
	// ReasonReplaced: a same-sender same-nonce transaction paid more.
	ReasonReplaced RemoveReason = "replaced"
	// ReasonEvicted: the pool (or the sender's allowance) was full and the
	// transaction was the cheapest evictable one.
	ReasonEvicted RemoveReason = "evicted"
	// ReasonExpired: pending longer than Config.Expiry.
	ReasonExpired RemoveReason = "expired"
	// ReasonConflict: the chain has used the sender's nonce, by a different
	// transaction (double spend, reorg) or by this one in a block the pool
	// has not processed yet.
	ReasonConflict RemoveReason = "conflict"
	// ReasonUnfunded: after a state change the sender's balance no longer
	// covers this transaction on top of its predecessors.
	ReasonUnfunded RemoveReason = "unfunded"
	// ReasonGapped: a predecessor went away and the nonce fell outside the
	// allowed gap window.
	ReasonGapped RemoveReason = "gapped"
)

var allReasons = [...]RemoveReason{ReasonIncluded, ReasonReplaced, ReasonEvicted, ReasonExpired,
	ReasonConflict, ReasonUnfunded, ReasonGapped}

// EventKind distinguishes pool notifications.
type EventKind int

// Pool notification kinds.
const (
	// EventAdded: a transaction entered the pool (Queued says whether it
	// waits for a nonce gap). Transactions put back after a reorg are
	// announced this way too.
	EventAdded EventKind = iota + 1
	// EventRemoved: a transaction left the pool for Reason.
	EventRemoved
)

// String names the kind ("added", "removed").
func (k EventKind) String() string {
	switch k {
	case EventAdded:
		return "added"
	case EventRemoved:
		return "removed"
	}
	return "unknown"
}

// Event is one pool change, delivered in the order the changes happened.
type Event struct {
	Kind   EventKind
	ID     chain.Hash
	Tx     *chain.Tx
	Queued bool         // EventAdded only
	Reason RemoveReason // EventRemoved only
}

// Subscription receives pool events on a buffered channel. A full buffer
// drops the event (counted by Dropped and quarry_mempool_notifications_dropped_total)
// instead of blocking the pool. Safe for concurrent use.
type Subscription struct {
	p       *Pool
	ch      chan Event
	dropped atomic.Uint64
	closed  bool // guarded by p.mu
}

// Subscribe returns a subscription with the given buffer size (at least 1).
// Call Close when done. Safe for concurrent use.
func (p *Pool) Subscribe(buffer int) *Subscription {
	s := &Subscription{p: p, ch: make(chan Event, max(buffer, 1))}
	p.mu.Lock()
	p.subs[s] = struct{}{}
	p.mu.Unlock()
	return s
}

// Events returns the channel events arrive on; Close closes it.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped returns how many events were dropped because the buffer was full.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close stops delivery and closes the channel. It may be called more than once.
func (s *Subscription) Close() {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(s.p.subs, s)
	close(s.ch)
}

// notify delivers ev to every subscriber without blocking; p.mu is held,
// which keeps the order of events and makes delivery race-free with Close.
func (p *Pool) notify(ev Event) {
	for s := range p.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
			p.met.notifyDropped.Inc()
		}
	}
}

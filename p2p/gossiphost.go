package p2p

import (
	"context"
	"runtime"
	"sync"
	"time"
	"weak"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
)

// gossipsub (go-libp2p-pubsub v0.17.0, unchanged in v0.19.0) keeps two
// things for every peer it meets that outlast the peer: a signed peer
// record for a quarter of an hour, and a context until the router stops.
// A node that meets a stream of fresh identities (lab after lab, or a
// peer cycling its keys) would accumulate them, about 1.2 KB per peer met
// (heap profiles). Both are contained here, through what gossipsub is
// given rather than by changing it: the host (gossipHost) and the context
// (weakParent).
//
// Signed peer records. gossipsub keeps a private address book for peer
// exchange: every signed peer record that identify delivers is stored
// there until 15 minutes after the peer leaves (manageAddrBook), and
// nothing outside gossipsub can clear it. Quarry turns peer exchange off
// and has no direct gossip peers, the only two uses of that book, so the
// records are dead weight. gossipHost's event bus delivers identification
// events without their signed peer record; everything else passes
// unchanged.

// gossipHost is the node's host as gossipsub sees it. It is safe for
// concurrent use.
type gossipHost struct {
	host.Host
	subs *subscriptions
}

// EventBus returns the host's bus with signed peer records stripped from
// the identification events of every subscription.
func (h gossipHost) EventBus() event.Bus { return recordlessBus{h.Host.EventBus(), h.subs} }

// subscriptions counts the open subscriptions made through a gossipHost.
// gossipsub's event goroutines close theirs as they return, so the count
// reaching zero after its context ends says they have; the node waits for
// that before closing the host. It is safe for concurrent use.
type subscriptions struct {
	mu     sync.Mutex
	open   int
	ended  bool          // set by wait: no more subscriptions
	closed chan struct{} // signalled (capacity 1) whenever one ends
}

func newSubscriptions() *subscriptions { return &subscriptions{closed: make(chan struct{}, 1)} }

// add counts a new subscription; it reports false once wait has ended.
func (s *subscriptions) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return false
	}
	s.open++
	return true
}

func (s *subscriptions) done() {
	s.mu.Lock()
	s.open--
	s.mu.Unlock()
	select {
	case s.closed <- struct{}{}:
	default:
	}
}

// wait returns true once no subscription is open, or false after
// timeout; either way, add refuses afterwards.
func (s *subscriptions) wait(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		open := s.open
		if open == 0 {
			s.ended = true
		}
		s.mu.Unlock()
		if open == 0 {
			return true
		}
		select {
		case <-s.closed:
		case <-t.C:
			s.mu.Lock()
			s.ended = true
			s.mu.Unlock()
			return false
		}
	}
}

// recordlessBus is an event bus whose subscriptions see
// EvtPeerIdentificationCompleted without SignedPeerRecord. It is safe for
// concurrent use.
type recordlessBus struct {
	event.Bus
	subs *subscriptions
}

// Subscribe subscribes on the underlying bus and relays its events, in
// order, through a goroutine that strips the records. The goroutine ends
// once the subscription is closed. Once the node has waited for
// gossipsub's subscriptions at shutdown, a new one is the bus's own.
func (b recordlessBus) Subscribe(eventType any, opts ...event.SubscriptionOpt) (event.Subscription, error) {
	if !b.subs.add() {
		// A goroutine of gossipsub's that started after the node
		// stopped it: it gets the bus itself (and returns at once on the
		// ended context), so that no relay of ours outlives the node.
		return b.Bus.Subscribe(eventType, opts...)
	}
	sub, err := b.Bus.Subscribe(eventType, opts...)
	if err != nil {
		b.subs.done()
		return nil, err
	}
	s := &recordlessSub{Subscription: sub, out: make(chan any, 16), done: make(chan struct{})}
	go func() {
		defer b.subs.done()
		s.relay()
	}()
	return s, nil
}

// recordlessSub relays one subscription. It is safe for concurrent use.
type recordlessSub struct {
	event.Subscription
	out  chan any
	done chan struct{} // closed by Close: relay stops delivering
	once sync.Once
}

// relay copies events until the underlying channel closes (the bus closes
// it when the subscription is closed). After Close it keeps draining
// without delivering, so that no emitter blocks on this subscriber.
func (s *recordlessSub) relay() {
	defer close(s.out)
	for ev := range s.Subscription.Out() {
		if id, ok := ev.(event.EvtPeerIdentificationCompleted); ok {
			id.SignedPeerRecord = nil
			ev = id
		}
		select {
		case s.out <- ev:
		case <-s.done:
		}
	}
}

// Out returns the relayed events.
func (s *recordlessSub) Out() <-chan any { return s.out }

// Close closes the underlying subscription; the relay then ends.
func (s *recordlessSub) Close() error {
	s.once.Do(func() { close(s.done) })
	return s.Subscription.Close()
}

// Per-peer contexts. For each peer gossipsub opens an outgoing stream
// and derives a cancellable context for its writer from the router's
// context (handleNewPeer), but cancels it only if the stream is refused;
// when the peer leaves, the writer returns and the context stays
// registered as a child of the router's context until the router stops:
// about 450 bytes per peer met (the context, its done channel and its
// children map). weakParent is that router context: it registers children
// weakly, so a child that nothing else can reach (no goroutine waits on
// it, no descendant hangs from it) is collected, while every child that
// can still be observed is cancelled when the router stops, as from any
// context.

// weakParent is a context that forwards to its parent (values, deadline,
// cancellation) but holds the children derived from it weakly. It is
// safe for concurrent use.
//
// The context package registers a child with a parent that is not one of
// its own types through the parent's AfterFunc method, and keeps the stop
// function that method returns inside the child. weakParent's stop
// function holds the registration's token, and weakParent keeps only a
// weak pointer to the token, so the token lives exactly as long as the
// child is reachable. Cancellation of an unreachable child cannot be
// observed, so dropping it changes nothing.
type weakParent struct {
	context.Context // the parent: Value, Deadline; Err once done is closed

	done chan struct{}

	mu       sync.Mutex
	ended    bool
	next     uint64
	children map[uint64]weak.Pointer[childToken]
}

// childToken holds the function that cancels one child.
type childToken struct{ cancel func() }

// newWeakParent returns a context derived from parent that is done when
// parent is.
func newWeakParent(parent context.Context) *weakParent {
	w := &weakParent{Context: parent, done: make(chan struct{}), children: map[uint64]weak.Pointer[childToken]{}}
	context.AfterFunc(parent, w.end)
	return w
}

// Done is closed once the parent is done. It is not the parent's channel, so that the context package
// registers children through AfterFunc rather than with the parent.
func (w *weakParent) Done() <-chan struct{} { return w.done }

// Err is nil until Done is closed, then the parent's error.
func (w *weakParent) Err() error {
	select {
	case <-w.done:
		return w.Context.Err()
	default:
		return nil
	}
}

// AfterFunc registers f, which cancels a child, to run when the parent is
// done. The returned function unregisters it and reports whether it did
// (false once f has run or was unregistered).
func (w *weakParent) AfterFunc(f func()) (stop func() bool) {
	tok := &childToken{cancel: f}
	w.mu.Lock()
	if w.ended {
		w.mu.Unlock()
		go f() // the context package calls AfterFunc holding the child's lock
		return func() bool { return false }
	}
	id := w.next
	w.next++
	w.children[id] = weak.Make(tok)
	w.mu.Unlock()
	runtime.AddCleanup(tok, w.forget, id)
	return func() bool {
		w.mu.Lock()
		_, ok := w.children[id]
		delete(w.children, id)
		w.mu.Unlock()
		runtime.KeepAlive(tok) // the child's hold on tok
		return ok
	}
}

// forget drops the entry of a child that was collected.
func (w *weakParent) forget(id uint64) {
	w.mu.Lock()
	delete(w.children, id)
	w.mu.Unlock()
}

// end cancels every child that is still reachable, then closes Done.
func (w *weakParent) end() {
	w.mu.Lock()
	w.ended = true
	var live []*childToken
	for _, p := range w.children {
		if tok := p.Value(); tok != nil {
			live = append(live, tok)
		}
	}
	clear(w.children)
	w.mu.Unlock()
	close(w.done)
	for _, tok := range live {
		tok.cancel()
	}
}

// childCount returns the number of registered children (tests).
func (w *weakParent) childCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.children)
}

package p2p

import (
	"context"
	"runtime"
	"sync"
	"weak"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
)

// gossipsub (go-libp2p-pubsub v0.17.0, unchanged in v0.19.0) keeps two
// things for every peer it meets that outlast the peer: a signed peer
// record for a quarter of an hour, and a context until the router stops.
// A node that meets a stream of fresh identities (lab after lab, or a
// peer cycling its keys) would accumulate them: about 780 bytes per peer
// met for the records and 460 for the contexts, by heap profiles of
// BenchmarkPeerChurnHeap (QUARRY_CHURN_PROFILES, churn_test.go) on the
// code without what follows. Both are contained here, through what
// gossipsub is given rather than by changing it: the host (gossipHost)
// and the context (weakParent).
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
	// subs counts the open subscriptions made through the host: gossipsub's
	// event goroutines close theirs as they return, so the node waits for
	// the count to reach zero before closing the host.
	subs *tracker
}

// EventBus returns the host's bus with signed peer records stripped from
// the identification events of every subscription.
func (h gossipHost) EventBus() event.Bus { return recordlessBus{h.Host.EventBus(), h.subs} }

// recordlessBus is an event bus whose subscriptions see
// EvtPeerIdentificationCompleted without SignedPeerRecord. It is safe for
// concurrent use.
type recordlessBus struct {
	event.Bus
	subs *tracker
}

// Subscribe subscribes on the underlying bus and relays its events, in
// order, through a goroutine that strips the records. The goroutine ends
// once the subscription is closed. Once the node has waited for
// gossipsub's subscriptions at shutdown, a new one is the bus's own.
func (b recordlessBus) Subscribe(eventType any, opts ...event.SubscriptionOpt) (event.Subscription, error) {
	if !b.subs.enter() {
		// A goroutine of gossipsub's that started after the node
		// stopped it: it gets the bus itself (and returns at once on the
		// ended context), so that no relay of ours outlives the node.
		return b.Bus.Subscribe(eventType, opts...)
	}
	sub, err := b.Bus.Subscribe(eventType, opts...)
	if err != nil {
		b.subs.leave()
		return nil, err
	}
	s := &recordlessSub{Subscription: sub, out: make(chan any, 16), done: make(chan struct{})}
	go func() {
		defer b.subs.leave()
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
// registered as a child of the router's context until the router stops
// (the context, its done channel and its children map). weakParent is
// that router context: it registers children weakly, so a child that
// nothing else can reach (no goroutine waits on it, no descendant hangs
// from it) is collected, while every child that can still be observed is
// cancelled when the router stops, as from any context.

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
	children map[weak.Pointer[childToken]]struct{}
}

// childToken holds the function that cancels one child.
type childToken struct{ cancel func() }

// newWeakParent returns a context derived from parent that is done when
// parent is.
func newWeakParent(parent context.Context) *weakParent {
	w := &weakParent{Context: parent, done: make(chan struct{}), children: map[weak.Pointer[childToken]]struct{}{}}
	context.AfterFunc(parent, w.end)
	return w
}

// Done is closed once the parent is done. It is not the parent's channel,
// so that the context package registers children through AfterFunc
// rather than with the parent.
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
	wp := weak.Make(tok) // a weak pointer stays equal to itself once tok is gone
	w.children[wp] = struct{}{}
	w.mu.Unlock()
	runtime.AddCleanup(tok, w.forget, wp)
	return func() bool {
		w.mu.Lock()
		_, ok := w.children[wp]
		delete(w.children, wp)
		w.mu.Unlock()
		runtime.KeepAlive(tok) // the child's hold on tok
		return ok
	}
}

// forget drops the entry of a child that was collected.
func (w *weakParent) forget(wp weak.Pointer[childToken]) {
	w.mu.Lock()
	delete(w.children, wp)
	w.mu.Unlock()
}

// end closes Done and cancels every child that is still reachable.
func (w *weakParent) end() {
	w.mu.Lock()
	w.ended = true
	var live []*childToken
	for wp := range w.children {
		if tok := wp.Value(); tok != nil {
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

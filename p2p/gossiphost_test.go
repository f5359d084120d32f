package p2p

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"

	"github.com/quarrychain/quarry/chain/testkit"
)

// collected runs the garbage collector until w has no child registered,
// or fails after a deadline (cleanups run on their own goroutine).
func collected(t *testing.T, w *weakParent, want int) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "unreachable children collected", func() bool {
		runtime.GC()
		return w.childCount() == want
	})
}

// TestWeakParentCollectsUnreachableChildren: children derived and never
// cancelled (as gossipsub does with a departed peer's writer context)
// stay registered only while something can reach them.
func TestWeakParentCollectsUnreachableChildren(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWeakParent(ctx)
	// derive makes a child and a grandchild, as gossipsub's writer and
	// its queue's Pop do, and drops the child without cancelling it.
	derive := func() context.CancelFunc {
		c, cc := context.WithCancel(w)
		stop := context.AfterFunc(c, func() {})
		stop()
		return cc
	}
	for range 100 {
		_ = derive()
	}
	kept, keep := context.WithTimeout(w, time.Hour)
	defer keep()
	if n := w.childCount(); n < 1 || n > 101 {
		t.Fatalf("%d children registered", n)
	}
	collected(t, w, 1)
	if kept.Err() != nil {
		t.Fatal("a reachable child was cancelled")
	}
}

// TestWeakParentCancelsLiveChildren: when the parent ends, every child
// that can be reached is cancelled with the parent's error, descendants
// included, and a child derived afterwards is born cancelled.
func TestWeakParentCancelsLiveChildren(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), testKey{}, "v"))
	w := newWeakParent(ctx)
	if w.Err() != nil || w.Value(testKey{}) != "v" {
		t.Fatalf("err %v, value %v", w.Err(), w.Value(testKey{}))
	}
	var children []context.Context
	for range 5 {
		c, cc := context.WithCancel(w)
		defer cc()
		children = append(children, c)
	}
	stopped, stop := context.WithCancel(w)
	stop() // unregistered: cancelled by its own function
	if n := w.childCount(); n != 5 {
		t.Fatalf("%d children registered after one was cancelled, want 5", n)
	}
	fired := make(chan struct{})
	context.AfterFunc(children[0], func() { close(fired) })

	cancel()
	select {
	case <-w.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the parent was cancelled")
	}
	if !errors.Is(w.Err(), context.Canceled) {
		t.Fatalf("Err %v after the parent was cancelled", w.Err())
	}
	for i, c := range children {
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("child %d not cancelled", i)
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("child %d: %v", i, c.Err())
		}
	}
	select {
	case <-fired:
	case <-time.After(10 * time.Second):
		t.Fatal("a descendant's AfterFunc did not run")
	}
	if stopped.Err() == nil || w.childCount() != 0 {
		t.Fatalf("stopped child %v, %d registered", stopped.Err(), w.childCount())
	}
	late, lc := context.WithCancel(w)
	defer lc()
	select {
	case <-late.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a child derived after the end was not cancelled")
	}
}

type testKey struct{}

// TestRecordlessBus: subscriptions through gossipHost's bus see
// identification events without a signed peer record and every other
// event unchanged, in order; they are counted open until closed; closing
// one ends its relay and never blocks an emitter; one made after the
// node has waited for them is not relayed.
func TestRecordlessBus(t *testing.T) {
	bus := eventbus.NewBus()
	idEm, err := bus.Emitter(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idEm.Close() }()
	connEm, err := bus.Emitter(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = connEm.Close() }()
	subs := &tracker{}
	sub, err := recordlessBus{bus, subs}.Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged)})
	if err != nil {
		t.Fatal(err)
	}
	p := newTestPeerID(t)
	_ = idEm.Emit(event.EvtPeerIdentificationCompleted{Peer: p, SignedPeerRecord: &record.Envelope{}, AgentVersion: "a"})
	_ = connEm.Emit(event.EvtPeerConnectednessChanged{Peer: p})
	next := func() any {
		select {
		case ev := <-sub.Out():
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event relayed")
			return nil
		}
	}
	id, ok := next().(event.EvtPeerIdentificationCompleted)
	if !ok || id.SignedPeerRecord != nil || id.Peer != p || id.AgentVersion != "a" {
		t.Fatalf("identification relayed as %+v", id)
	}
	if c, ok := next().(event.EvtPeerConnectednessChanged); !ok || c.Peer != p {
		t.Fatalf("connectedness relayed as %+v", c)
	}
	if subs.closeWithin(10 * time.Millisecond) {
		t.Fatal("an open subscription is not counted")
	}
	// Undelivered events (within the buffers), then Close: the emitter
	// must not block.
	for range 20 {
		_ = connEm.Emit(event.EvtPeerConnectednessChanged{Peer: p})
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	for range 64 {
		_ = connEm.Emit(event.EvtPeerConnectednessChanged{Peer: p})
	}
	ended := make(chan struct{})
	go func() {
		for range sub.Out() {
		}
		close(ended)
	}()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the relay did not end after Close")
	}
	if !subs.closeWithin(10 * time.Second) {
		t.Fatal("the subscription is still counted open after its relay ended")
	}
	late, err := recordlessBus{bus, subs}.Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = late.Close() }()
	if _, relayed := late.(*recordlessSub); relayed {
		t.Fatal("a subscription after the wait is relayed: the relay would outlive the node")
	}
}

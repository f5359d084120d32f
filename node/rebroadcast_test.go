package node

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/mempool"
)

// fakeRebroadcastPool is a mempool holding transactions by ID.
type fakeRebroadcastPool struct {
	mu  sync.Mutex
	txs map[chain.Hash]*chain.Tx
}

func (p *fakeRebroadcastPool) Get(id chain.Hash) (*chain.Tx, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tx, ok := p.txs[id]
	return tx, ok
}

func (p *fakeRebroadcastPool) put(tx *chain.Tx) chain.Hash {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := tx.TxID()
	p.txs[id] = tx
	return id
}

func (p *fakeRebroadcastPool) remove(id chain.Hash) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.txs, id)
}

// fakePublisher records publications; err, when set, fails them.
type fakePublisher struct {
	mu   sync.Mutex
	sent []chain.Hash
	err  error
}

func (f *fakePublisher) PublishTx(_ context.Context, tx *chain.Tx) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, tx.TxID())
	return nil
}

func (f *fakePublisher) take() []chain.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sent
	f.sent = nil
	return s
}

func (f *fakePublisher) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

type rebroadcastFixture struct {
	r     *rebroadcaster
	pool  *fakeRebroadcastPool
	pub   *fakePublisher
	clock *chaintest.Clock
	start time.Time
}

func newRebroadcastFixture(t *testing.T, seed uint64) *rebroadcastFixture {
	t.Helper()
	f := &rebroadcastFixture{
		pool: &fakeRebroadcastPool{txs: map[chain.Hash]*chain.Tx{}}, pub: &fakePublisher{},
		start: time.Unix(1_900_000_000, 0),
	}
	f.clock = chaintest.NewClock(f.start)
	f.r = newRebroadcaster(rebroadcastConfig{
		pool: f.pool, pub: f.pub, now: f.clock.Now, rng: rand.New(rand.NewPCG(seed, seed+1)),
		reg: prometheus.NewRegistry(),
	})
	return f
}

// tx returns a distinct transaction (only its ID matters here).
func testTx(i uint64) *chain.Tx {
	return &chain.Tx{ChainID: 1, Nonce: i, Amount: 1, Fee: 1000, To: chain.Address{byte(i), byte(i >> 8), byte(i >> 16)}}
}

// at moves the clock to start+d and runs a round; it returns what the
// round published.
func (f *rebroadcastFixture) at(d time.Duration) []chain.Hash {
	f.clock.Set(f.start.Add(d))
	f.r.round(context.Background())
	return f.pub.take()
}

func TestRebroadcastDelayDoublesUpToTheCap(t *testing.T) {
	want := []time.Duration{200 * time.Second, 400 * time.Second, 800 * time.Second, 1600 * time.Second, 30 * time.Minute, 30 * time.Minute}
	for i, w := range want {
		if got := rebroadcastDelay(i + 1); got != w {
			t.Errorf("delay after publication %d = %v, want %v", i+1, got, w)
		}
	}
	if got := rebroadcastDelay(1000); got != rebroadcastMax {
		t.Errorf("delay after 1000 sends = %v, want %v", got, rebroadcastMax)
	}
	// The first republication comes after gossipsub has forgotten the
	// message ID: its seen caches keep an ID for 120 s and sweep every 60 s.
	if rebroadcastFirst <= 180*time.Second {
		t.Errorf("rebroadcastFirst %v is inside gossipsub's duplicate window (up to 180 s)", rebroadcastFirst)
	}
}

// TestRebroadcastSchedule follows one transaction through its
// republications: none before the first delay, then one per slot, each
// slot within [delay, delay*5/4) of the previous republication.
func TestRebroadcastSchedule(t *testing.T) {
	for seed := range uint64(20) {
		f := newRebroadcastFixture(t, seed)
		id := f.pool.put(testTx(1))
		f.r.track(id, true)
		if got := f.at(rebroadcastFirst - time.Second); len(got) != 0 {
			t.Fatalf("seed %d: republished %v before the first delay", seed, got)
		}
		last := time.Duration(0)
		for sends := range 7 {
			d := rebroadcastDelay(sends + 1)
			// Nothing is due just before the earliest slot.
			if got := f.at(last + d - time.Second); len(got) != 0 {
				t.Fatalf("seed %d: republication %d came %v after the previous one, before its delay %v", seed, sends+1, d-time.Second, d)
			}
			// Everything is due at the latest slot (the jitter adds less than a quarter).
			late := last + d + d/4
			if got := f.at(late); len(got) != 1 || got[0] != id {
				t.Fatalf("seed %d: republication %d: published %v at +%v", seed, sends+1, got, late)
			}
			last = late
		}
		if got := testutil.ToFloat64(f.r.met.rebroadcasts); got != 7 {
			t.Fatalf("seed %d: counter %v, want 7", seed, got)
		}
	}
}

// TestRebroadcastJitterSpreads: transactions tracked at the same moment
// are not all due in the same second.
func TestRebroadcastJitterSpreads(t *testing.T) {
	f := newRebroadcastFixture(t, 7)
	for i := range uint64(50) {
		f.r.track(f.pool.put(testTx(i)), true)
	}
	slots := map[int64]bool{}
	for _, e := range f.r.tracked {
		d := e.next.Sub(f.start)
		if d < rebroadcastFirst || d >= rebroadcastFirst+rebroadcastFirst/4 {
			t.Fatalf("first slot at +%v, want within [%v, %v)", d, rebroadcastFirst, rebroadcastFirst*5/4)
		}
		slots[int64(d/time.Second)] = true
	}
	if len(slots) < 10 {
		t.Fatalf("50 transactions fall on %d distinct seconds", len(slots))
	}
}

// TestRebroadcastAfterFailedPublication: when the submission's own
// publication failed, no gossip cache holds the ID and the first retry
// comes after rebroadcastRetry; the schedule then continues as usual.
func TestRebroadcastAfterFailedPublication(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	id := f.pool.put(testTx(1))
	f.r.track(id, false)
	if got := f.at(rebroadcastRetry - time.Second); len(got) != 0 {
		t.Fatalf("retried before %v: %v", rebroadcastRetry, got)
	}
	if got := f.at(rebroadcastRetry); len(got) != 1 {
		t.Fatalf("not retried at %v: %v", rebroadcastRetry, got)
	}
	if got := f.at(rebroadcastRetry + rebroadcastFirst - time.Second); len(got) != 0 {
		t.Fatalf("republished inside gossip's duplicate window: %v", got)
	}
	if got := f.at(rebroadcastRetry + rebroadcastFirst*5/4); len(got) != 1 {
		t.Fatalf("second republication missing: %v", got)
	}
}

// TestRebroadcastFailedPublishKeepsTracking: a publication that fails is
// not counted; the transaction stays tracked and is tried at its next
// slot.
func TestRebroadcastFailedPublishKeepsTracking(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	id := f.pool.put(testTx(1))
	f.r.track(id, true)
	f.pub.fail(errors.New("no peers"))
	f.at(rebroadcastFirst * 5 / 4)
	if got := testutil.ToFloat64(f.r.met.rebroadcasts); got != 0 {
		t.Fatalf("failed publication counted: %v", got)
	}
	if f.r.count() != 1 {
		t.Fatal("a failed publication stopped the tracking")
	}
	f.pub.fail(nil)
	if got := f.at(rebroadcastFirst*5/4 + rebroadcastDelay(2)*5/4); len(got) != 1 {
		t.Fatalf("next slot published %v", got)
	}
}

// TestRebroadcastStopsWhenThePoolRemovesIt: every removal the pool
// reports (confirmation, replacement, eviction, expiry, conflict, ...)
// ends the tracking at once; a transaction that left the pool without an
// event (a dropped notification) is forgotten at its next slot and never
// published.
func TestRebroadcastStopsWhenThePoolRemovesIt(t *testing.T) {
	for _, reason := range []mempool.RemoveReason{mempool.ReasonIncluded, mempool.ReasonReplaced, mempool.ReasonEvicted,
		mempool.ReasonExpired, mempool.ReasonConflict, mempool.ReasonUnfunded, mempool.ReasonGapped} {
		f := newRebroadcastFixture(t, 1)
		id := f.pool.put(testTx(1))
		other := f.pool.put(testTx(2))
		f.r.track(id, true)
		f.r.track(other, true)
		f.r.handlePoolEvent(mempool.Event{Kind: mempool.EventAdded, ID: id}) // not a removal
		f.pool.remove(id)
		f.r.handlePoolEvent(mempool.Event{Kind: mempool.EventRemoved, ID: id, Reason: reason})
		if f.r.count() != 1 {
			t.Fatalf("%s: tracking %d transactions, want 1", reason, f.r.count())
		}
		if got := f.at(rebroadcastFirst * 5 / 4); len(got) != 1 || got[0] != other {
			t.Fatalf("%s: published %v, want only the other transaction", reason, got)
		}
	}

	f := newRebroadcastFixture(t, 1)
	id := f.pool.put(testTx(1))
	f.r.track(id, true)
	f.pool.remove(id) // no event
	if got := f.at(rebroadcastFirst * 5 / 4); len(got) != 0 {
		t.Fatalf("published a transaction the pool no longer holds: %v", got)
	}
	if f.r.count() != 0 {
		t.Fatal("a transaction gone from the pool is still tracked")
	}
}

// TestRebroadcastSetIsBounded: beyond rebroadcastCap the longest tracked
// transaction makes room for the new one.
func TestRebroadcastSetIsBounded(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	first := testTx(0).TxID()
	f.r.track(first, true)
	for i := range uint64(rebroadcastCap) {
		f.clock.Advance(time.Millisecond)
		f.r.track(testTx(i+1).TxID(), true)
	}
	if n := f.r.count(); n != rebroadcastCap {
		t.Fatalf("tracking %d, want the cap %d", n, rebroadcastCap)
	}
	if _, ok := f.r.tracked[first]; ok {
		t.Fatal("the longest tracked transaction was kept over the newest")
	}
	if _, ok := f.r.tracked[testTx(rebroadcastCap).TxID()]; !ok {
		t.Fatal("the newest transaction is not tracked")
	}
	// Tracking a known ID keeps its schedule and does not evict.
	id := testTx(5).TxID()
	next := f.r.tracked[id].next
	f.r.track(id, false)
	if f.r.tracked[id].next != next || f.r.count() != rebroadcastCap {
		t.Fatal("tracking a tracked transaction again changed the set")
	}
}

// TestRebroadcastRoundIsBatched: a round publishes at most
// rebroadcastBatch transactions, earliest due first; the rest go in the
// next round.
func TestRebroadcastRoundIsBatched(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	for i := range uint64(rebroadcastBatch + 10) {
		f.r.track(f.pool.put(testTx(i)), false) // all due after rebroadcastRetry
		f.clock.Advance(time.Millisecond)
	}
	end := f.clock.Now().Sub(f.start)
	first := f.at(end + rebroadcastRetry)
	if len(first) != rebroadcastBatch || first[0] != testTx(0).TxID() {
		t.Fatalf("first round published %d (first %v), want %d starting with the earliest", len(first), first[0], rebroadcastBatch)
	}
	if second := f.at(end + rebroadcastRetry + time.Second); len(second) != 10 {
		t.Fatalf("second round published %d, want the 10 left over", len(second))
	}
}

// TestRebroadcastRunStopsWithContext: run starts a round on each tick and
// returns when its context ends.
func TestRebroadcastRunStopsWithContext(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	tick := make(chan time.Time)
	f.r.cfg.tick = tick
	id := f.pool.put(testTx(1))
	f.r.track(id, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.r.run(ctx) }()
	f.clock.Advance(rebroadcastRetry)
	tick <- f.clock.Now() // received: the round runs before the next receive
	tick <- f.clock.Now()
	if got := f.pub.take(); len(got) != 1 || got[0] != id {
		t.Fatalf("run published %v", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// TestRebroadcastWaitsForPeers: rounds without gossip peers publish
// nothing and leave the schedule alone; the first round with a peer
// sends what was due.
func TestRebroadcastWaitsForPeers(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	var mu sync.Mutex
	peers := 0
	f.r.cfg.gossipPeers = func() int { mu.Lock(); defer mu.Unlock(); return peers }
	id := f.pool.put(testTx(1))
	f.r.track(id, true)
	for _, d := range []time.Duration{rebroadcastFirst * 5 / 4, time.Hour, 5 * time.Hour} {
		if got := f.at(d); len(got) != 0 {
			t.Fatalf("published %v without peers", got)
		}
	}
	if e := f.r.tracked[id]; e.published != 1 {
		t.Fatalf("schedule advanced without peers: %d publications", e.published)
	}
	mu.Lock()
	peers = 1
	mu.Unlock()
	if got := f.at(5*time.Hour + time.Second); len(got) != 1 {
		t.Fatalf("first round with a peer published %v", got)
	}
	// The backoff continues from where it was, not from the hours offline.
	if got := f.at(5*time.Hour + time.Second + rebroadcastDelay(2)*5/4); len(got) != 1 {
		t.Fatalf("next slot published %v", got)
	}
}

// TestRebroadcastResumesAfterReorg: a tracked transaction a block
// included, which a reorg puts back into the pool, is tracked again and
// republished at the usual first delay; one removed for any other reason,
// or never tracked, is not; the memory of included ones is bounded.
func TestRebroadcastResumesAfterReorg(t *testing.T) {
	f := newRebroadcastFixture(t, 1)
	mined, replaced, foreign := f.pool.put(testTx(1)), f.pool.put(testTx(2)), f.pool.put(testTx(3))
	f.r.track(mined, true)
	f.r.track(replaced, true)
	for _, ev := range []mempool.Event{
		{Kind: mempool.EventRemoved, ID: mined, Reason: mempool.ReasonIncluded},
		{Kind: mempool.EventRemoved, ID: replaced, Reason: mempool.ReasonReplaced},
		{Kind: mempool.EventRemoved, ID: foreign, Reason: mempool.ReasonIncluded},
	} {
		f.r.handlePoolEvent(ev)
	}
	if f.r.count() != 0 || f.r.minedCount() != 1 {
		t.Fatalf("tracking %d, remembering %d as mined: want 0 and 1", f.r.count(), f.r.minedCount())
	}
	// The reorg: the pool takes all three back.
	f.clock.Set(f.start.Add(time.Hour))
	for _, id := range []chain.Hash{mined, replaced, foreign} {
		f.r.handlePoolEvent(mempool.Event{Kind: mempool.EventAdded, ID: id})
	}
	if f.r.count() != 1 || f.r.minedCount() != 0 {
		t.Fatalf("tracking %d, remembering %d after the reorg: want 1 and 0", f.r.count(), f.r.minedCount())
	}
	if got := f.at(time.Hour + rebroadcastFirst - time.Second); len(got) != 0 {
		t.Fatalf("republished %v before the first delay", got)
	}
	if got := f.at(time.Hour + rebroadcastFirst*5/4); len(got) != 1 || got[0] != mined {
		t.Fatalf("published %v, want the transaction the reorg unconfirmed", got)
	}

	f = newRebroadcastFixture(t, 2)
	for i := range uint64(rebroadcastMinedMemory + 50) {
		id := f.pool.put(testTx(i))
		f.r.track(id, true)
		f.r.handlePoolEvent(mempool.Event{Kind: mempool.EventRemoved, ID: id, Reason: mempool.ReasonIncluded})
		if f.r.minedCount() > rebroadcastMinedMemory {
			t.Fatalf("%d remembered as mined, cap %d", f.r.minedCount(), rebroadcastMinedMemory)
		}
	}
}

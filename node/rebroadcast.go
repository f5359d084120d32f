package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/p2p"
)

// Rebroadcast schedule of the node's own transactions.
//
// A transaction is gossiped once when it is submitted; if that message is
// lost (the gossip mesh was still forming, the node had no peers, a peer
// could not validate it yet), nobody announces it again, because nodes
// relay what they receive and never resend their mempools. The
// rebroadcaster republishes the transactions this node originated
// (wallet payments and sendrawtransaction) while they are still in the
// node's mempool, as Bitcoin Core's wallet resends its unconfirmed
// transactions.
//
// The delays are bounded below by gossipsub's duplicate suppression. The
// message ID is a hash of the transaction's bytes, so every republication
// of a transaction carries the same ID. go-libp2p-pubsub (v0.17.0)
// remembers an ID it has delivered or seen for TimeCacheDuration = 120 s
// from the first sighting (the first-seen strategy: a repeat does not
// extend it), and its caches expire entries only in a sweep that runs
// every minute, so an ID is forgotten between 120 s and 180 s after it
// was published. A republication within that window is dropped silently
// by the publishing node itself (Publish returns nil and sends nothing),
// and by every peer that saw the first one. The first republication
// therefore comes rebroadcastFirst = 200 s (180 s plus a margin) after the
// original publication; then each delay doubles (400 s, 800 s, 1600 s)
// up to rebroadcastMax = 30 min, the same order as Core's 12 to 36
// minutes between resends, so a transaction stuck for a day costs about
// 50 messages. When the original publication failed outright (the p2p
// layer was not running yet), no cache holds the ID and the first retry
// comes after rebroadcastRetry = 30 s.
//
// Each delay is lengthened by a random fraction (up to a quarter of it),
// so a burst of transactions sent together is spread over later rounds
// and the resends of one node do not fall on a fixed grid. Jitter only
// lengthens a delay, so it never brings a republication inside the
// suppression window.
//
// Stop conditions: a transaction is republished only while the mempool
// holds it. Confirmation, eviction, replacement, expiry and conflicts all
// remove it from the pool; the pool's removal event (handed over by the
// dispatcher) drops it from the tracked set at once, and a round that
// finds it gone from the pool drops it too (the check that counts, as
// events may be lost). A tracked transaction that left the pool because a
// block included it is remembered (the last rebroadcastMinedMemory of
// them): if a reorg puts it back into the pool, it is tracked again, as
// Core's wallet keeps resending a transaction a reorg unconfirmed.
//
// A round runs only while the node has gossip peers: offline, the
// schedule stands still instead of backing off, and what fell due goes
// out in the first round after a peer has subscribed.
//
// Memory is bounded: at most rebroadcastCap transactions are tracked
// (about 100 bytes each; the transaction itself is read from the pool
// when it is due); a new one beyond the cap displaces the longest tracked,
// which has been republished the most. A round publishes at most
// rebroadcastBatch due transactions, earliest due first; the rest stay
// due for the next round, every rebroadcastTick.
const (
	rebroadcastFirst = 200 * time.Second
	rebroadcastRetry = 30 * time.Second
	rebroadcastMax   = 30 * time.Minute
	rebroadcastCap   = 10_000
	rebroadcastBatch = 500
	// rebroadcastMinedMemory bounds the own transactions remembered as
	// confirmed (a reorg deep enough to unconfirm more is not expected).
	rebroadcastMinedMemory = 1_000
	rebroadcastTick        = 10 * time.Second
)

// txPublisher gossips a transaction (p2p.Node).
type txPublisher interface {
	PublishTx(ctx context.Context, tx *chain.Tx) error
}

// rebroadcastPool is the part of the mempool the rebroadcaster reads: the
// current transaction with an ID, if the pool still holds it.
type rebroadcastPool interface {
	Get(id chain.Hash) (*chain.Tx, bool)
}

// rebroadcastConfig is what a rebroadcaster needs.
type rebroadcastConfig struct {
	pool rebroadcastPool
	pub  txPublisher
	// now is the clock the schedule runs on.
	now func() time.Time
	// tick, when not nil, replaces the ticker that starts each round
	// (tests send on it to run a round).
	tick <-chan time.Time
	// gossipPeers, when not nil, counts the peers a publication reaches
	// (p2p's subscribers of the gossip topics); a round with none is
	// skipped.
	gossipPeers func() int
	rng         *rand.Rand // used under the rebroadcaster's lock
	log         *slog.Logger
	reg         prometheus.Registerer
}

// rebroadcaster republishes the node's own unconfirmed transactions on
// the schedule described above. track, forget and handlePoolEvent are safe
// for concurrent use with each other and with run.
type rebroadcaster struct {
	cfg rebroadcastConfig
	met *rebroadcastMetrics

	mu      sync.Mutex
	tracked map[chain.Hash]*rebroadcastEntry
	// mined holds tracked transactions a block included; minedRing is
	// its insertion order, overwritten oldest first.
	mined     map[chain.Hash]struct{}
	minedRing [rebroadcastMinedMemory]chain.Hash
	minedNext int
}

// rebroadcastEntry is one tracked transaction.
type rebroadcastEntry struct {
	id    chain.Hash
	added time.Time
	next  time.Time // when it is due
	// published counts the publications scheduled so far, the original
	// one included if it reached gossipsub.
	published int
}

func newRebroadcaster(cfg rebroadcastConfig) *rebroadcaster {
	if cfg.rng == nil {
		cfg.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	r := &rebroadcaster{cfg: cfg, tracked: make(map[chain.Hash]*rebroadcastEntry), mined: make(map[chain.Hash]struct{})}
	r.met = newRebroadcastMetrics(cfg.reg, r.count)
	return r
}

// rebroadcastDelay is the delay after a transaction's n-th publication
// (n >= 1; the original one counts when it reached gossipsub):
// rebroadcastFirst doubled n-1 times, capped at rebroadcastMax.
func rebroadcastDelay(n int) time.Duration {
	d := rebroadcastFirst
	for range n - 1 {
		if d >= rebroadcastMax/2 {
			return rebroadcastMax
		}
		d *= 2
	}
	return min(d, rebroadcastMax)
}

// jitterLocked lengthens d by a random fraction in [0, 1/4).
func (r *rebroadcaster) jitterLocked(d time.Duration) time.Duration {
	return d + time.Duration(r.cfg.rng.Int64N(int64(d/4)+1))
}

// track starts republishing transaction id, which the node has just put
// into its mempool and published; published says whether that publication
// reached gossipsub (false when PublishTx failed, so the first retry may
// come early). Tracking an ID again keeps its schedule.
func (r *rebroadcaster) track(id chain.Hash, published bool) {
	now := r.cfg.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tracked[id]; ok {
		return
	}
	if len(r.tracked) >= rebroadcastCap {
		oldest := r.oldestLocked()
		delete(r.tracked, oldest.id)
		r.cfg.log.Debug("rebroadcast set full: no longer rebroadcasting the longest tracked transaction", "txid", oldest.id, "since", oldest.added)
	}
	e := &rebroadcastEntry{id: id, added: now, next: now.Add(rebroadcastRetry)}
	if published {
		e.published = 1
		e.next = now.Add(r.jitterLocked(rebroadcastDelay(1)))
	}
	r.tracked[id] = e
}

func (r *rebroadcaster) oldestLocked() *rebroadcastEntry {
	var oldest *rebroadcastEntry
	for _, e := range r.tracked {
		if oldest == nil || e.added.Before(oldest.added) || (e.added.Equal(oldest.added) && bytes.Compare(e.id[:], oldest.id[:]) < 0) {
			oldest = e
		}
	}
	return oldest
}

// forget stops republishing id.
func (r *rebroadcaster) forget(id chain.Hash) {
	r.mu.Lock()
	delete(r.tracked, id)
	r.mu.Unlock()
}

// handlePoolEvent drops a tracked transaction the pool removed, whatever
// the reason (included in a block, replaced, evicted, expired, conflict,
// unfunded, gapped), remembering it if a block included it, and tracks
// again a remembered one that the pool takes back (a reorg disconnected
// its block).
func (r *rebroadcaster) handlePoolEvent(ev mempool.Event) {
	switch ev.Kind {
	case mempool.EventRemoved:
		r.mu.Lock()
		_, was := r.tracked[ev.ID]
		delete(r.tracked, ev.ID)
		if was && ev.Reason == mempool.ReasonIncluded {
			r.rememberMinedLocked(ev.ID)
		}
		r.mu.Unlock()
	case mempool.EventAdded:
		r.mu.Lock()
		_, back := r.mined[ev.ID]
		delete(r.mined, ev.ID)
		r.mu.Unlock()
		if back {
			// Its first publication was long ago: the usual first delay.
			r.track(ev.ID, true)
		}
	}
}

// rememberMinedLocked records that a block included tracked transaction
// id, forgetting the oldest beyond rebroadcastMinedMemory (an ID taken
// back and included again may be forgotten early: harmless).
func (r *rebroadcaster) rememberMinedLocked(id chain.Hash) {
	delete(r.mined, r.minedRing[r.minedNext])
	r.minedRing[r.minedNext] = id
	r.minedNext = (r.minedNext + 1) % rebroadcastMinedMemory
	r.mined[id] = struct{}{}
}

// minedCount returns the number of remembered confirmed transactions.
func (r *rebroadcaster) minedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.mined)
}

// count returns the number of tracked transactions.
func (r *rebroadcaster) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tracked)
}

// due returns up to rebroadcastBatch tracked transactions due at now,
// earliest first, and moves each to its next slot as if its
// republication succeeds (a failed one waits for that slot too: the next
// round of a failing network would fail as well).
func (r *rebroadcaster) due(now time.Time) []chain.Hash {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ready []*rebroadcastEntry
	for _, e := range r.tracked {
		if !e.next.After(now) {
			ready = append(ready, e)
		}
	}
	slices.SortFunc(ready, func(a, b *rebroadcastEntry) int {
		if c := a.next.Compare(b.next); c != 0 {
			return c
		}
		return bytes.Compare(a.id[:], b.id[:])
	})
	if len(ready) > rebroadcastBatch {
		ready = ready[:rebroadcastBatch]
	}
	ids := make([]chain.Hash, len(ready))
	for i, e := range ready {
		ids[i] = e.id
		e.published++
		e.next = now.Add(r.jitterLocked(rebroadcastDelay(e.published)))
	}
	return ids
}

// round republishes every due transaction the pool still holds and forgets
// the ones it no longer holds. It returns how many it published. Without
// gossip peers it does nothing: a publication would reach nobody, and the
// schedule would back off while the node is offline; the transactions
// due then go out in the first round after a peer has subscribed.
func (r *rebroadcaster) round(ctx context.Context) int {
	if r.cfg.gossipPeers != nil && r.cfg.gossipPeers() == 0 {
		return 0
	}
	sent := 0
	for _, id := range r.due(r.cfg.now()) {
		tx, ok := r.cfg.pool.Get(id)
		if !ok {
			r.forget(id)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, publishTimeout)
		err := r.cfg.pub.PublishTx(pctx, tx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return sent
			}
			if !errors.Is(err, p2p.ErrNotRunning) {
				r.cfg.log.Debug("rebroadcasting transaction", "txid", id, "err", err)
			}
			continue
		}
		r.met.rebroadcasts.Inc()
		sent++
		r.cfg.log.Debug("rebroadcast transaction", "txid", id)
	}
	return sent
}

// run starts a round on every tick until ctx ends. It returns nil.
func (r *rebroadcaster) run(ctx context.Context) error {
	tick := r.cfg.tick
	if tick == nil {
		t := time.NewTicker(rebroadcastTick)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			r.round(ctx)
		}
	}
}

// rebroadcastMetrics counts republications.
type rebroadcastMetrics struct {
	rebroadcasts prometheus.Counter
}

func newRebroadcastMetrics(reg prometheus.Registerer, tracked func() int) *rebroadcastMetrics {
	m := &rebroadcastMetrics{
		rebroadcasts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_node_tx_rebroadcasts_total",
			Help: "Republications of the node's own unconfirmed transactions (wallet payments and sendrawtransaction) on gossip.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.rebroadcasts, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "quarry_node_rebroadcast_tracked_transactions",
			Help: "Own unconfirmed transactions the node is republishing until they leave its mempool.",
		}, func() float64 { return float64(tracked()) }))
	}
	return m
}

package miner

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// Miner builds block templates from the chain tip and a TxSource and
// searches them on one worker goroutine per thread. Create it with New,
// drive it with Run; every method is safe for concurrent use.
type Miner struct {
	cfg    Config
	params *chain.Params
	log    *slog.Logger
	now    func() time.Time
	salt   uint16
	batch  uint64 // nonces per batch (smaller under a limit)
	pacer  *pacer // nil without a hash-rate limit
	met    *metrics

	// Read by workers once per batch: gen changes whenever they must look
	// at work, threads or ctx again.
	gen     atomic.Uint64
	work    atomic.Pointer[workUnit]
	threads atomic.Int32 // workers that should run; 0 when not generating

	wakeMu sync.Mutex
	wakeCh chan struct{} // closed and replaced by bump

	tipCh   chan struct{} // TipChanged signals (buffer 1: coalesced)
	stateCh chan struct{} // SetGenerate signals (buffer 1: coalesced)
	noticed atomic.Int64  // UnixNano of the first unserved TipChanged, 0 if none

	mu        sync.Mutex
	started   bool
	generate  bool
	nthreads  int
	slots     []*workerSlot
	alive     []bool     // a goroutine runs on slot i
	emptyTip  chain.Hash // mine coinbase-only blocks on this parent ...
	emptyOn   bool       // ... after a block with transactions was rejected on it
	lastBuilt chain.Hash // parent of the last build attempt (template loop only)
	lastUnit  *workUnit  // last non-nil unit published (template loop only)

	submitMu sync.Mutex // serialises submissions

	genMu       sync.Mutex // serialises GenerateBlocks
	genCounters []uint32   // extra-nonce counters of GenerateBlocks lanes

	rate rateSampler

	blocksFound    atomic.Uint64
	blocksRejected atomic.Uint64
	staleBatches   atomic.Uint64
	staleSolutions atomic.Uint64
	kernelFaults   atomic.Uint64
	tipSwitches    atomic.Uint64
	lastSwitch     atomic.Int64 // nanoseconds

	// Test hooks (set by in-package tests before Run, never changed later).
	nonceSpace uint64
	onPrepare  func(l *lane)
	onPublish  func(u *workUnit)
}

// workUnit is one published template. Workers compare pointers to notice
// a new one.
type workUnit struct {
	tmpl *Template
	sw   *tipSwitch // the tip switch this unit belongs to (nil: none measured)
	gen  uint64     // m.gen value published with it (tests)
}

// tipSwitch measures one switch to a new tip: from noticed until every
// worker has adopted a unit on the new tip. Every unit published on that
// tip shares it, so a worker that skips straight to a later unit still
// counts once.
type tipSwitch struct {
	noticed time.Time
	pending atomic.Int32 // workers still to switch
}

// New returns a Miner for cfg. It starts no goroutines; it registers the
// metrics with cfg.Registerer (when set) and selects the kernel.
func New(cfg Config) (*Miner, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	m := &Miner{
		cfg:        cfg,
		params:     cfg.Chain.Params(),
		log:        cfg.Logger.With("component", "miner"),
		now:        cfg.Now,
		salt:       cfg.ExtraNonceSalt,
		batch:      uint64(cfg.BatchSize),
		wakeCh:     make(chan struct{}),
		tipCh:      make(chan struct{}, 1),
		stateCh:    make(chan struct{}, 1),
		generate:   cfg.Generate,
		nthreads:   cfg.Threads,
		nonceSpace: fullNonceSpace,
	}
	if m.salt == 0 {
		var b [2]byte
		_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
		m.salt = binary.BigEndian.Uint16(b[:])
	}
	if cfg.HashrateLimit > 0 {
		m.batch = pacedBatch(cfg.HashrateLimit, m.batch)
		m.pacer = newPacer(cfg.HashrateLimit, m.batch)
	}
	if m.met, err = newMetrics(m, cfg.Registerer); err != nil {
		return nil, err
	}
	return m, nil
}

// KernelName returns the name of the kernel in use.
func (m *Miner) KernelName() string { return m.cfg.Kernel.Name() }

// Run starts the template loop and, while generating, the workers. It
// returns nil after ctx is cancelled and every goroutine it started has
// exited, or ErrAlreadyRunning if called twice.
func (m *Miner) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return newErr(ErrAlreadyRunning, "Run called twice")
	}
	m.started = true
	m.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		m.bump() // wake workers so they see ctx
		wg.Wait()
		m.log.Info("miner stopped", "hashes", m.hashesTotal(), "blocks", m.blocksFound.Load())
	}()

	refresh := time.NewTicker(m.cfg.RefreshInterval)
	defer refresh.Stop()
	poll := time.NewTicker(m.cfg.PollInterval)
	defer poll.Stop()
	sampler := time.NewTicker(sampleInterval)
	defer sampler.Stop()

	m.sample()
	m.reconcile(ctx, &wg)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.tipCh:
			if m.threads.Load() > 0 {
				m.rebuild()
			} else {
				m.noticed.Store(0) // nothing to switch
			}
		case <-m.stateCh:
			m.reconcile(ctx, &wg)
		case <-poll.C:
			if m.threads.Load() > 0 && m.cfg.Chain.Best().Hash != m.lastBuilt {
				m.noticed.CompareAndSwap(0, m.now().UnixNano())
				m.rebuild()
			}
		case <-refresh.C:
			if m.threads.Load() > 0 {
				m.rebuild()
			}
		case <-sampler.C:
			m.sample()
		}
	}
}

// SetGenerate turns background mining on or off (RPC setgenerate). threads
// > 0 sets the worker count (capped at MaxThreads); threads <= 0 keeps the
// current one. Turning mining on without a PayTo address fails with
// ErrNoAddress. Workers of a Miner that is not running start with Run.
// When off, workers exit (no goroutine spins or waits per worker).
func (m *Miner) SetGenerate(on bool, threads int) error {
	if on && m.cfg.PayTo.IsZero() {
		return newErr(ErrNoAddress, "set --miner-address or create a wallet key before mining")
	}
	m.mu.Lock()
	m.generate = on
	if threads > 0 {
		m.nthreads = min(threads, MaxThreads)
	}
	m.mu.Unlock()
	select {
	case m.stateCh <- struct{}{}:
	default:
	}
	return nil
}

// Generating reports whether background mining is on (RPC getgenerate).
func (m *Miner) Generating() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.generate
}

// TipChanged tells the miner that the chain's tip changed, or that the
// TxSource caught up with it: the template is rebuilt at once and every
// worker moves to it within one batch. The node calls it on every
// EventNewTip; calls coalesce and never block. Best is also polled every
// PollInterval as a fallback.
func (m *Miner) TipChanged() {
	m.noticed.CompareAndSwap(0, m.now().UnixNano())
	select {
	case m.tipCh <- struct{}{}:
	default:
	}
}

// BuildTemplate builds a template paying Config.PayTo on the current tip
// with transactions from the TxSource (RPC getblocktemplate). It does not
// change what the workers mine. Safe for concurrent use.
func (m *Miner) BuildTemplate(now time.Time) (*Template, error) {
	return m.buildTemplate(now, m.cfg.PayTo)
}

// BuildTemplateFor is BuildTemplate paying payTo instead of Config.PayTo.
func (m *Miner) BuildTemplateFor(now time.Time, payTo chain.Address) (*Template, error) {
	return m.buildTemplate(now, payTo)
}

// PayTo returns the configured mining address (zero if none).
func (m *Miner) PayTo() chain.Address { return m.cfg.PayTo }

func (m *Miner) buildTemplate(now time.Time, payTo chain.Address) (*Template, error) {
	if payTo.IsZero() {
		return nil, newErr(ErrNoAddress, "set --miner-address or create a wallet key")
	}
	tip := m.cfg.Chain.Best()
	var txs []*chain.Tx
	if m.cfg.Txs != nil && !m.mineEmpty(tip.Hash) {
		txs = m.cfg.Txs.SelectForBlock(tip.Hash, txBudget(m.params, len(m.cfg.CoinbaseMemo)))
	}
	return NewTemplate(TemplateSpec{Params: m.params, Tip: tip, Txs: txs, PayTo: payTo, Memo: m.cfg.CoinbaseMemo, Now: now})
}

// mineEmpty reports whether templates on parent must be coinbase-only
// because a block with transactions was rejected on it.
func (m *Miner) mineEmpty(parent chain.Hash) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.emptyOn && m.emptyTip == parent
}

// reconcile applies the generate/threads setting: it publishes the worker
// count, spawns missing workers and rebuilds the template when mining.
// Surplus workers notice the new count at their next batch and exit.
func (m *Miner) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	m.mu.Lock()
	want := 0
	if m.generate {
		want = m.nthreads
	}
	m.threads.Store(int32(want))
	m.ensureSlotsLocked(want)
	for id := 0; id < want; id++ {
		if !m.alive[id] {
			m.alive[id] = true
			wg.Add(1)
			go m.worker(ctx, wg, id)
		}
	}
	m.mu.Unlock()
	m.log.Info("mining settings", "generate", want > 0, "threads", want, "kernel", m.cfg.Kernel.Name(), "hashrate_limit", m.cfg.HashrateLimit)
	if want > 0 {
		m.rebuild()
		return
	}
	// Off: drop the work, so that turning mining on later is not measured
	// as a tip switch and Stats shows no template.
	m.lastUnit = nil
	m.noticed.Store(0)
	m.publish(nil, time.Time{})
}

func (m *Miner) ensureSlotsLocked(n int) {
	for len(m.slots) < n {
		m.slots = append(m.slots, new(workerSlot))
		m.alive = append(m.alive, false)
	}
}

// rebuild builds a template on the current tip and publishes it; on
// failure it publishes no work (workers wait) and logs why.
func (m *Miner) rebuild() {
	now := m.now()
	noticed := now
	if ns := m.noticed.Swap(0); ns != 0 {
		noticed = time.Unix(0, ns)
	}
	t, err := m.buildTemplate(now, m.cfg.PayTo)
	m.met.templateBuild.Observe(m.now().Sub(now).Seconds())
	if err != nil {
		m.lastBuilt = m.cfg.Chain.Best().Hash
		m.log.Warn("cannot build block template", "err", err)
		m.publish(nil, noticed)
		return
	}
	m.lastBuilt = t.PrevHash
	m.log.Debug("new block template", "height", t.Height, "parent", t.PrevHash, "txs", t.TxCount(), "fees", t.Fees, "bits", t.Bits)
	m.publish(t, noticed)
}

// publish makes t (nil: none) the workers' work and wakes them. It runs on
// the template loop only.
func (m *Miner) publish(t *Template, noticed time.Time) {
	var u *workUnit
	if t != nil {
		u = &workUnit{tmpl: t}
		switch prev := m.lastUnit; {
		case prev == nil:
		case prev.tmpl.PrevHash == t.PrevHash:
			u.sw = prev.sw // same tip: still the same switch
		default:
			u.sw = &tipSwitch{noticed: noticed}
			u.sw.pending.Store(m.threads.Load())
		}
		m.lastUnit = u
	}
	m.work.Store(u)
	g := m.bump()
	if u != nil {
		u.gen = g // read only by tests, in the hook below
		if m.onPublish != nil {
			m.onPublish(u)
		}
	}
}

// bump advances the work generation and wakes every waiting worker. It
// returns the new generation.
func (m *Miner) bump() uint64 {
	m.wakeMu.Lock()
	defer m.wakeMu.Unlock()
	g := m.gen.Add(1)
	close(m.wakeCh)
	m.wakeCh = make(chan struct{})
	return g
}

// wake returns the channel the next bump closes.
func (m *Miner) wake() <-chan struct{} {
	m.wakeMu.Lock()
	defer m.wakeMu.Unlock()
	return m.wakeCh
}

// ack records that a worker moved to a unit of switch sw; the last worker
// to do so observes the switch latency.
func (m *Miner) ack(sw *tipSwitch) {
	if sw.pending.Add(-1) != 0 {
		return
	}
	d := m.now().Sub(sw.noticed)
	m.lastSwitch.Store(int64(d))
	m.tipSwitches.Add(1)
	m.met.tipSwitch.Observe(d.Seconds())
}

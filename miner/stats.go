package miner

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerSlot holds the counters of one worker index, written only by the
// goroutine mining on it (GenerateBlocks thread i shares slot i with
// background worker i; both add atomically) and read by Stats and the
// metrics. It is padded to two cache lines (the adjacent-line prefetcher
// pulls pairs) so that workers never share a line.
type workerSlot struct {
	hashes atomic.Uint64 // nonces tried
	gen    atomic.Uint64 // work generation the worker last synchronised with
	// counter is the extra-nonce counter of background lane i. It is
	// owned by the goroutine holding the slot; ownership passes through
	// Miner.mu when a worker retires and another is spawned.
	counter uint32
	_       [128 - 8 - 8 - 4]byte
}

// rateSample is one reading of every worker's hash counter.
type rateSample struct {
	at  time.Time
	per []uint64
}

// rateSampler keeps the last rateSamples readings; rates are computed over
// the window between the oldest and the newest. Safe for concurrent use.
type rateSampler struct {
	mu      sync.Mutex
	ring    [rateSamples]rateSample
	n, head int // samples held; index of the next write
}

func (r *rateSampler) add(at time.Time, per []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ring[r.head] = rateSample{at: at, per: per}
	r.head = (r.head + 1) % rateSamples
	r.n = min(r.n+1, rateSamples)
}

// rates returns the total and per-worker hash rates in hashes per second
// over the window (zeros until two samples exist).
func (r *rateSampler) rates() (total float64, per []float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n < 2 {
		return 0, nil
	}
	newest := r.ring[(r.head+rateSamples-1)%rateSamples]
	oldest := r.ring[(r.head+rateSamples-r.n)%rateSamples]
	secs := newest.at.Sub(oldest.at).Seconds()
	if secs <= 0 {
		return 0, nil
	}
	per = make([]float64, len(newest.per))
	for i, v := range newest.per {
		var old uint64
		if i < len(oldest.per) {
			old = oldest.per[i]
		}
		per[i] = float64(v-old) / secs
		total += per[i]
	}
	return total, per
}

// Stats is a snapshot of the miner for RPC getmininginfo and logs.
type Stats struct {
	// Generating reports whether background mining is on; Threads is the
	// configured worker count and Kernel the kernel's name.
	Generating bool
	Threads    int
	Kernel     string
	// HashrateLimit is the configured limit in hashes per second (0: none).
	HashrateLimit float64
	// HashesTotal counts every nonce tried (background and GenerateBlocks).
	HashesTotal uint64
	// HashRate is the total rate over the last ~10 s sliding window in
	// hashes (nonces) per second; WorkerHashRates the same per worker index.
	HashRate        float64
	WorkerHashRates []float64
	// BlocksFound counts accepted blocks, BlocksRejected blocks the
	// Submitter refused.
	BlocksFound    uint64
	BlocksRejected uint64
	// StaleBatches counts batches a worker finished on a tip that had
	// already been replaced (at most one per worker per tip change);
	// StaleSolutions valid solutions discarded because their parent was no
	// longer the tip. StaleWork is their sum.
	StaleWork      uint64
	StaleBatches   uint64
	StaleSolutions uint64
	// KernelFaults counts kernel hits the reference hash did not confirm.
	KernelFaults uint64
	// TemplateHeight, TemplateTxs (coinbase included) and TemplateAge
	// describe the current background template (zero when there is none).
	TemplateHeight uint64
	TemplateTxs    int
	TemplateAge    time.Duration
	// TipSwitches counts completed tip switches; LastTipSwitch is the most
	// recent latency from noticing a new tip to every worker hashing on it.
	TipSwitches   uint64
	LastTipSwitch time.Duration
}

// Stats returns a snapshot of the miner's counters. Safe for concurrent use.
func (m *Miner) Stats() Stats {
	m.mu.Lock()
	s := Stats{Generating: m.generate, Threads: m.nthreads}
	m.mu.Unlock()
	s.HashesTotal = m.hashesTotal()
	s.Kernel = m.cfg.Kernel.Name()
	s.HashrateLimit = m.cfg.HashrateLimit
	s.HashRate, s.WorkerHashRates = m.rate.rates()
	s.BlocksFound = m.blocksFound.Load()
	s.BlocksRejected = m.blocksRejected.Load()
	s.StaleBatches = m.staleBatches.Load()
	s.StaleSolutions = m.staleSolutions.Load()
	s.StaleWork = s.StaleBatches + s.StaleSolutions
	s.KernelFaults = m.kernelFaults.Load()
	if u := m.work.Load(); u != nil {
		s.TemplateHeight = u.tmpl.Height
		s.TemplateTxs = u.tmpl.TxCount()
		s.TemplateAge = m.now().Sub(u.tmpl.Created)
	}
	s.TipSwitches = m.tipSwitches.Load()
	s.LastTipSwitch = time.Duration(m.lastSwitch.Load())
	return s
}

// sample records every worker's hash counter for the rate window.
func (m *Miner) sample() {
	m.mu.Lock()
	per := make([]uint64, len(m.slots))
	for i, slot := range m.slots {
		per[i] = slot.hashes.Load()
	}
	m.mu.Unlock()
	m.rate.add(m.now(), per)
}

// hashesTotal sums every worker's hash counter.
func (m *Miner) hashesTotal() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n uint64
	for _, slot := range m.slots {
		n += slot.hashes.Load()
	}
	return n
}

// templateAge returns the age of the current background template (0 when
// there is none).
func (m *Miner) templateAge() time.Duration {
	if u := m.work.Load(); u != nil {
		return m.now().Sub(u.tmpl.Created)
	}
	return 0
}

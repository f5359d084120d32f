package mempool

import (
	"bytes"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// entry is one pending transaction. All fields but the list links are
// immutable after creation.
type entry struct {
	tx     *chain.Tx
	id     chain.Hash
	from   chain.Address
	size   int
	fee    uint64 // tx.Fee, copied for cache-friendly ordering
	spend  uint64 // amount + fee; no overflow (CheckSanity)
	added  time.Time
	height uint64 // tip height when the entry was added
	seq    uint64 // arrival order, unique

	// Arrival list (oldest first), for expiry.
	prev, next *entry
}

func newEntry(tx *chain.Tx, id chain.Hash, size int) *entry {
	return &entry{tx: tx, id: id, from: tx.From(), size: size, fee: tx.Fee, spend: tx.Amount + tx.Fee}
}

// Pool holds unconfirmed transactions that are valid against the chain tip
// plus the pool's own pending transactions. All methods are safe for
// concurrent use; signature verification runs outside the pool's lock.
type Pool struct {
	cfg       Config
	log       *slog.Logger
	met       *metrics
	minTxSize int // smallest possible transfer, for template filling

	mu      sync.Mutex
	txs     map[chain.Hash]*entry
	senders map[chain.Address]*sender
	evict   evictHeap
	head    *entry // oldest
	tail    *entry // newest
	bytes   int
	seq     uint64
	tip     chain.Snapshot // last tip the pool has fully processed

	// Chain event bookkeeping (HandleEvent).
	lastEventSeq uint64
	evTip        chain.Hash // block the event stream has reached
	needResync   bool
	discBuf      []*chain.Block
	connBuf      []*chain.Block

	subs map[*Subscription]struct{}
}

// New returns an empty pool. It starts no goroutines and reads the current
// tip from cfg.State. It panics if cfg.Params or cfg.State is nil (a
// programming error).
func New(cfg Config) *Pool {
	cfg, err := cfg.withDefaults()
	if err != nil {
		panic(err)
	}
	p := &Pool{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "mempool"),
		met:       newMetrics(cfg.Registerer),
		minTxSize: (&chain.Tx{Kind: chain.TxTransfer}).SerializeSize(),
		txs:       make(map[chain.Hash]*entry),
		senders:   make(map[chain.Address]*sender),
		subs:      make(map[*Subscription]struct{}),
	}
	p.tip = cfg.State.Best()
	p.evTip = p.tip.Hash
	return p
}

// AddResult describes an accepted transaction.
type AddResult struct {
	// ID is the transaction id.
	ID chain.Hash
	// Replaced is the id of the same-sender same-nonce transaction this
	// one replaced, or the zero hash.
	Replaced chain.Hash
	// Queued is true when the transaction waits for a nonce gap to fill and
	// is not yet selectable for a block.
	Queued bool
}

// Add validates tx against the tip state plus the pending transactions and,
// if it passes, adds it to the pool. Every rejection is a *RuleError whose
// Kind says why (errors.Is(err, ErrFeeTooLow), ...); consensus failures are
// ErrInvalid wrapping the chain's *chain.RuleError. The transaction must not
// be modified afterwards. Safe for concurrent use; the signature is verified
// before the pool's lock is taken.
func (p *Pool) Add(tx *chain.Tx) (AddResult, error) {
	res, err := p.add(tx, true, true)
	if err != nil {
		p.met.rejected(KindOf(err))
		p.log.Debug("transaction rejected", "reason", KindOf(err), "err", err)
	}
	return res, err
}

// Check runs every acceptance rule of Add against the current pool without
// adding tx (RPC testmempoolaccept). Safe for concurrent use.
func (p *Pool) Check(tx *chain.Tx) error {
	_, err := p.add(tx, true, false)
	return err
}

// add is Add with optional signature verification (tests and benchmarks of
// the pool's own work skip it); with commit false it stops before inserting.
func (p *Pool) add(tx *chain.Tx, verify, commit bool) (AddResult, error) {
	if tx == nil {
		return AddResult{}, invalid(&chain.RuleError{Kind: chain.ErrMalformed, Description: "nil transaction"})
	}
	if tx.IsCoinbase() {
		return AddResult{}, rejectf(ErrCoinbase, "a coinbase is only valid as the first transaction of a block")
	}
	if err := tx.CheckSanity(p.cfg.Params); err != nil {
		return AddResult{}, invalid(err)
	}
	size := tx.SerializeSize()
	if size > chain.MaxTxSize {
		return AddResult{}, invalid(&chain.RuleError{Kind: chain.ErrTxTooBig, Description: "transaction too large"})
	}
	if need := minFee(uint64(p.cfg.MinFeeRate), size); tx.Fee < need {
		return AddResult{}, rejectf(ErrFeeTooLow, "fee %d is below the minimum %d (%d per byte for %d bytes)",
			tx.Fee, need, p.cfg.MinFeeRate, size)
	}
	id := tx.TxID()
	if p.Has(id) {
		return AddResult{ID: id}, rejectf(ErrDuplicate, "transaction %s is already in the mempool", id)
	}
	if verify {
		if err := p.cfg.SigCache.Verify(tx); err != nil {
			return AddResult{ID: id}, invalid(err)
		}
	}
	e := newEntry(tx, id, size)

	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.cfg.Now()
	p.expireLocked(now)
	res, err := p.admitLocked(e, now, commit)
	if err == nil && commit {
		p.met.accepted.Inc()
		p.updateGauges()
	}
	return res, err
}

// admitLocked applies the stateful acceptance rules and inserts e.
func (p *Pool) admitLocked(e *entry, now time.Time, commit bool) (AddResult, error) {
	res := AddResult{ID: e.id}
	if _, ok := p.txs[e.id]; ok {
		return res, rejectf(ErrDuplicate, "transaction %s is already in the mempool", e.id)
	}
	tx := e.tx
	acct := p.cfg.State.Account(e.from)
	s := p.senders[e.from]
	if s == nil {
		s = &sender{addr: e.from, hidx: -1}
	}
	p.syncSender(s, acct) // bring the sender's pending view up to the current state
	p.fixSender(s)
	addr := e.from.Encode(p.cfg.Params)
	if tx.Nonce < acct.Nonce {
		return res, rejectf(ErrNonceTooLow, "nonce %d of %s is already used; the account's next nonce is %d (pending next %d)",
			tx.Nonce, addr, acct.Nonce, s.nextNonce())
	}
	idx, found := s.find(tx.Nonce)
	var old *entry
	if found {
		old = s.txs[idx]
		need := p.replacementFee(old, e.size)
		if tx.Fee < need {
			return res, rejectf(ErrReplacementUnderpriced,
				"transaction %s already uses nonce %d of %s with fee %d; a replacement must pay at least %d",
				old.id, tx.Nonce, addr, old.tx.Fee, need)
		}
	} else {
		next := s.nextNonce()
		if tx.Nonce > next+uint64(p.cfg.MaxNonceGap) {
			if p.cfg.MaxNonceGap == 0 {
				return res, rejectf(ErrNonceGap, "nonce %d of %s leaves a gap: the next nonce is %d", tx.Nonce, addr, next)
			}
			return res, rejectf(ErrNonceGap, "nonce %d of %s is too far ahead: the next nonce is %d and at most %d may be skipped; send the missing nonces first",
				tx.Nonce, addr, next, p.cfg.MaxNonceGap)
		}
		if len(s.txs) >= p.cfg.MaxPerSender {
			return res, rejectf(ErrSenderLimit, "%s already has %d pending transactions (limit %d); wait for some to confirm",
				addr, len(s.txs), p.cfg.MaxPerSender)
		}
	}
	total := satAdd(s.spend, e.spend)
	if old != nil {
		total = satAdd(s.spend-old.spend, e.spend)
	}
	if total > acct.Balance {
		return res, rejectf(ErrInsufficientFunds, "balance %d of %s does not cover %d (amount %d + fee %d) plus %d already pending",
			acct.Balance, addr, e.spend, tx.Amount, tx.Fee, s.spend-spendOf(old))
	}
	if old == nil && p.wouldOverflow(e.size) {
		// The cheapest ready transaction must pay less than this one for it
		// to make room (queued ones always go first).
		if v := p.evict.min(); v != nil && v.ready == len(v.txs) && !rateLess(v.last(), e) {
			return res, rejectf(ErrPoolFull, "the mempool is full and the fee rate %.3f/byte does not beat the cheapest evictable transaction (%.3f/byte)",
				feeRate(e.tx.Fee, e.size), feeRate(v.last().tx.Fee, v.last().size))
		}
	}

	if !commit {
		return res, nil
	}
	// Insert, then make room.
	if old != nil {
		s.txs[idx] = e
		p.unlink(old, ReasonReplaced)
		res.Replaced = old.id
	} else {
		s.insertAt(idx, e)
	}
	p.link(e, now)
	p.syncSender(s, acct)
	p.fixSender(s)
	if err := p.trimLocked(e, old != nil); err != nil {
		return AddResult{ID: e.id}, err
	}
	res.Queued = !s.isReady(e)
	p.notify(Event{Kind: EventAdded, ID: e.id, Tx: e.tx, Queued: res.Queued})
	return res, nil
}

// wouldOverflow reports whether adding size bytes and one entry exceeds a limit.
func (p *Pool) wouldOverflow(size int) bool {
	return len(p.txs)+1 > p.cfg.MaxCount || p.bytes+size > p.cfg.MaxBytes
}

// replacementFee returns the minimum fee that replaces old with a
// transaction of newSize bytes: old fee plus the larger of the percentage
// bump and the per-byte bump, and never a lower fee rate than old.
func (p *Pool) replacementFee(old *entry, newSize int) uint64 {
	pct := mulDivCeil(old.tx.Fee, uint64(p.cfg.ReplaceBumpPercent), 100)
	abs := minFee(p.cfg.ReplaceBumpRate, newSize)
	need := satAdd(old.tx.Fee, max(pct, abs))
	// Keep the fee rate from dropping when the replacement is larger.
	if byRate := mulDivCeil(old.tx.Fee, uint64(newSize), uint64(old.size)); byRate > need {
		need = byRate
	}
	return need
}

// link adds a new entry to the index and the arrival list.
func (p *Pool) link(e *entry, now time.Time) {
	p.seq++
	e.seq = p.seq
	e.added = now
	e.height = p.tip.Height
	p.txs[e.id] = e
	p.bytes += e.size
	e.prev = p.tail
	if p.tail != nil {
		p.tail.next = e
	} else {
		p.head = e
	}
	p.tail = e
}

// unlink removes e from the index and the arrival list (not from its
// sender), counts the removal and notifies subscribers.
func (p *Pool) unlink(e *entry, reason RemoveReason) {
	if !p.unlinkQuiet(e) {
		return
	}
	p.met.removed(reason)
	p.notify(Event{Kind: EventRemoved, ID: e.id, Tx: e.tx, Reason: reason})
}

// unlinkQuiet removes e from the index and the arrival list without counting
// or notifying; it reports whether e was present.
func (p *Pool) unlinkQuiet(e *entry) bool {
	if p.txs[e.id] != e {
		return false
	}
	delete(p.txs, e.id)
	p.bytes -= e.size
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		p.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		p.tail = e.prev
	}
	e.prev, e.next = nil, nil
	return true
}

// Has reports whether the transaction is pending. Safe for concurrent use.
func (p *Pool) Has(id chain.Hash) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txs[id]
	return ok
}

// Get returns a pending transaction by id. Safe for concurrent use.
func (p *Pool) Get(id chain.Hash) (*chain.Tx, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.txs[id]
	if !ok {
		return nil, false
	}
	return e.tx, true
}

// Count returns the number of pending transactions. Safe for concurrent use.
func (p *Pool) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.txs)
}

// Bytes returns the total serialized size of pending transactions. Safe for
// concurrent use.
func (p *Pool) Bytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes
}

// TxIDs returns the ids of all pending transactions, oldest first. Safe for
// concurrent use.
func (p *Pool) TxIDs() []chain.Hash {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]chain.Hash, 0, len(p.txs))
	for e := p.head; e != nil; e = e.next {
		ids = append(ids, e.id)
	}
	return ids
}

// Entry describes a pending transaction (getrawmempool verbose,
// getmempoolentry). It is a copy; Tx must not be modified.
type Entry struct {
	Tx   *chain.Tx
	ID   chain.Hash
	From chain.Address
	// Size is the serialized size in bytes.
	Size int
	// Added is when the transaction entered the pool; Height the tip height then.
	Added  time.Time
	Height uint64
	// Queued is true while the transaction waits for a nonce gap to fill.
	Queued bool
}

// FeeRate returns the fee in base units per byte.
func (e Entry) FeeRate() float64 { return feeRate(e.Tx.Fee, e.Size) }

func (p *Pool) entryOf(e *entry) Entry {
	s := p.senders[e.from]
	return Entry{Tx: e.tx, ID: e.id, From: e.from, Size: e.size, Added: e.added, Height: e.height,
		Queued: s == nil || !s.isReady(e)}
}

// Entry returns the pending transaction with the given id. Safe for
// concurrent use.
func (p *Pool) Entry(id chain.Hash) (Entry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.txs[id]
	if !ok {
		return Entry{}, false
	}
	return p.entryOf(e), true
}

// Entries returns every pending transaction, oldest first. Safe for
// concurrent use.
func (p *Pool) Entries() []Entry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Entry, 0, len(p.txs))
	for e := p.head; e != nil; e = e.next {
		out = append(out, p.entryOf(e))
	}
	return out
}

// SenderInfo is the pending view of one account (getaccount).
type SenderInfo struct {
	// Confirmed is the account at the chain tip.
	Confirmed chain.Account
	// PendingNonce is the nonce the sender's next transaction should use:
	// the end of its contiguous pending sequence (queued transactions beyond
	// a gap do not count).
	PendingNonce uint64
	// PendingBalance is Confirmed.Balance minus the amount plus fee of the
	// sender's ready pending transactions (incoming pending payments are
	// not credited).
	PendingBalance uint64
	// Ready and Queued count the sender's pending transactions that are
	// selectable and those waiting behind a nonce gap.
	Ready, Queued int
	// TxIDs lists the sender's pending transactions in nonce order.
	TxIDs []chain.Hash
}

// Sender returns the pending view of an address, revalidating its pending
// transactions against the current state first. Safe for concurrent use.
func (p *Pool) Sender(a chain.Address) SenderInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	acct := p.cfg.State.Account(a)
	info := SenderInfo{Confirmed: acct, PendingNonce: acct.Nonce, PendingBalance: acct.Balance}
	s := p.senders[a]
	if s == nil {
		return info
	}
	p.syncSender(s, acct)
	p.fixSender(s)
	p.updateGauges()
	info.PendingNonce = s.nextNonce()
	for i, e := range s.txs {
		info.TxIDs = append(info.TxIDs, e.id)
		if i < s.ready {
			info.PendingBalance -= e.spend // ready spends are covered by the balance
			info.Ready++
		} else {
			info.Queued++
		}
	}
	return info
}

// PendingNonce returns the nonce a new transaction of a should use: the
// account's next nonce advanced past its contiguous pending transactions.
// Safe for concurrent use.
func (p *Pool) PendingNonce(a chain.Address) uint64 { return p.Sender(a).PendingNonce }

// Info summarises the pool (getmempoolinfo).
type Info struct {
	Count    int
	Bytes    int
	TotalFee uint64
	MaxBytes int
	MaxCount int
	// MinFeeRate is the configured minimum fee rate (base units per byte).
	MinFeeRate uint64
	// MinAcceptRate is the fee rate a new transaction must exceed when
	// the pool is full (the cheapest evictable entry's rate), else MinFeeRate.
	MinAcceptRate float64
	Senders       int
}

// Info returns a summary of the pool. Safe for concurrent use.
func (p *Pool) Info() Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := Info{Count: len(p.txs), Bytes: p.bytes, MaxBytes: p.cfg.MaxBytes, MaxCount: p.cfg.MaxCount,
		MinFeeRate: uint64(p.cfg.MinFeeRate), MinAcceptRate: float64(p.cfg.MinFeeRate), Senders: len(p.senders)}
	for _, e := range p.txs {
		in.TotalFee = satAdd(in.TotalFee, e.tx.Fee)
	}
	if p.wouldOverflow(p.minTxSize) {
		if v := p.evict.min(); v != nil {
			in.MinAcceptRate = max(in.MinAcceptRate, feeRate(v.last().tx.Fee, v.last().size))
		}
	}
	return in
}

// Tip returns the last chain tip whose events the pool has fully processed.
// Safe for concurrent use.
func (p *Pool) Tip() chain.Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tip
}

// sortedSenders returns the pool's senders in address order (deterministic
// iteration for resyncs).
func (p *Pool) sortedSenders() []*sender {
	out := make([]*sender, 0, len(p.senders))
	for _, s := range p.senders {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *sender) int { return bytes.Compare(a.addr[:], b.addr[:]) })
	return out
}

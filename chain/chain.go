package chain

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain/kv"
)

// Config configures a Chain.
type Config struct {
	// Params are the network's consensus parameters (required).
	Params *Params
	// Store holds blocks, index and state (required). The caller closes it
	// after it is done with the Chain.
	Store Store
	// Now is the local clock (default time.Now); it decides the future-time rule.
	Now func() time.Time
	// Logger receives one line per notable event (default: discard).
	Logger *slog.Logger
	// VerifyWorkers is the number of goroutines verifying signatures when a
	// block connects (default GOMAXPROCS).
	VerifyWorkers int
	// MaxOrphans bounds the orphan pool (default 256); OrphanTTL is how long
	// an orphan waits for its parent (default 1h).
	MaxOrphans int
	OrphanTTL  time.Duration
	// SigCache, shared with the mempool, skips verifying signatures that
	// were already verified (nil: verify every time).
	SigCache *SigCache
}

// Snapshot describes the best chain's tip. It is a value; ChainWork must not
// be modified.
type Snapshot struct {
	Hash        Hash
	Height      uint64
	ChainWork   *big.Int
	Bits        uint32
	Timestamp   uint32
	MedianTime  int64
	StateDigest Hash
	// NextBits is the bits a child of the tip must carry.
	NextBits uint32
}

// ProcessStatus says what ProcessBlock did with a block.
type ProcessStatus int

const (
	// StatusConnected: the block is now part of the main chain (it extended
	// it or caused a reorg onto its branch).
	StatusConnected ProcessStatus = iota + 1
	// StatusSideChain: stored on a branch with no more work than the main chain.
	StatusSideChain
	// StatusOrphan: the parent is unknown; kept in the orphan pool.
	StatusOrphan
	// StatusDuplicate: already known.
	StatusDuplicate
)

// String names the status.
func (s ProcessStatus) String() string {
	switch s {
	case StatusConnected:
		return "connected"
	case StatusSideChain:
		return "side-chain"
	case StatusOrphan:
		return "orphan"
	case StatusDuplicate:
		return "duplicate"
	}
	return "unknown"
}

// ProcessResult reports the outcome of ProcessBlock.
type ProcessResult struct {
	Hash     Hash
	Height   uint64
	Status   ProcessStatus
	Reorged  bool
	Duration time.Duration
}

// Chain is the consensus engine: block index, best-chain selection, account
// state and storage. All methods are safe for concurrent use; writes are
// serialised by one mutex, and Best and Height read an atomic snapshot
// without locking.
type Chain struct {
	params   *Params
	store    Store
	now      func() time.Time
	log      *slog.Logger
	workers  int
	sigCache *SigCache

	mu         sync.RWMutex
	index      map[Hash]*blockNode
	main       []*blockNode // main chain by height
	candidates map[*blockNode]struct{}
	orphans    *orphanPool
	digest     stateDigest
	nextSeq    uint64
	// lastFailure remembers recent validation failures by hash (bounded).
	lastFailure map[Hash]error
	// hdrs holds headers-only entries (in memory only; see headers.go).
	hdrs headerIndex
	// checked records blocks that passed CheckBlock (see checked.go).
	checked checkedBlocks
	// work caches the work of the last bits seen (see pow.go).
	work workCache

	best   atomic.Pointer[Snapshot]
	events eventHub

	// corrupt lists stored blocks whose data failed its integrity check.
	corrupt corruptSet
	// unusable holds blocks whose stored data (or an ancestor's) was found
	// corrupt while connecting: not tip candidates until RepairBlock.
	unusable nodeSet
	// halt records the first unrecoverable storage failure; after it the
	// chain takes no more writes (see Failed).
	halt haltState
}

const schemaVersion = 1

// New opens the chain on cfg.Store: a fresh store is initialised with the
// genesis block; an existing one has its block index loaded and its tip
// checked against the state. It starts no goroutines.
func New(cfg Config) (*Chain, error) {
	if cfg.Params == nil || cfg.Store == nil {
		return nil, errors.New("chain: Params and Store are required")
	}
	c := &Chain{
		params:     cfg.Params,
		store:      cfg.Store,
		now:        cfg.Now,
		log:        cfg.Logger,
		workers:    cfg.VerifyWorkers,
		sigCache:   cfg.SigCache,
		index:      make(map[Hash]*blockNode),
		candidates: make(map[*blockNode]struct{}),
		halt:       haltState{done: make(chan struct{})},
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.workers <= 0 {
		c.workers = runtime.GOMAXPROCS(0)
	}
	maxOrphans, ttl := cfg.MaxOrphans, cfg.OrphanTTL
	if maxOrphans == 0 {
		maxOrphans = 256
	}
	if ttl == 0 {
		ttl = time.Hour
	}
	c.orphans = newOrphanPool(maxOrphans, ttl)

	meta, err := c.store.Get([]byte(keyMeta))
	switch {
	case errors.Is(err, kv.ErrNotFound):
		if err := c.initGenesis(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if err := c.checkMeta(meta); err != nil {
			return nil, err
		}
		if err := c.load(); err != nil {
			return nil, err
		}
	}
	c.updateSnapshot()
	return c, nil
}

func (c *Chain) checkMeta(meta []byte) error {
	if len(meta) < 4 {
		return fmt.Errorf("%w: metadata record too short", ErrStoreCorrupted)
	}
	if v := binary.LittleEndian.Uint32(meta); v != schemaVersion {
		return fmt.Errorf("chain database schema version %d, this node supports %d", v, schemaVersion)
	}
	if name := string(meta[4:]); name != c.params.Name {
		return fmt.Errorf("chain database belongs to network %q, not %q: use --network %s or another --datadir", name, c.params.Name, name)
	}
	return nil
}

func (c *Chain) initGenesis() error {
	g := c.params.GenesisBlock
	n := &blockNode{
		hash: c.params.GenesisHash, header: g.Header, height: 0,
		chainWork: CalcWork(g.Header.Bits), status: statusValid,
		txCount: len(g.Txs), size: g.SerializeSize(), chainTxCount: uint64(len(g.Txs)),
	}
	var b Batch
	meta := binary.LittleEndian.AppendUint32(nil, schemaVersion)
	b.Put([]byte(keyMeta), append(meta, c.params.Name...))
	b.Put(hashKey(prefixIndex, n.hash), encodeIndexRecord(n))
	b.Put(hashKey(prefixBlock, n.hash), g.Bytes())
	b.Put(heightKey(0), n.hash[:])
	b.Put([]byte(keyTip), c.tipRecord(n.hash, c.digest))
	if err := c.commit(&b); err != nil {
		return err
	}
	c.addNode(n)
	c.main = []*blockNode{n}
	c.candidates[n] = struct{}{}
	return nil
}

func (c *Chain) tipRecord(h Hash, d stateDigest) []byte {
	return append(append([]byte(nil), h[:]...), d.bytes()...)
}

func (c *Chain) addNode(n *blockNode) {
	c.nextSeq++
	n.seq = c.nextSeq
	c.index[n.hash] = n
	delete(c.hdrs.nodes, n.hash) // its headers-only entry, if any, now has data
	if n.status.invalid() {
		c.headerMarksChanged()
	}
}

// load rebuilds the in-memory index from the store and restores the tip.
func (c *Chain) load() error {
	type rec struct {
		hash Hash
		r    indexRecord
	}
	var recs []rec
	err := c.store.Iterate([]byte{prefixIndex}, func(k, v []byte) error {
		if len(k) != 1+HashSize {
			return fmt.Errorf("%w: bad index key", ErrStoreCorrupted)
		}
		r, err := decodeIndexRecord(v)
		if err != nil {
			return err
		}
		var h Hash
		copy(h[:], k[1:])
		recs = append(recs, rec{h, r})
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].r.height < recs[j].r.height })
	for _, x := range recs {
		n := &blockNode{hash: x.hash, header: x.r.header, height: x.r.height, status: x.r.status, txCount: x.r.txCount, size: x.r.size,
			chainTxCount: uint64(x.r.txCount)} // setParent adds the ancestors' count
		if n.height == 0 {
			if n.hash != c.params.GenesisHash {
				return fmt.Errorf("%w: genesis %s in database, network %s expects %s", ErrStoreCorrupted, n.hash, c.params.Name, c.params.GenesisHash)
			}
			n.chainWork = CalcWork(n.header.Bits)
		} else {
			parent := c.index[n.header.PrevBlock]
			if parent == nil || parent.height+1 != n.height {
				return fmt.Errorf("%w: block %s at height %d has no parent in the index", ErrStoreCorrupted, n.hash, n.height)
			}
			n.setParent(parent)
			n.chainWork = new(big.Int).Add(parent.chainWork, c.work.of(n.header.Bits))
		}
		c.addNode(n)
	}
	tipRec, err := c.store.Get([]byte(keyTip))
	if err != nil {
		return fmt.Errorf("%w: no tip record: %v", ErrStoreCorrupted, err)
	}
	if len(tipRec) != HashSize+40 {
		return fmt.Errorf("%w: tip record is %d bytes", ErrStoreCorrupted, len(tipRec))
	}
	var tipHash Hash
	copy(tipHash[:], tipRec[:HashSize])
	if c.digest, err = decodeDigest(tipRec[HashSize:]); err != nil {
		return err
	}
	tip := c.index[tipHash]
	if tip == nil {
		return fmt.Errorf("%w: tip %s is not in the block index", ErrStoreCorrupted, tipHash)
	}
	c.main = make([]*blockNode, tip.height+1)
	for n := tip; n != nil; n = n.parent {
		c.main[n.height] = n
	}
	// First-seen order is not persisted: after a restart the main chain
	// counts as seen first, so an equal-work branch never displaces it.
	for _, n := range c.index {
		if !c.inMain(n) {
			n.seq += uint64(len(c.index))
		}
	}
	c.nextSeq = 2 * uint64(len(c.index)) // blocks arriving now were seen after all stored ones
	if err := c.verifyState(); err != nil {
		return err
	}
	c.rebuildCandidates()
	c.log.Info("chain loaded", "network", c.params.Name, "blocks", len(c.index), "height", tip.height, "tip", tip.hash)
	// A crash between storing a heavier branch and connecting it leaves
	// work to do: finish it now. A block whose data turns out corrupt holds
	// its branch back (see activateBestChain) until it is repaired.
	_, _, err = c.activateBestChain()
	return err
}

// verifyState recomputes the state digest from the stored accounts and
// checks the main-chain height index, so a damaged database stops the node
// instead of serving wrong balances.
func (c *Chain) verifyState() error {
	var d stateDigest
	err := c.store.Iterate([]byte{prefixAccount}, func(k, v []byte) error {
		if len(k) != 1+AddressSize {
			return fmt.Errorf("%w: bad account key", ErrStoreCorrupted)
		}
		acc, err := decodeAccount(v)
		if err != nil {
			return err
		}
		var a Address
		copy(a[:], k[1:])
		d.update(a, Account{}, acc)
		return nil
	})
	if err != nil {
		return err
	}
	if d != c.digest {
		return fmt.Errorf("%w: account state does not match the state digest of tip %s", ErrStoreCorrupted, c.tipNode().hash)
	}
	tip := c.tipNode()
	v, err := c.store.Get(heightKey(tip.height))
	if err != nil || !bytes.Equal(v, tip.hash[:]) {
		return fmt.Errorf("%w: height index does not match tip %s", ErrStoreCorrupted, tip.hash)
	}
	return nil
}

func (c *Chain) tipNode() *blockNode { return c.main[len(c.main)-1] }

// rebuildCandidates recomputes the set of possible best-chain tips: valid
// (not failed) blocks with usable data and no such child.
func (c *Chain) rebuildCandidates() {
	c.candidates = make(map[*blockNode]struct{})
	hasValidChild := make(map[*blockNode]bool)
	usable := func(n *blockNode) bool { return !n.status.invalid() && !c.unusable.has(n) }
	for _, n := range c.index {
		if usable(n) && n.parent != nil {
			hasValidChild[n.parent] = true
		}
	}
	for _, n := range c.index {
		if usable(n) && !hasValidChild[n] {
			c.candidates[n] = struct{}{}
		}
	}
}

func (c *Chain) updateSnapshot() {
	tip := c.tipNode()
	s := &Snapshot{
		Hash: tip.hash, Height: tip.height, ChainWork: new(big.Int).Set(tip.chainWork),
		Bits: tip.header.Bits, Timestamp: tip.header.Timestamp, MedianTime: tip.medianTimePast(),
		StateDigest: c.digest.value(), NextBits: c.nextBits(tip),
	}
	c.best.Store(s)
}

// Params returns the chain's network parameters.
func (c *Chain) Params() *Params { return c.params }

// Best returns the tip snapshot without locking.
func (c *Chain) Best() Snapshot { return *c.best.Load() }

// Height returns the main chain height without locking.
func (c *Chain) Height() uint64 { return c.best.Load().Height }

// ProcessBlock validates b and adds it to the chain: stored on its branch,
// connected if its branch has the most work (reorganising if needed), kept as
// an orphan if its parent is unknown (any stored orphans it parents are then
// processed too). Rule violations are *RuleError values; a block from the
// future (ErrTimeTooNew) is not stored and not marked invalid.
func (c *Chain) ProcessBlock(b *Block) (ProcessResult, error) {
	return c.processBlock(b, true)
}

// ProcessUnrequestedBlock is ProcessBlock for a block nobody asked for (a
// gossiped block): it is stored only if its branch has at least the work of
// the current tip, so a peer cannot fill the disk with cheap low-work side
// branches. A lighter block is refused with ErrLowWork: not stored, not
// marked, not the sender's fault; if its branch really is heavier, the sync
// protocol fetches it once the headers prove that work (as Bitcoin Core's
// rule for unrequested blocks).
func (c *Chain) ProcessUnrequestedBlock(b *Block) (ProcessResult, error) {
	return c.processBlock(b, false)
}

func (c *Chain) processBlock(b *Block, requested bool) (ProcessResult, error) {
	start := time.Now()
	// A block that passed CheckBlock is not checked again.
	h, checked := c.checked.take(b)
	if !checked {
		h = b.Hash()
	}
	res := ProcessResult{Hash: h}
	// Context-free checks run before taking the lock.
	if c.haveOrInvalid(h, &res) {
		if res.Status == StatusDuplicate {
			return res, ruleErr(ErrDuplicateBlock, "block %s already known", h)
		}
		return res, ruleErr(ErrKnownInvalid, "block %s is known to be invalid", h)
	}
	if !checked {
		if err := checkBlockSanity(b, h, c.params); err != nil {
			// Only header faults may mark a hash invalid; without a parent a
			// header-only verdict is cheap to recompute, so nothing is stored.
			return res, err
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.halt.get(); err != nil {
		return res, err
	}
	if c.index[h] != nil {
		res.Status = StatusDuplicate
		return res, ruleErr(ErrDuplicateBlock, "block %s already known", h)
	}
	now := c.now()
	parent := c.index[b.Header.PrevBlock]
	if parent == nil {
		c.orphans.add(b, h, now)
		res.Status = StatusOrphan
		res.Duration = time.Since(start)
		c.log.Debug("orphan block", "hash", h, "parent", b.Header.PrevBlock)
		return res, nil
	}
	oldTip := c.tipNode()
	if !requested {
		work := new(big.Int).Add(parent.chainWork, c.work.of(b.Header.Bits))
		if work.Cmp(oldTip.chainWork) < 0 {
			return res, ruleErr(ErrLowWork, "block %s at height %d would leave its branch with less work than the tip", h, parent.height+1)
		}
	}
	n, err := c.acceptBlock(b, h, parent, now)
	if err != nil {
		return res, err
	}
	res.Height = n.height
	// Connect whatever is now best, then adopt orphans waiting on this block.
	evs, _, err := c.activateBestChain()
	queue := []*blockNode{n}
	for len(queue) > 0 && err == nil {
		p := queue[0]
		queue = queue[1:]
		for _, child := range c.orphans.takeChildren(p.hash) {
			cn, aerr := c.acceptBlock(child, child.Hash(), p, now)
			if aerr != nil {
				if errors.Is(aerr, ErrWriteFailed) {
					err = aerr
					break
				}
				c.log.Info("orphan rejected", "hash", child.Hash(), "err", aerr)
				continue
			}
			queue = append(queue, cn)
			more, _, e := c.activateBestChain()
			evs, err = append(evs, more...), e
		}
	}
	c.publishChanges(oldTip, evs)
	res.Duration = time.Since(start)
	switch {
	case n.status.invalid():
		return res, c.failureOf(n)
	case c.inMain(n):
		res.Status = StatusConnected
		res.Reorged = findFork(oldTip, c.tipNode()) != oldTip
	default:
		res.Status = StatusSideChain
	}
	return res, err
}

func (c *Chain) haveOrInvalid(h Hash, res *ProcessResult) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := c.index[h]; n != nil {
		if n.status.invalid() {
			return true
		}
		res.Status, res.Height = StatusDuplicate, n.height
		return true
	}
	if n := c.hdrs.nodes[h]; n != nil && c.headerInvalidLocked(n, false) {
		return true // its header was found invalid by ProcessHeaders
	}
	if c.orphans.has(h) {
		res.Status = StatusDuplicate
		return true
	}
	return false
}

// failures remembers why a block failed, for the caller of ProcessBlock.
func (c *Chain) failureOf(n *blockNode) error {
	if n.status&statusFailedAncestor != 0 {
		return ruleErr(ErrInvalidAncestor, "block %s descends from an invalid block", n.hash)
	}
	if err, ok := c.lastFailure[n.hash]; ok {
		return err
	}
	return ruleErr(ErrKnownInvalid, "block %s is invalid", n.hash)
}

func (c *Chain) inMain(n *blockNode) bool {
	return n.height < uint64(len(c.main)) && c.main[n.height] == n
}

// acceptBlock runs the contextual header checks and stores the block on its
// branch (not yet connected). It is called with mu held.
func (c *Chain) acceptBlock(b *Block, h Hash, parent *blockNode, now time.Time) (*blockNode, error) {
	if parent.status.invalid() {
		err := ruleErr(ErrInvalidAncestor, "block %s builds on invalid block %s", h, parent.hash)
		return nil, c.storeInvalid(b, h, parent, statusFailedAncestor, err)
	}
	if err := c.checkHeaderContext(&b.Header, parent, now); err != nil {
		if marksInvalid(KindOf(err)) {
			c.rememberFailure(h, err)
			return nil, c.storeInvalid(b, h, parent, statusFailed, err)
		}
		return nil, err
	}
	if cb := b.Txs[0]; cb.Height != parent.height+1 {
		err := ruleErr(ErrBadCoinbaseHeight, "coinbase height %d in block at height %d", cb.Height, parent.height+1)
		c.rememberFailure(h, err)
		return nil, c.storeInvalid(b, h, parent, statusFailed, err)
	}
	n := c.newNode(b, h, parent)
	if err := c.storeNode(n, b); err != nil {
		return nil, err
	}
	if c.unusable.has(parent) {
		// Held back with its branch until the corrupt ancestor is repaired.
		c.unusable.add(n)
		return n, nil
	}
	delete(c.candidates, parent)
	c.candidates[n] = struct{}{}
	return n, nil
}

func (c *Chain) newNode(b *Block, h Hash, parent *blockNode) *blockNode {
	n := &blockNode{
		hash: h, header: b.Header, height: parent.height + 1,
		chainWork: new(big.Int).Add(parent.chainWork, c.work.of(b.Header.Bits)),
		txCount:   len(b.Txs), size: b.SerializeSize(),
	}
	n.setParent(parent)
	return n
}

// storeInvalid stores a block that failed a rule with the failure's status
// flag and returns the rule error. If storing fails, the returned error
// carries both: the rule error (its kind still says the block is invalid)
// and the storage failure (which has halted the chain's writes).
func (c *Chain) storeInvalid(b *Block, h Hash, parent *blockNode, flag blockStatus, ruleErr error) error {
	n := c.newNode(b, h, parent)
	n.status |= flag
	if err := c.storeNode(n, b); err != nil {
		return fmt.Errorf("%w; storing the invalid block failed: %w", ruleErr, err)
	}
	return ruleErr
}

// storeNode writes the block and its index record in one batch and adds the
// node to the in-memory index.
func (c *Chain) storeNode(n *blockNode, b *Block) error {
	batch := Batch{Ops: make([]kv.Op, 0, 2)}
	batch.Put(hashKey(prefixIndex, n.hash), encodeIndexRecord(n))
	// Data is kept even for invalid blocks (they passed the PoW check, so
	// storing them costs an attacker work) so that ReconsiderBlock can retry.
	batch.Put(hashKey(prefixBlock, n.hash), b.Bytes())
	if err := c.commit(&batch); err != nil {
		return err
	}
	c.addNode(n)
	return nil
}

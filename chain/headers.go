package chain

import (
	"cmp"
	"math/big"
	"slices"
)

// Headers-only entries of the block index. Headers-first sync validates a
// peer's headers before it downloads any block: ProcessHeaders checks each
// header against its parent (proof of work, the ASERT bits, time after the
// median time past and not beyond the future limit) and keeps it as a
// headers-only entry. Such entries live in memory only, in their own map
// beside the index of stored blocks, so nothing that walks stored blocks
// (candidates, reorganisation, the store) sees them; a restart forgets them
// and the headers are simply fetched again. An entry leaves the map when its
// block is stored (addNode), so the map holds exactly the headers whose
// block data is missing.
//
// The best header is the valid entry, stored or headers-only, with the most
// cumulative work (ties: first seen). A headers-only entry is invalid when
// it failed its own checks, descends from one that did, or descends from a
// stored block marked invalid; headers never outrank what was proven by
// stored blocks, they only say which blocks to download next.

// ErrTooManyHeaders is returned by ProcessHeaders when MaxHeaderEntries
// headers-only entries are held: the caller should download blocks (which
// turns entries into stored blocks) before it sends more headers. It is
// transient and marks nothing.
const ErrTooManyHeaders ErrorKind = "too many headers-only entries"

// MaxHeaderEntries bounds the headers-only entries held in memory (about
// 250 bytes each).
const MaxHeaderEntries = 1 << 20

// headerIndex holds the headers-only entries. Guarded by Chain.mu.
type headerIndex struct {
	nodes map[Hash]*blockNode
	// best is the headers-only entry with the most work as of the last
	// insertion or recomputation; it may since have been stored (then its
	// stored node stands in) or found invalid (then it is recomputed).
	best *blockNode
	// lost is the last best entry found invalid while no valid entry was
	// left; if it turns valid again (ReconsiderBlock), best is recomputed.
	lost *blockNode
	// gen counts invalidations of stored blocks; an entry whose validGen
	// is gen+1 was found valid since the last one.
	gen uint64
}

// lookupAnyLocked returns the stored node for h, else its headers-only
// entry, else nil. Caller holds mu.
func (c *Chain) lookupAnyLocked(h Hash) *blockNode {
	if n := c.index[h]; n != nil {
		return n
	}
	return c.hdrs.nodes[h]
}

// headerInvalidLocked reports whether n (stored or headers-only) is invalid:
// marked itself, or below an invalid entry. It walks headers-only ancestors
// up to the first stored one (whose status already reflects its own
// ancestors) or to one found valid since the last invalidation, and caches
// the verdict on the entries it passed if cache (the caller holds mu for
// writing), so that a long run of headers is checked in linear time.
// Callers holding only the read lock pass cache false.
func (c *Chain) headerInvalidLocked(n *blockNode, cache bool) bool {
	valid := c.hdrs.gen + 1 // so that the zero value means "not checked"
	invalid := false
	it := n
	for ; it != nil; it = it.parent {
		if full := c.index[it.hash]; full != nil {
			invalid = full.status.invalid()
			break
		}
		if it.status.invalid() {
			invalid = true
			break
		}
		if it.validGen == valid {
			break
		}
	}
	if !invalid && cache {
		for v := n; v != it; v = v.parent {
			v.validGen = valid
		}
	}
	return invalid
}

// headerMarksChanged voids the cached validity of headers-only entries: a
// stored block was marked invalid. Caller holds mu.
func (c *Chain) headerMarksChanged() { c.hdrs.gen++ }

// ProcessHeaders validates headers in order and records each new one as a
// headers-only entry. Each header must connect to a stored block or to an
// entry recorded before (ErrUnknownParent otherwise, transient), carry
// valid proof of work and the expected bits, be later than the median time
// past of its parent and not beyond the future limit of the chain's clock.
// Headers already known are skipped. A header that breaks a rule marks its
// hash invalid (as a block would), and one that builds on an invalid entry
// is marked as descending from it; either stops processing with the
// *RuleError. A header from the future (ErrTimeTooNew) is not recorded.
// Safe for concurrent use.
func (c *Chain) ProcessHeaders(hdrs []Header) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hdrs.nodes == nil {
		c.hdrs.nodes = make(map[Hash]*blockNode)
	}
	now := c.now()
	for i := range hdrs {
		hdr := &hdrs[i]
		h := hdr.BlockHash()
		if n := c.lookupAnyLocked(h); n != nil {
			if c.headerInvalidLocked(n, true) {
				if n.status&statusFailed != 0 {
					return c.failureOf(n)
				}
				return ruleErr(ErrInvalidAncestor, "header %s descends from an invalid block", h)
			}
			continue
		}
		if err := checkHeaderSanity(hdr, h, c.params); err != nil {
			return err
		}
		parent := c.lookupAnyLocked(hdr.PrevBlock)
		if parent == nil {
			return ruleErr(ErrUnknownParent, "header %s: parent %s unknown", h, hdr.PrevBlock)
		}
		if len(c.hdrs.nodes) >= MaxHeaderEntries {
			return ruleErr(ErrTooManyHeaders, "%d headers-only entries held", len(c.hdrs.nodes))
		}
		n := &blockNode{
			hash: h, header: *hdr, height: parent.height + 1,
			chainWork: new(big.Int).Add(parent.chainWork, c.work.of(hdr.Bits)),
		}
		n.setParent(parent)
		if c.headerInvalidLocked(parent, true) {
			n.status |= statusFailedAncestor
			c.addHeaderLocked(n)
			return ruleErr(ErrInvalidAncestor, "header %s builds on invalid block %s", h, parent.hash)
		}
		if err := c.checkHeaderContext(hdr, parent, now); err != nil {
			if marksInvalid(KindOf(err)) {
				n.status |= statusFailed
				c.rememberFailure(h, err)
				c.addHeaderLocked(n)
			}
			return err
		}
		c.addHeaderLocked(n)
	}
	return nil
}

// addHeaderLocked records a headers-only entry and updates the best one.
func (c *Chain) addHeaderLocked(n *blockNode) {
	c.nextSeq++
	n.seq = c.nextSeq
	c.hdrs.nodes[n.hash] = n
	if n.status.invalid() {
		return
	}
	if b := c.hdrs.best; b == nil || candidateBefore(n, b) {
		c.hdrs.best = n
	}
}

// bestHeaderLocked returns the best header: the main-chain tip or a valid
// entry (stored or headers-only) with more work. Caller holds mu.
func (c *Chain) bestHeaderLocked() *blockNode {
	tip := c.tipNode()
	b := c.hdrs.best
	if b == nil && c.hdrs.lost != nil && !c.headerInvalidLocked(c.hdrs.lost, true) {
		c.hdrs.lost = nil
		b = c.recomputeBestHeaderLocked()
	}
	if b != nil {
		if full := c.index[b.hash]; full != nil {
			b = full // stored since; the tip comparison below decides
		}
		if c.headerInvalidLocked(b, true) {
			lost := b
			if b = c.recomputeBestHeaderLocked(); b == nil {
				c.hdrs.lost = lost
			}
		}
	}
	if b == nil || b.chainWork.Cmp(tip.chainWork) <= 0 {
		return tip // headers must prove more work than stored blocks
	}
	return b
}

// recomputeBestHeaderLocked scans the headers-only entries for the valid one
// with the most work (after an invalidation). Caller holds mu.
func (c *Chain) recomputeBestHeaderLocked() *blockNode {
	var best *blockNode
	for _, n := range c.hdrs.nodes {
		if (best == nil || candidateBefore(n, best)) && !c.headerInvalidLocked(n, true) {
			best = n
		}
	}
	c.hdrs.best = best
	return best
}

// HeaderTip describes the best header chain's tip. It is a value; ChainWork
// must not be modified.
type HeaderTip struct {
	Hash      Hash
	Height    uint64
	ChainWork *big.Int
	// HaveData is false when the tip's block has not been downloaded.
	HaveData bool
}

// BestHeader returns the tip of the valid header chain with the most work:
// the main-chain tip unless headers-only entries prove more. Safe for
// concurrent use.
func (c *Chain) BestHeader() HeaderTip {
	c.mu.Lock() // may cache a recomputed best entry
	defer c.mu.Unlock()
	b := c.bestHeaderLocked()
	return HeaderTip{Hash: b.hash, Height: b.height, ChainWork: new(big.Int).Set(b.chainWork), HaveData: c.index[b.hash] != nil}
}

// MissingBlocks returns up to max hashes of blocks on the best header chain
// whose data the chain does not have, lowest height first: the blocks a
// headers-first download fetches next, in the order they connect. Safe for
// concurrent use.
func (c *Chain) MissingBlocks(max int) []Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Hash
	for it := c.bestHeaderLocked(); it != nil && c.index[it.hash] == nil; it = it.parent {
		out = append(out, it.hash)
	}
	slices.Reverse(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// HeaderLocator returns a block locator (as Locator) that starts at the best
// header instead of the main-chain tip, so that a peer continues sending
// headers after the ones already received. Safe for concurrent use.
func (c *Chain) HeaderLocator() []Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.bestHeaderLocked()
	var loc []Hash
	step := uint64(1)
	for it := b; it != nil; {
		loc = append(loc, it.hash)
		if it.parent == nil {
			return loc
		}
		if len(loc) >= 10 {
			step *= 2
		}
		target := uint64(0)
		if it.height > step {
			target = it.height - step
		}
		if full := c.index[it.hash]; full != nil && c.inMain(full) {
			it = c.main[target] // stored main-chain ancestors: by height
			continue
		}
		for it.height > target && it.parent != nil {
			it = it.parent
		}
	}
	return loc
}

// headerTipsLocked returns the tips of headers-only branches (entries with
// no child entry) for Tips: "headers-only" when valid, "invalid" otherwise.
// Caller holds mu.
func (c *Chain) headerTipsLocked(tip *blockNode) []TipInfo {
	hasChild := make(map[Hash]bool, len(c.hdrs.nodes))
	for _, n := range c.hdrs.nodes {
		if n.parent != nil {
			hasChild[n.parent.hash] = true
		}
	}
	var out []TipInfo
	for _, n := range c.hdrs.nodes {
		if hasChild[n.hash] {
			continue
		}
		t := TipInfo{Hash: n.hash, Height: n.height, Status: "headers-only"}
		t.BranchLen = n.height - c.forkHeightLocked(n)
		if c.headerInvalidLocked(n, false) {
			t.Status = "invalid"
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b TipInfo) int { return cmp.Compare(b.Height, a.Height) })
	return out
}

// forkHeightLocked returns the height of the last main-chain ancestor of n
// (stored or headers-only). Ancestors are compared by hash: a headers-only
// entry whose block was stored since is a different node with the same hash.
func (c *Chain) forkHeightLocked(n *blockNode) uint64 {
	for it := n; it != nil; it = it.parent {
		if full := c.index[it.hash]; full != nil && c.inMain(full) {
			return it.height
		}
	}
	return 0
}

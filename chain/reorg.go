package chain

import (
	"errors"
	"fmt"

	"github.com/quarrychain/quarry/chain/kv"
)

// maxRememberedFailures bounds the map of recent validation failures kept to
// tell ProcessBlock's caller why a block it sent was invalid.
const maxRememberedFailures = 1024

func (c *Chain) rememberFailure(h Hash, err error) {
	if c.lastFailure == nil || len(c.lastFailure) >= maxRememberedFailures {
		c.lastFailure = make(map[Hash]error)
	}
	c.lastFailure[h] = err
}

// bestCandidate returns the candidate tip with the most work (first seen on ties).
func (c *Chain) bestCandidate() *blockNode {
	var best *blockNode
	for n := range c.candidates {
		if best == nil || candidateBefore(n, best) {
			best = n
		}
	}
	return best
}

// activateBestChain moves the main chain to the best valid candidate:
// disconnect to the fork point, connect the new branch; a block that fails on
// the way is marked invalid (with its descendants) and the choice is made
// again, so the chain ends on the best chain of valid blocks. A block whose
// stored data is corrupt is not marked: its branch is held back until the
// block is repaired, and the choice is made again without it. Every step is
// one atomic store batch. Called with mu held; returns the events to publish.
func (c *Chain) activateBestChain() ([]Event, bool, error) {
	var evs []Event
	changed := false
	for {
		best, tip := c.bestCandidate(), c.tipNode()
		if best == nil || best == tip {
			return evs, changed, nil
		}
		cmp := best.chainWork.Cmp(tip.chainWork)
		if cmp < 0 || cmp == 0 && best.seq > tip.seq {
			return evs, changed, nil
		}
		changed = true
		fork := findFork(tip, best)
		for c.tipNode() != fork {
			ev, err := c.disconnectTip()
			if err != nil {
				return evs, changed, err
			}
			evs = append(evs, ev)
		}
		path := make([]*blockNode, 0, best.height-fork.height)
		for n := best; n != fork; n = n.parent {
			path = append(path, n)
		}
		for i := len(path) - 1; i >= 0; i-- {
			ev, err := c.connectBlock(path[i])
			if errors.Is(err, errBlockUnusable) {
				// This node's copy is damaged, the block may well be valid:
				// hold its branch back (in memory only) and choose again;
				// RepairBlock releases it.
				c.holdBack(path[i])
				break
			}
			if err != nil {
				if !marksInvalid(KindOf(err)) { // storage failure: not the block's fault
					return evs, changed, err
				}
				c.log.Warn("block failed validation while connecting", "hash", path[i].hash, "height", path[i].height, "err", err)
				if err := c.markInvalid(path[i], statusFailed, err); err != nil {
					return evs, changed, err
				}
				break
			}
			evs = append(evs, ev)
		}
	}
}

// connectBlock validates n's block against the state at the tip (its parent)
// and commits it: state changes, undo data, indexes, status and tip in one
// synced batch.
func (c *Chain) connectBlock(n *blockNode) (Event, error) {
	b, ids, err := c.readBlockForChange(n)
	if err != nil {
		return Event{}, err
	}
	if err := verifySignatures(b.Txs, ids, c.workers, c.sigCache); err != nil {
		return Event{}, err
	}
	view := newStateView(c.readAccount)
	if err := applyBlockTxs(view, b.Txs, n.height, c.params); err != nil {
		return Event{}, err
	}
	// Accounts, undo, one index entry per transaction, height, index, tip.
	batch := Batch{Ops: make([]kv.Op, 0, len(view.undo)+len(ids)+4)}
	digest := c.digest
	for _, u := range view.undo {
		cur := view.overlay[u.addr]
		if cur == u.prev {
			continue
		}
		digest.update(u.addr, u.prev, cur)
		if cur.isZero() {
			batch.Delete(accountKey(u.addr))
		} else {
			batch.Put(accountKey(u.addr), cur.bytes())
		}
	}
	batch.Put(hashKey(prefixUndo, n.hash), encodeUndo(view.undo))
	for _, id := range ids {
		batch.Put(hashKey(prefixTxIndex, id), n.hash[:])
	}
	batch.Put(heightKey(n.height), n.hash[:])
	status := n.status | statusValid
	rec := *n
	rec.status = status
	batch.Put(hashKey(prefixIndex, n.hash), encodeIndexRecord(&rec))
	batch.Put([]byte(keyTip), c.tipRecord(n.hash, digest))
	if err := c.commit(&batch); err != nil {
		return Event{}, err
	}
	n.status = status
	c.digest = digest
	c.main = append(c.main, n)
	c.updateSnapshot()
	return Event{Kind: EventBlockConnected, Block: b, Hash: n.hash, Height: n.height}, nil
}

// readBlockForChange reads n's block for connecting or disconnecting it.
// Missing data of an indexed block is damage; corrupt data is reported as
// errBlockUnusable, without ErrCorruptData's kind, because the failure is
// this node's and must not be blamed on the peer whose block triggered the
// change.
func (c *Chain) readBlockForChange(n *blockNode) (*Block, []Hash, error) {
	b, ids, err := c.readBlock(n.hash)
	switch {
	case err == nil:
		return b, ids, nil
	case KindOf(err) == ErrCorruptData:
		return nil, nil, fmt.Errorf("block %s at height %d: %w until it is repaired from a peer (%v)", n.hash, n.height, errBlockUnusable, err)
	case KindOf(err) == ErrNotFound:
		return nil, nil, fmt.Errorf("%w: block %s at height %d is indexed but its data is missing", ErrStoreCorrupted, n.hash, n.height)
	}
	return nil, nil, err
}

// errBlockUnusable marks a connect or disconnect held up by a block whose
// stored data is corrupt (see CorruptBlocks).
var errBlockUnusable = errors.New("stored data is corrupt, the chain cannot move past it")

// disconnectTip undoes the tip block in one synced batch.
func (c *Chain) disconnectTip() (Event, error) {
	n := c.tipNode()
	if n.parent == nil {
		return Event{}, errors.New("cannot disconnect the genesis block")
	}
	b, ids, err := c.readBlockForChange(n)
	if err != nil {
		return Event{}, err
	}
	raw, err := c.store.Get(hashKey(prefixUndo, n.hash))
	if err != nil {
		return Event{}, fmt.Errorf("%w: undo data of block %s: %v", ErrStoreCorrupted, n.hash, err)
	}
	undo, err := decodeUndo(raw)
	if err != nil {
		return Event{}, err
	}
	var batch Batch
	digest := c.digest
	for i := len(undo) - 1; i >= 0; i-- {
		u := undo[i]
		cur, err := c.readAccount(u.addr)
		if err != nil {
			return Event{}, err
		}
		if cur == u.prev {
			continue
		}
		digest.update(u.addr, cur, u.prev)
		if u.prev.isZero() {
			batch.Delete(accountKey(u.addr))
		} else {
			batch.Put(accountKey(u.addr), u.prev.bytes())
		}
	}
	for _, id := range ids {
		batch.Delete(hashKey(prefixTxIndex, id))
	}
	batch.Delete(heightKey(n.height))
	batch.Delete(hashKey(prefixUndo, n.hash))
	batch.Put([]byte(keyTip), c.tipRecord(n.parent.hash, digest))
	if err := c.commit(&batch); err != nil {
		return Event{}, err
	}
	c.digest = digest
	c.main = c.main[:len(c.main)-1]
	c.updateSnapshot()
	return Event{Kind: EventBlockDisconnected, Block: b, Hash: n.hash, Height: n.height}, nil
}

// markInvalid flags n (with flag) and all its descendants as failed, persists
// the statuses and recomputes the candidate tips.
func (c *Chain) markInvalid(n *blockNode, flag blockStatus, cause error) error {
	if cause != nil {
		c.rememberFailure(n.hash, cause)
	}
	// The statuses change in memory only once the batch is stored, so a
	// failed commit leaves memory and store in agreement.
	var (
		batch   Batch
		changes []statusChange
	)
	set := func(x *blockNode, status blockStatus) {
		rec := *x
		rec.status = status
		batch.Put(hashKey(prefixIndex, x.hash), encodeIndexRecord(&rec))
		changes = append(changes, statusChange{x, status})
	}
	set(n, n.status|flag)
	for _, d := range descendants(c.index, n) {
		if d.status&statusFailedAncestor == 0 {
			set(d, d.status|statusFailedAncestor)
		}
	}
	if err := c.commit(&batch); err != nil {
		return err
	}
	for _, ch := range changes {
		ch.node.status = ch.status
	}
	c.headerMarksChanged()
	c.rebuildCandidates()
	return nil
}

// statusChange is a block status to set once its batch is stored.
type statusChange struct {
	node   *blockNode
	status blockStatus
}

// InvalidateBlock marks h and its descendants invalid, as Bitcoin Core's
// invalidateblock: if h is on the main chain the chain is rewound below it,
// then the best remaining valid chain is activated.
func (c *Chain) InvalidateBlock(h Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.halt.get(); err != nil {
		return err
	}
	n := c.index[h]
	if n == nil {
		return ruleErr(ErrNotFound, "block %s not found", h)
	}
	if n.parent == nil {
		return fmt.Errorf("the genesis block cannot be invalidated")
	}
	oldTip := c.tipNode()
	var evs []Event
	for c.inMain(n) {
		ev, err := c.disconnectTip()
		if err != nil {
			c.publishChanges(oldTip, evs)
			return err
		}
		evs = append(evs, ev)
	}
	if err := c.markInvalid(n, statusFailed, nil); err != nil {
		c.publishChanges(oldTip, evs)
		return err
	}
	more, _, err := c.activateBestChain()
	c.publishChanges(oldTip, append(evs, more...))
	c.log.Info("block invalidated by request", "hash", h, "height", n.height)
	return err
}

// ReconsiderBlock removes the invalid marks from h, its ancestors and its
// descendants (as Bitcoin Core's reconsiderblock) and activates the best chain.
func (c *Chain) ReconsiderBlock(h Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.halt.get(); err != nil {
		return err
	}
	n := c.index[h]
	if n == nil {
		return ruleErr(ErrNotFound, "block %s not found", h)
	}
	var (
		batch   Batch
		changes []statusChange
	)
	clear := func(x *blockNode) {
		if x.status.invalid() {
			rec := *x
			rec.status &^= statusFailed | statusFailedAncestor
			batch.Put(hashKey(prefixIndex, x.hash), encodeIndexRecord(&rec))
			changes = append(changes, statusChange{x, rec.status})
		}
	}
	clear(n)
	for _, d := range descendants(c.index, n) {
		clear(d)
	}
	for a := n.parent; a != nil; a = a.parent {
		clear(a)
	}
	if err := c.commit(&batch); err != nil {
		return err
	}
	for _, ch := range changes {
		ch.node.status = ch.status
		delete(c.lastFailure, ch.node.hash)
	}
	// Blocks whose data was never stored (rejected before storage) cannot be
	// reconsidered; they stay out of the candidate set until received again.
	c.rebuildCandidates()
	oldTip := c.tipNode()
	evs, _, err := c.activateBestChain()
	c.publishChanges(oldTip, evs)
	return err
}

// publishChanges emits the events of one change, then the reorg summary and
// the new tip. Called with mu held.
func (c *Chain) publishChanges(oldTip *blockNode, evs []Event) {
	if len(evs) == 0 {
		return
	}
	newTip := c.tipNode()
	fork := findFork(oldTip, newTip)
	if fork != oldTip {
		r := &Reorg{ForkPoint: fork.hash, ForkHeight: fork.height, OldTip: oldTip.hash, NewTip: newTip.hash}
		for x := oldTip; x != fork; x = x.parent {
			r.Removed = append(r.Removed, x.hash)
		}
		for x := newTip; x != fork; x = x.parent {
			r.Added = append(r.Added, x.hash)
		}
		for i, j := 0, len(r.Added)-1; i < j; i, j = i+1, j-1 {
			r.Added[i], r.Added[j] = r.Added[j], r.Added[i]
		}
		evs = append(evs, Event{Kind: EventReorg, Hash: newTip.hash, Height: newTip.height, Reorg: r})
		c.log.Info("chain reorganised", "depth", len(r.Removed), "fork_height", fork.height, "fork", fork.hash,
			"old_tip", oldTip.hash, "new_tip", newTip.hash, "added", len(r.Added))
	}
	evs = append(evs, Event{Kind: EventNewTip, Hash: newTip.hash, Height: newTip.height, Tip: c.Best()})
	c.events.publish(evs)
}

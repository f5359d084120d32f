package mempool

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// fakeChain drives a fakeState and a pool with chain-shaped events.
type fakeChain struct {
	t      testing.TB
	e      *env
	blocks []*chain.Block // main chain above genesis
	states []map[chain.Address]chain.Account
	tips   []chain.Snapshot
	seq    uint64
	tag    uint32
}

func newFakeChain(e *env) *fakeChain {
	accts, tip := e.state.snapshot()
	return &fakeChain{t: e.t, e: e, states: []map[chain.Address]chain.Account{accts}, tips: []chain.Snapshot{tip}}
}

func (c *fakeChain) height() uint64 { return uint64(len(c.blocks)) }

func (c *fakeChain) tipHash() chain.Hash { return c.tips[len(c.tips)-1].Hash }

// build makes a block on the current tip (not yet applied).
func (c *fakeChain) build(txs ...*chain.Tx) *chain.Block {
	c.tag++
	return block(c.e.params, c.tipHash(), c.height()+1, c.tag, txs...)
}

// push applies b on the tip; with notify the pool gets the events.
func (c *fakeChain) push(b *chain.Block, notify bool) {
	c.t.Helper()
	if err := c.e.state.apply(b); err != nil {
		c.t.Fatalf("block does not apply: %v", err)
	}
	accts, tip := c.e.state.snapshot()
	c.blocks = append(c.blocks, b)
	c.states = append(c.states, accts)
	c.tips = append(c.tips, tip)
	c.emit(chain.Event{Kind: chain.EventBlockConnected, Block: b, Hash: b.Hash(), Height: tip.Height}, notify)
	c.emit(chain.Event{Kind: chain.EventNewTip, Tip: tip}, notify)
}

func (c *fakeChain) emit(ev chain.Event, notify bool) {
	c.seq++
	ev.Seq = c.seq
	if notify {
		c.e.pool.HandleEvent(ev)
	}
}

// reorg disconnects depth blocks and connects branch (built with
// buildBranch), emitting the chain's event sequence.
func (c *fakeChain) reorg(depth int, branch []*chain.Block) {
	c.t.Helper()
	fork := len(c.blocks) - depth
	old := append([]*chain.Block(nil), c.blocks[fork:]...)
	c.blocks = c.blocks[:fork]
	c.states = c.states[:fork+1]
	c.tips = c.tips[:fork+1]
	c.e.state.restore(c.states[fork], c.tips[fork])
	var evs []chain.Event
	for i := len(old) - 1; i >= 0; i-- {
		evs = append(evs, chain.Event{Kind: chain.EventBlockDisconnected, Block: old[i], Hash: old[i].Hash()})
	}
	for _, b := range branch {
		if err := c.e.state.apply(b); err != nil {
			c.t.Fatalf("branch block does not apply: %v", err)
		}
		accts, tip := c.e.state.snapshot()
		c.blocks = append(c.blocks, b)
		c.states = append(c.states, accts)
		c.tips = append(c.tips, tip)
		evs = append(evs, chain.Event{Kind: chain.EventBlockConnected, Block: b, Hash: b.Hash(), Height: tip.Height})
	}
	evs = append(evs, chain.Event{Kind: chain.EventReorg, Reorg: &chain.Reorg{}},
		chain.Event{Kind: chain.EventNewTip, Tip: c.tips[len(c.tips)-1]})
	for _, ev := range evs {
		c.emit(ev, true)
	}
}

// branchFrom builds blocks on the ancestor depth blocks below the tip, each
// holding the given transactions (one slice per block). The state is not
// changed.
func (c *fakeChain) branchFrom(depth int, txsPerBlock ...[]*chain.Tx) []*chain.Block {
	fork := len(c.blocks) - depth
	parent := c.tips[fork].Hash
	var out []*chain.Block
	for i, txs := range txsPerBlock {
		c.tag++
		b := block(c.e.params, parent, uint64(fork+i+1), c.tag, txs...)
		out = append(out, b)
		parent = b.Hash()
	}
	return out
}

func TestBlockConnected(t *testing.T) {
	e := newEnv(t, nil)
	a := e.fund(1, 10*coin)
	e.fund(2, 10*coin)
	fc := newFakeChain(e)
	sub := e.pool.Subscribe(32)
	defer sub.Close()

	t1 := e.transfer(1, 9, 0, coin, 1000)
	t2 := e.transfer(1, 9, 1, coin, 1000)
	t3 := e.transfer(1, 9, 2, 7*coin, 1000)
	other := e.transfer(2, 9, 0, coin, 1000)
	for _, tx := range []*chain.Tx{t1, t2, t3, other} {
		e.mustAdd(tx)
	}
	// A block mined elsewhere: t1 plus a conflicting nonce-1 spend of sender 1
	// that leaves too little for t3.
	conflict := e.transfer(1, 8, 1, 2*coin, 1000)
	fc.push(fc.build(t1, conflict), true)
	if e.pool.Has(t1.TxID()) || e.pool.Has(t2.TxID()) || e.pool.Has(t3.TxID()) || !e.pool.Has(other.TxID()) {
		t.Fatalf("after block: t1=%v t2=%v t3=%v other=%v", e.pool.Has(t1.TxID()), e.pool.Has(t2.TxID()),
			e.pool.Has(t3.TxID()), e.pool.Has(other.TxID()))
	}
	reasons := map[chain.Hash]RemoveReason{}
	for _, ev := range waitEvents(t, sub, 7) {
		if ev.Kind == EventRemoved {
			reasons[ev.ID] = ev.Reason
		}
	}
	if reasons[t1.TxID()] != ReasonIncluded || reasons[t2.TxID()] != ReasonConflict || reasons[t3.TxID()] != ReasonUnfunded {
		t.Fatalf("reasons %v", reasons)
	}
	if e.pool.Tip().Hash != fc.tipHash() {
		t.Fatal("tip not recorded")
	}
	if n := e.pool.PendingNonce(a); n != 2 {
		t.Fatalf("pending nonce %d", n)
	}
	checkInvariants(t, e.pool, e.state)

	// The direct blockConnected entry point.
	b := fc.build(other)
	if err := e.state.apply(b); err != nil {
		t.Fatal(err)
	}
	e.pool.blockConnected(b)
	if e.pool.Count() != 0 || e.pool.Tip().Hash != b.Hash() {
		t.Fatalf("count %d", e.pool.Count())
	}
}

func TestReorgReaddsDisconnected(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxNonceGap = DisableNonceGap })
	a := e.fund(1, 10*coin)
	fc := newFakeChain(e)
	t1 := e.transfer(1, 9, 0, coin, 1000)
	e.mustAdd(t1)
	fc.push(fc.build(t1), true)
	t2 := e.transfer(1, 9, 1, coin, 1000)
	e.mustAdd(t2)
	if e.pool.Count() != 1 {
		t.Fatal("t1 not removed")
	}
	sub := e.pool.Subscribe(8)
	defer sub.Close()
	// A longer branch without t1: t1 comes back before t2, even in strictly
	// contiguous mode.
	fc.reorg(1, fc.branchFrom(1, nil, nil))
	if !e.pool.Has(t1.TxID()) || !e.pool.Has(t2.TxID()) {
		t.Fatalf("t1=%v t2=%v", e.pool.Has(t1.TxID()), e.pool.Has(t2.TxID()))
	}
	if info := e.pool.Sender(a); info.Ready != 2 || info.PendingNonce != 2 {
		t.Fatalf("sender %+v", info)
	}
	ev := waitEvents(t, sub, 1)[0]
	if ev.Kind != EventAdded || ev.ID != t1.TxID() {
		t.Fatalf("event %+v", ev)
	}
	got := e.pool.SelectForBlock(1 << 20)
	if len(got) != 2 || got[0] != t1 || got[1] != t2 {
		t.Fatalf("selection %v", got)
	}
	checkTemplate(t, e.state, got)
	checkInvariants(t, e.pool, e.state)

	// A branch that contains t1 again: t1 leaves the pool as included.
	fc.reorg(2, fc.branchFrom(2, nil, []*chain.Tx{t1}, nil))
	if e.pool.Has(t1.TxID()) || !e.pool.Has(t2.TxID()) {
		t.Fatal("t1 should be included, t2 pending")
	}
	checkInvariants(t, e.pool, e.state)
}

// TestCrossPartitionDoubleSpend: during a partition the same sender nonce is
// spent to two recipients on two branches. After the reorg to the heavier
// branch exactly its transaction is in the chain and the other one is gone
// from the pool; transactions depending on the losing one go too, and
// unrelated transactions of the losing branch come back.
func TestCrossPartitionDoubleSpend(t *testing.T) {
	e := newEnv(t, nil)
	a := e.fund(1, 10*coin)
	e.fund(3, 10*coin)
	fc := newFakeChain(e)
	base := fc.height()

	toX := e.transfer(1, 20, 0, 4*coin, 1000) // our side
	toY := e.transfer(1, 21, 0, 5*coin, 1000) // the other side
	unrelated := e.transfer(3, 22, 0, coin, 1000)
	e.mustAdd(toX)
	if _, err := e.pool.Add(toY); KindOf(err) != ErrReplacementUnderpriced {
		t.Fatalf("second spend of nonce 0: %v", err)
	}
	e.mustAdd(unrelated)
	fc.push(fc.build(toX, unrelated), true)
	// X spends what it received; that depends on the losing branch.
	xSpends := e.transfer(20, 23, 0, coin, 1000)
	e.mustAdd(xSpends)
	if e.pool.Count() != 1 {
		t.Fatalf("count %d", e.pool.Count())
	}

	// The other partition mined toY and one more block: more work.
	branch := fc.branchFrom(int(fc.height()-base), []*chain.Tx{toY}, nil)
	fc.reorg(int(fc.height()-base), branch)

	if e.pool.Has(toX.TxID()) || e.pool.Has(toY.TxID()) {
		t.Fatalf("pool holds a spend of the contested nonce: x=%v y=%v", e.pool.Has(toX.TxID()), e.pool.Has(toY.TxID()))
	}
	if e.pool.Has(xSpends.TxID()) {
		t.Fatal("tx depending on the losing branch kept")
	}
	if !e.pool.Has(unrelated.TxID()) {
		t.Fatal("unrelated tx of the losing branch not re-added")
	}
	if acc := e.state.Account(a); acc.Nonce != 1 || acc.Balance != 5*coin-1000 {
		t.Fatalf("sender %+v", acc)
	}
	if e.state.Account(addrOf(testKey(21))).Balance != 5*coin || e.state.Account(addrOf(testKey(20))).Balance != 0 {
		t.Fatal("winning recipient not paid / losing paid")
	}
	// Mining the pool now can never include the losing spend.
	txs := e.pool.SelectForBlock(1 << 20)
	checkTemplate(t, e.state, txs)
	if len(txs) != 1 || txs[0] != unrelated {
		t.Fatalf("template %v", txs)
	}
	checkInvariants(t, e.pool, e.state)

	// And the pool that lived on the winning side: it had toY mined; after
	// healing nothing changes and toX is refused.
	if _, err := e.pool.Add(toX); KindOf(err) != ErrNonceTooLow {
		t.Fatalf("losing spend re-submitted: %v", err)
	}
}

func TestDroppedEventsResync(t *testing.T) {
	e := newEnv(t, nil)
	e.fund(1, 10*coin)
	e.fund(2, 10*coin)
	fc := newFakeChain(e)
	fc.push(fc.build(), true) // the pool has seen events up to here
	t1 := e.transfer(1, 9, 0, coin, 1000)
	t2 := e.transfer(2, 9, 0, coin, 1000)
	e.mustAdd(t1)
	e.mustAdd(t2)
	// A block the pool never hears about (events dropped).
	fc.push(fc.build(t1), false)
	// Stale-state selection still yields a valid template.
	txs := e.pool.SelectForBlock(1 << 20)
	checkTemplate(t, e.state, txs)
	if len(txs) != 1 || txs[0] != t2 {
		t.Fatalf("stale template %v", txs)
	}
	// The next events reveal the gap; NewTip resyncs everything.
	fc.push(fc.build(), true)
	if e.pool.Has(t1.TxID()) || !e.pool.Has(t2.TxID()) {
		t.Fatal("resync after dropped events failed")
	}
	checkInvariants(t, e.pool, e.state)
	e.pool.resync()
	checkInvariants(t, e.pool, e.state)
}

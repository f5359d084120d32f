package mempool

import (
	"math/bits"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// cursor walks one sender's ready sequence during selection. The sort key
// of the current entry is copied in, so heap comparisons touch no pointers.
type cursor struct {
	fee, size, seq uint64 // key of s.txs[i]
	s              *sender
	i              int    // next index in s.txs
	checked        bool   // next/avail read from the current state (stale mode)
	next           uint64 // expected nonce (stale mode)
	avail          uint64 // balance left (stale mode)
}

// load copies the key of the cursor's current entry.
func (c *cursor) load() {
	e := c.s.txs[c.i]
	c.fee, c.size, c.seq = e.fee, uint64(e.size), e.seq
}

// selectHeap is a max-heap of cursors by the fee rate of their next
// transaction; ties go to the earlier arrival.
type selectHeap []cursor

func (h selectHeap) less(i, j int) bool {
	a, b := &h[i], &h[j]
	ah, al := bits.Mul64(a.fee, b.size)
	bh, bl := bits.Mul64(b.fee, a.size)
	if ah != bh {
		return ah > bh
	}
	if al != bl {
		return al > bl
	}
	return a.seq < b.seq
}

func (h selectHeap) down(i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}

func (h *selectHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	old[n] = cursor{}
	*h = old[:n]
	h.down(0)
}

// SelectForBlock returns ready transactions for a block template, highest
// fee rate first, each sender's transactions in nonce order (a transaction
// only after its predecessors), at most maxBytes serialized bytes in total
// (the caller subtracts the header, the transaction count and the coinbase
// from the block size limit). When a sender's next transaction does not fit,
// the rest of that sender's sequence is skipped and smaller transactions of
// others may still fill the space. It takes O(n log s) for n selected
// transactions of s senders.
//
// The result applies in order on top of the state the pool last processed
// (Tip). If the chain has moved past it (a block whose events the pool has
// not yet seen), every selected sender is re-checked against the current
// state, so the template stays valid. The pool is not modified. Safe for
// concurrent use.
func (p *Pool) SelectForBlock(maxBytes int) []*chain.Tx {
	start := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	defer func() { p.met.selectSeconds.Observe(time.Since(start).Seconds()) }()
	stale := p.cfg.State.Best().Hash != p.tip.Hash

	h := make(selectHeap, 0, len(p.senders))
	readyTotal := 0
	for _, s := range p.evict { // every sender, in a dense slice
		if s.ready > 0 {
			h = append(h, cursor{s: s})
			h[len(h)-1].load()
			readyTotal += s.ready
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
	out := make([]*chain.Tx, 0, min(readyTotal, max(maxBytes, 0)/p.minTxSize+1))
	remaining := maxBytes
	for len(h) > 0 && remaining >= p.minTxSize {
		c := &h[0]
		e := c.s.txs[c.i]
		ok := e.size <= remaining
		if ok && stale {
			if !c.checked {
				acct := p.cfg.State.Account(c.s.addr)
				c.checked, c.next, c.avail = true, acct.Nonce, acct.Balance
			}
			ok = e.tx.Nonce == c.next && e.spend <= c.avail
		}
		if !ok {
			h.pop()
			continue
		}
		out = append(out, e.tx)
		remaining -= e.size
		c.i++
		if stale {
			c.next++
			c.avail -= e.spend
		}
		if c.i >= c.s.ready {
			h.pop()
		} else {
			c.load()
			h.down(0)
		}
	}
	return out
}

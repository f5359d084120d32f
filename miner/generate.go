package miner

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/quarrychain/quarry/chain"
)

// GenerateBlocks mines n blocks paying payTo, one after the other on the
// current tip, with the kernel on every configured thread (RPC
// generatetoaddress on regtest and dev). It is GenerateBlocksMaxTries
// without a tries limit.
func (m *Miner) GenerateBlocks(ctx context.Context, n int, payTo chain.Address) ([]chain.Hash, error) {
	return m.GenerateBlocksMaxTries(ctx, n, payTo, 0)
}

// GenerateBlocksMaxTries mines up to n blocks paying payTo. Each block is
// submitted, and must have become the tip, before the next template is
// built; if the tip moves during a search (a peer's block), the search
// restarts on the new tip. maxTries > 0 bounds the nonces tried over all
// blocks (Bitcoin Core's maxtries): once spent it returns the blocks mined
// so far and a nil error. Otherwise it returns the hashes mined so far with
// ctx.Err() when ctx ends first, or an error of kind ErrBlockRejected /
// ErrNotConnected. It works with or without Run and whether or not
// background mining is on, and is never paced by the hash-rate limit.
// Concurrent calls are serialised; safe for concurrent use.
func (m *Miner) GenerateBlocksMaxTries(ctx context.Context, n int, payTo chain.Address, maxTries uint64) ([]chain.Hash, error) {
	if n < 0 {
		return nil, newErr(ErrBadConfig, "block count %d is negative", n)
	}
	if payTo.IsZero() {
		return nil, newErr(ErrNoAddress, "generate needs an address to pay")
	}
	m.genMu.Lock()
	defer m.genMu.Unlock()
	m.mu.Lock()
	threads := m.nthreads
	m.ensureSlotsLocked(threads)
	slots := append([]*workerSlot(nil), m.slots[:threads]...)
	m.mu.Unlock()
	for len(m.genCounters) < threads {
		m.genCounters = append(m.genCounters, 0)
	}
	var budget *triesBudget
	if maxTries > 0 {
		budget = &triesBudget{}
		budget.left.Store(maxTries)
	}

	hashes := make([]chain.Hash, 0, n)
	for len(hashes) < n {
		if err := ctx.Err(); err != nil {
			return hashes, err
		}
		if budget != nil && budget.left.Load() == 0 {
			return hashes, nil
		}
		t, err := m.buildTemplate(m.now(), payTo)
		if err != nil {
			return hashes, err
		}
		blk := m.solve(ctx, t, slots, budget)
		if blk == nil {
			continue // the tip moved, ctx ended or the budget ran out: checked above
		}
		err = m.submit(blk)
		switch {
		case errors.Is(err, errStale):
			continue
		case err != nil:
			return hashes, err
		}
		if m.cfg.Chain.Best().Hash == t.PrevHash {
			return hashes, newErr(ErrNotConnected, "block %s was accepted but the tip is still its parent", blk.Hash())
		}
		hashes = append(hashes, blk.Hash())
	}
	return hashes, nil
}

// triesBudget is the nonces GenerateBlocksMaxTries may still try, shared by
// its threads; taken a batch at a time, the unused part of a batch is
// given back.
type triesBudget struct{ left atomic.Uint64 }

// take reserves up to n tries and returns how many it got (0: spent).
func (b *triesBudget) take(n uint64) uint64 {
	for {
		left := b.left.Load()
		got := min(left, n)
		if got == 0 || b.left.CompareAndSwap(left, left-got) {
			return got
		}
	}
}

func (b *triesBudget) giveBack(n uint64) { b.left.Add(n) }

// solve searches t on len(slots) goroutines and returns the first verified
// block, or nil when ctx ends, the budget (nil: none) is spent or the tip
// moves away from t's parent.
func (m *Miner) solve(ctx context.Context, t *Template, slots []*workerSlot, budget *triesBudget) *chain.Block {
	var (
		stop  atomic.Bool
		found atomic.Pointer[chain.Block]
		wg    sync.WaitGroup
	)
	defer context.AfterFunc(ctx, func() { stop.Store(true) })()
	batch := uint64(m.cfg.BatchSize)
	for i, slot := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := lane{id: genLaneBase | uint16(i), salt: m.salt, counter: &m.genCounters[i], space: m.nonceSpace, onPrepare: m.onPrepare}
			l.adopt(t, m.now())
			for !stop.Load() {
				if m.cfg.Chain.Best().Hash != t.PrevHash {
					stop.Store(true)
					return
				}
				n := batch
				if budget != nil {
					if n = budget.take(batch); n == 0 {
						stop.Store(true)
						return
					}
				}
				nonce, ok, tried := l.search(m.cfg.Kernel, n)
				slot.hashes.Add(tried)
				if budget != nil && tried < n {
					budget.giveBack(n - tried)
				}
				if ok {
					blk, err := l.block(nonce)
					if err != nil {
						m.kernelFaults.Add(1)
						m.log.Error("kernel reported a false solution", "kernel", m.cfg.Kernel.Name(), "err", err)
					} else if stop.CompareAndSwap(false, true) {
						found.Store(blk)
						return
					}
				}
				if l.exhausted() {
					l.bump(m.now())
				}
				runtime.Gosched() // see worker
			}
		}()
	}
	wg.Wait()
	return found.Load()
}

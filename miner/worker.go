package miner

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// worker is the loop of background worker id. Per batch it does one
// atomic load (the work generation), one kernel call and one atomic add to
// its own padded counter; everything else happens only when the generation
// changes, a nonce space is exhausted or a block is found.
func (m *Miner) worker(ctx context.Context, wg *sync.WaitGroup, id int) {
	defer wg.Done()
	lowerThreadPriority()
	m.mu.Lock()
	slot := m.slots[id]
	m.mu.Unlock()
	l := lane{id: uint16(id), salt: m.salt, counter: &slot.counter, space: m.nonceSpace, onPrepare: m.onPrepare}
	var (
		unit     *workUnit
		acked    *tipSwitch // last tip switch this worker reported
		seen     uint64
		synced   bool
		hashed   bool   // a batch ran on unit
		reserved uint64 // paced: nonces reserved, not yet hashed
		readyAt  time.Time
		timer    *time.Timer
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if g := m.gen.Load(); !synced || g != seen {
			synced, seen = true, g
			if (ctx.Err() != nil || id >= int(m.threads.Load())) && m.retire(ctx, id) {
				return
			}
			if u := m.work.Load(); u != unit {
				if hashed && unit != nil && u != nil && u.tmpl.PrevHash != unit.tmpl.PrevHash {
					// The batch that straddled the switch hashed an old tip.
					m.staleBatches.Add(1)
				}
				unit, hashed = u, false
				if u != nil {
					l.adopt(u.tmpl, m.now())
					if u.sw != nil && u.sw != acked {
						acked = u.sw
						m.ack(u.sw)
					}
				}
			}
			slot.gen.Store(g)
		}
		if unit == nil {
			m.waitWork(ctx, seen)
			continue
		}
		n := m.batch
		if m.pacer != nil {
			if reserved == 0 {
				reserved, readyAt = n, m.pacer.reserve(n, m.now())
			}
			if d := readyAt.Sub(m.now()); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				if !m.pause(ctx, seen, timer) {
					continue // new work or stop: resynchronise, keep the reservation
				}
			}
			n, reserved = reserved, 0
		}
		nonce, found, tried := l.search(m.cfg.Kernel, n)
		slot.hashes.Add(tried)
		hashed = true
		if found {
			m.solution(&l, id, nonce)
		}
		if l.exhausted() {
			l.bump(m.now())
		}
		// A scheduling point per batch (~0.1 µs every few ms): timers,
		// network and RPC goroutines never wait for the 10 ms async
		// preemption while every core mines.
		runtime.Gosched()
	}
}

// retire lets worker id exit if it is surplus or the miner stops; it
// returns false when the thread count grew back in the meantime.
func (m *Miner) retire(ctx context.Context, id int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ctx.Err() == nil && id < int(m.threads.Load()) {
		return false
	}
	m.alive[id] = false
	return true
}

// waitWork parks a worker without work until the generation moves past seen.
func (m *Miner) waitWork(ctx context.Context, seen uint64) {
	ch := m.wake()
	if m.gen.Load() != seen {
		return
	}
	select {
	case <-ctx.Done():
	case <-ch:
	}
}

// pause waits for a paced batch's start; it returns false early when the
// generation moves past seen or ctx ends.
func (m *Miner) pause(ctx context.Context, seen uint64, t *time.Timer) bool {
	ch := m.wake()
	if m.gen.Load() != seen {
		t.Stop()
		return false
	}
	select {
	case <-t.C:
		return true
	case <-ch:
	case <-ctx.Done():
	}
	t.Stop()
	return false
}

// solution verifies and submits a kernel hit of lane l.
func (m *Miner) solution(l *lane, worker int, nonce uint32) {
	blk, err := l.block(nonce)
	if err != nil {
		m.kernelFaults.Add(1)
		m.log.Error("kernel reported a false solution", "kernel", m.cfg.Kernel.Name(), "worker", worker, "err", err)
		return
	}
	err = m.submit(blk)
	switch {
	case errors.Is(err, errStale):
	case err != nil:
		m.log.Warn("mined block rejected", "height", l.tmpl.Height, "hash", blk.Hash(), "worker", worker, "err", err)
	default:
		m.log.Debug("mined block", "height", l.tmpl.Height, "hash", blk.Hash(), "txs", len(blk.Txs), "worker", worker)
	}
}

// submit hands blk to the Submitter unless its parent is no longer the tip
// (errStale, counted as stale work). Submissions are serialised, so two
// workers solving the same tip submit one block. Afterwards the template is
// rebuilt at once: the miner never waits for gossip to learn its own tip.
func (m *Miner) submit(blk *chain.Block) error {
	m.submitMu.Lock()
	defer m.submitMu.Unlock()
	parent := blk.Header.PrevBlock
	if m.cfg.Chain.Best().Hash != parent {
		m.staleSolutions.Add(1)
		return errStale
	}
	err := m.cfg.Submitter.SubmitBlock(blk)
	m.TipChanged()
	if err != nil {
		m.blocksRejected.Add(1)
		if len(blk.Txs) > 1 && !errors.Is(err, chain.ErrTimeTooNew) && !errors.Is(err, chain.ErrDuplicateBlock) {
			// A transaction made the block invalid: mine coinbase-only
			// blocks on this parent rather than repeating the mistake.
			m.mu.Lock()
			m.emptyTip, m.emptyOn = parent, true
			m.mu.Unlock()
		}
		return wrapErr(ErrBlockRejected, err, "block %s at height %d", blk.Hash(), blk.Txs[0].Height)
	}
	m.blocksFound.Add(1)
	return nil
}

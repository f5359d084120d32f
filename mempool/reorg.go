package mempool

import (
	"bytes"
	"slices"

	"github.com/quarrychain/quarry/chain"
)

// HandleEvent feeds one chain event to the pool; node calls it for every
// event of a chain.Subscription, in order, from one goroutine, and should
// let the pool see an event before the miner rebuilds its template.
//
// Connected blocks that simply extend the chain are applied at once.
// Disconnected blocks, and the blocks connected after them, are buffered
// until EventNewTip and then applied together as one reorganisation.
// EventNewTip also records the tip and expires old entries. Lost events
// (a full subscription buffer) are detected by a gap in Seq or by a block
// that does not continue from the previous one; the pool then revalidates
// every sender at the next EventNewTip (the transactions of a missed
// disconnected block are not put back). HandleEvent is the only way to tell
// the pool about the chain. Safe for concurrent use.
func (p *Pool) HandleEvent(ev chain.Event) {
	p.mu.Lock()
	if p.lastEventSeq != 0 && ev.Seq != 0 && ev.Seq != p.lastEventSeq+1 {
		p.needResync = true
		p.log.Warn("chain events were dropped; the pool will revalidate all senders",
			"last_seq", p.lastEventSeq, "seq", ev.Seq)
	}
	if ev.Seq != 0 {
		p.lastEventSeq = ev.Seq
	}
	switch ev.Kind {
	case chain.EventBlockDisconnected:
		if ev.Block != nil {
			p.followChain(ev.Block.Hash(), ev.Block.Header.PrevBlock)
			p.discBuf = append(p.discBuf, ev.Block)
		}
		p.mu.Unlock()
	case chain.EventBlockConnected:
		if ev.Block == nil {
			p.mu.Unlock()
			return
		}
		p.followChain(ev.Block.Header.PrevBlock, ev.Block.Hash())
		if len(p.discBuf) > 0 {
			p.connBuf = append(p.connBuf, ev.Block)
			p.mu.Unlock()
			return
		}
		p.blockConnectedLocked(ev.Block)
		p.mu.Unlock()
	case chain.EventNewTip:
		p.followChain(ev.Tip.Hash, ev.Tip.Hash)
		disc, conn := p.discBuf, p.connBuf
		p.discBuf, p.connBuf = nil, nil
		p.tip = ev.Tip
		if len(disc) > 0 {
			p.reorgLocked(disc, conn)
		}
		if p.needResync {
			p.needResync = false
			p.resyncAllLocked()
		}
		p.expireLocked(p.cfg.Now())
		p.updateGauges()
		p.mu.Unlock()
	default:
		p.mu.Unlock()
	}
}

// followChain checks that an event continues from the block the pool's
// view of the chain is at (from) and moves the view to to. A mismatch means
// events were lost: every sender is revalidated at the next EventNewTip.
func (p *Pool) followChain(from, to chain.Hash) {
	if from != p.evTip && !p.needResync {
		p.needResync = true
		p.log.Warn("chain events do not follow the pool's tip; the pool will revalidate all senders",
			"pool_tip", p.evTip, "event_from", from)
	}
	p.evTip = to
}

// blockConnected removes b's transactions from the pool and revalidates the
// senders b touched against the current state (dropping transactions whose
// nonce b used, or that the senders can no longer fund), then records the
// tip if b is it. It is the entry point of tests that drive the pool
// without events; it must not be mixed with HandleEvent, which keeps its
// own view of the chain (hence unexported). Safe for concurrent use.
func (p *Pool) blockConnected(b *chain.Block) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blockConnectedLocked(b)
	if best := p.cfg.State.Best(); best.Hash == b.Hash() {
		p.tip = best
	}
}

func (p *Pool) blockConnectedLocked(b *chain.Block) {
	touched := make(map[chain.Address]struct{})
	for _, tx := range b.Txs {
		if tx.IsCoinbase() {
			continue
		}
		if e := p.txs[tx.TxID()]; e != nil {
			if s := p.senders[e.from]; s != nil {
				p.detach(s)
				s.removeEntry(e)
			}
			p.unlink(e, ReasonIncluded)
		}
		touched[tx.From()] = struct{}{}
	}
	// Only senders can lose funds or nonces in a block that extends the
	// chain; recipients only gain.
	for _, a := range sortedAddrs(touched) {
		if s := p.senders[a]; s != nil {
			p.syncSender(s, p.cfg.State.Account(a))
			p.fixSender(s)
		}
	}
	p.updateGauges()
}

// reorgLocked applies a switch of the best chain: disconnected lists the
// blocks taken off the old branch (old tip first, as the chain emits them),
// connected the blocks of the new branch (lowest first); the chain state
// must already be that of the new tip. Transactions included in connected
// blocks leave the pool. Transfers of disconnected blocks that the new
// branch does not contain are put back (the oldest block's first, at most
// Config.MaxReorgReadd, without re-verifying signatures the chain already
// verified) and then every sender either branch touched (and every recipient
// of a disconnected block) is revalidated against the new state, so a
// transaction that conflicts with the new branch (its nonce is used there by
// another transaction: a double spend across a partition) is dropped and
// exactly the winning branch's transaction survives. HandleEvent calls it at
// EventNewTip; p.mu must be held.
func (p *Pool) reorgLocked(disconnected, connected []*chain.Block) {
	p.met.reorgs.Inc()
	// Only accounts the two branches touch can change: senders on either
	// side, and recipients of the disconnected blocks (who lose funds).
	// Recipients of connected blocks only gain. Those senders leave the
	// eviction heap while their transactions change and are revalidated
	// and put back at the end.
	touched := make(map[chain.Address]struct{})
	for _, b := range disconnected {
		for _, tx := range b.Txs {
			touched[tx.To] = struct{}{}
			if !tx.IsCoinbase() {
				touched[tx.From()] = struct{}{}
			}
		}
	}
	inNew := make(map[chain.Hash]struct{})
	for _, b := range connected {
		for _, tx := range b.Txs {
			if tx.IsCoinbase() {
				continue
			}
			touched[tx.From()] = struct{}{}
			inNew[tx.TxID()] = struct{}{}
		}
	}
	for a := range touched {
		if s := p.senders[a]; s != nil {
			p.detach(s)
		}
	}
	for _, b := range connected {
		for _, tx := range b.Txs {
			if tx.IsCoinbase() {
				continue
			}
			if e := p.txs[tx.TxID()]; e != nil {
				if s := p.senders[e.from]; s != nil {
					s.removeEntry(e)
				}
				p.unlink(e, ReasonIncluded)
			}
		}
	}
	now := p.cfg.Now()
	var readded []*entry
	budget := p.cfg.MaxReorgReadd
	for i := len(disconnected) - 1; i >= 0 && budget > 0; i-- {
		for _, tx := range disconnected[i].Txs {
			if budget == 0 {
				break
			}
			if tx.IsCoinbase() || tx.CheckSanity(p.cfg.Params) != nil {
				continue
			}
			id := tx.TxID()
			if _, ok := inNew[id]; ok {
				continue
			}
			if _, ok := p.txs[id]; ok {
				continue
			}
			budget--
			e := newEntry(tx, id, tx.SerializeSize())
			s := p.senders[e.from]
			if s == nil {
				s = &sender{addr: e.from, hidx: -1}
				p.senders[e.from] = s
			}
			idx, found := s.find(tx.Nonce)
			if found {
				// A pending transaction already uses this nonce: keep the
				// one paying the higher fee rate (the pending one on a tie).
				old := s.txs[idx]
				if !rateLess(old, e) {
					continue
				}
				s.txs[idx] = e
				p.unlink(old, ReasonReplaced)
			} else {
				s.insertAt(idx, e)
			}
			p.link(e, now)
			readded = append(readded, e)
		}
	}
	// Revalidate the touched senders against the new tip: a transaction
	// whose nonce the new branch used (a double spend across a partition)
	// or whose funds it removed goes.
	for _, a := range sortedAddrs(touched) {
		if s := p.senders[a]; s != nil {
			p.syncSender(s, p.cfg.State.Account(a))
			p.fixSender(s)
		}
	}
	for _, e := range readded {
		if p.txs[e.id] != e {
			continue // dropped by the revalidation (conflicts with the new branch)
		}
		p.met.readded.Inc()
		s := p.senders[e.from]
		p.notify(Event{Kind: EventAdded, ID: e.id, Tx: e.tx, Queued: s == nil || !s.isReady(e)})
	}
	_ = p.trimLocked(nil, false)
	p.updateGauges()
	p.log.Info("mempool processed reorg", "disconnected", len(disconnected), "connected", len(connected),
		"readded", len(readded), "pending", len(p.txs))
}

// resync revalidates every pending transaction against the current state
// and records the tip. Only tests call it: HandleEvent does the same by
// itself (resyncAllLocked) at the EventNewTip after it noticed lost events.
// Safe for concurrent use.
func (p *Pool) resync() {
	p.mu.Lock()
	defer p.mu.Unlock()
	best := p.cfg.State.Best()
	p.resyncAllLocked()
	p.tip = best
	p.updateGauges()
}

// sortedAddrs returns the keys of m in byte order (deterministic processing).
func sortedAddrs(m map[chain.Address]struct{}) []chain.Address {
	out := make([]chain.Address, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b chain.Address) int { return bytes.Compare(a[:], b[:]) })
	return out
}

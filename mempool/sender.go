package mempool

import (
	"sort"

	"github.com/quarrychain/quarry/chain"
)

// sender is the pending state of one account: its transactions sorted by
// nonce (unique nonces), of which the first ready form the contiguous
// sequence starting at the account's next nonce; the rest are queued behind
// a nonce gap.
type sender struct {
	addr  chain.Address
	acct  chain.Account // state at the last sync
	txs   []*entry
	ready int
	spend uint64 // sum of amount+fee over txs; <= acct.Balance after a sync
	hidx  int    // index in the eviction heap, -1 when not in it
}

// find returns the index of nonce in s.txs, or where it would be inserted.
func (s *sender) find(nonce uint64) (int, bool) {
	i := sort.Search(len(s.txs), func(i int) bool { return s.txs[i].tx.Nonce >= nonce })
	return i, i < len(s.txs) && s.txs[i].tx.Nonce == nonce
}

// insertAt inserts e at index i.
func (s *sender) insertAt(i int, e *entry) {
	s.txs = append(s.txs, nil)
	copy(s.txs[i+1:], s.txs[i:])
	s.txs[i] = e
}

// removeEntry deletes e from s.txs (not from the pool index).
func (s *sender) removeEntry(e *entry) {
	i, ok := s.find(e.tx.Nonce)
	if !ok || s.txs[i] != e {
		return
	}
	copy(s.txs[i:], s.txs[i+1:])
	s.txs[len(s.txs)-1] = nil
	s.txs = s.txs[:len(s.txs)-1]
}

// nextNonce returns the nonce after the ready sequence.
func (s *sender) nextNonce() uint64 { return s.acct.Nonce + uint64(s.ready) }

// isReady reports whether e belongs to the sender's ready sequence.
func (s *sender) isReady(e *entry) bool {
	n := e.tx.Nonce
	return n >= s.acct.Nonce && n-s.acct.Nonce < uint64(s.ready)
}

// last returns the highest-nonce entry (the only evictable one).
func (s *sender) last() *entry { return s.txs[len(s.txs)-1] }

// syncSender revalidates a sender's pending transactions against acct (the
// chain state) and recomputes its ready sequence. In nonce order it drops:
// nonces the account has used (ReasonConflict: mined, by this or another
// transaction); from the first transaction the balance no longer covers,
// that one and every later one (ReasonUnfunded); queued transactions outside
// the nonce window [next, next+MaxNonceGap] (ReasonGapped); and whatever
// exceeds MaxPerSender (ReasonEvicted). What remains would apply in order
// on top of acct. The caller must call fixSender afterwards.
func (p *Pool) syncSender(s *sender, acct chain.Account) {
	s.acct = acct
	kept := s.txs[:0]
	var spend uint64
	next := acct.Nonce
	ready := 0
	gapped := false
	var cut RemoveReason
	for _, e := range s.txs {
		n := e.tx.Nonce
		if n < acct.Nonce {
			p.unlink(e, ReasonConflict)
			continue
		}
		if cut != "" {
			p.unlink(e, cut)
			continue
		}
		if !gapped && n != next {
			gapped = true
		}
		if gapped && n-next > uint64(p.cfg.MaxNonceGap) {
			cut = ReasonGapped
			p.unlink(e, cut)
			continue
		}
		total := spend + e.spend
		if total < spend || total > acct.Balance {
			cut = ReasonUnfunded
			p.unlink(e, cut)
			continue
		}
		if len(kept) >= p.cfg.MaxPerSender {
			cut = ReasonEvicted
			p.unlink(e, cut)
			continue
		}
		spend = total
		kept = append(kept, e)
		if !gapped {
			ready++
			next++
		}
	}
	clear(s.txs[len(kept):])
	s.txs = kept
	s.ready = ready
	s.spend = spend
}

// fixSender updates the sender's place in the index and eviction heap after
// its transactions changed, forgetting it once it has none.
func (p *Pool) fixSender(s *sender) {
	if len(s.txs) == 0 {
		if s.hidx >= 0 {
			p.evict.remove(s.hidx)
		}
		if p.senders[s.addr] == s {
			delete(p.senders, s.addr)
		}
		return
	}
	p.senders[s.addr] = s
	if s.hidx < 0 {
		p.evict.push(s)
	} else {
		p.evict.fix(s.hidx)
	}
}

// detach takes s out of the eviction heap before its transactions change
// in ways that are fixed up later (fixSender puts it back).
func (p *Pool) detach(s *sender) {
	if s.hidx >= 0 {
		p.evict.remove(s.hidx)
	}
}

// resyncAllLocked revalidates every sender against the current state and
// rebuilds the eviction heap.
func (p *Pool) resyncAllLocked() {
	for _, s := range p.evict {
		s.hidx = -1
	}
	clear(p.evict)
	p.evict = p.evict[:0]
	for _, s := range p.sortedSenders() {
		p.syncSender(s, p.cfg.State.Account(s.addr))
		p.fixSender(s)
	}
}

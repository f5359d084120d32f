package mempool

import "time"

// evictHeap orders senders by how evictable their highest-nonce transaction
// is (the only one that can go without breaking the sender's sequence):
// queued transactions before ready ones, then the lowest fee rate, then the
// newest arrival. The minimum is the next victim.
type evictHeap []*sender

// evictLess reports whether a's last transaction goes before b's.
func evictLess(a, b *sender) bool {
	aq, bq := a.ready < len(a.txs), b.ready < len(b.txs)
	if aq != bq {
		return aq
	}
	la, lb := a.last(), b.last()
	if c := rateCmp(la.fee, la.size, lb.fee, lb.size); c != 0 {
		return c < 0
	}
	return la.seq > lb.seq
}

func (h *evictHeap) min() *sender {
	if len(*h) == 0 {
		return nil
	}
	return (*h)[0]
}

func (h *evictHeap) push(s *sender) {
	s.hidx = len(*h)
	*h = append(*h, s)
	h.up(s.hidx)
}

func (h *evictHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	old[i].hidx = -1
	if i != n {
		old[i] = old[n]
		old[i].hidx = i
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		h.fix(i)
	}
}

func (h *evictHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h evictHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx = i
	h[j].hidx = j
}

func (h evictHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !evictLess(h[j], h[i]) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h evictHeap) down(i0 int) bool {
	i, n := i0, len(h)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && evictLess(h[r], h[l]) {
			j = r
		}
		if !evictLess(h[j], h[i]) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// trimLocked evicts until the pool is within MaxCount and MaxBytes, taking
// the evict heap's minimum each time. If the victim is the just-added entry
// fresh, it is removed without a removal event and ErrPoolFull is returned.
// A replacement (replaced=true) is never evicted by its own admission: the
// pool may then exceed MaxBytes by the size difference until the next trim.
func (p *Pool) trimLocked(fresh *entry, replaced bool) error {
	for len(p.txs) > p.cfg.MaxCount || p.bytes > p.cfg.MaxBytes {
		s := p.evict.min()
		if s == nil {
			return nil
		}
		v := s.last()
		if v == fresh && replaced {
			return nil
		}
		s.txs[len(s.txs)-1] = nil
		s.txs = s.txs[:len(s.txs)-1]
		s.ready = min(s.ready, len(s.txs))
		s.spend -= v.spend
		if v == fresh {
			p.unlinkQuiet(v)
			p.fixSender(s)
			return rejectf(ErrPoolFull, "the mempool is full (%d transactions, %d bytes) and the fee rate %.3f/byte is the lowest; raise the fee",
				len(p.txs), p.bytes, feeRate(v.tx.Fee, v.size))
		}
		p.unlink(v, ReasonEvicted)
		p.fixSender(s)
		p.log.Debug("transaction evicted", "txid", v.id, "fee_rate", feeRate(v.tx.Fee, v.size))
	}
	return nil
}

// Expire removes transactions that have been pending for Config.Expiry or
// longer at now; later transactions of the same sender stay (queued behind
// the gap, or dropped if outside the nonce window). It returns how many
// transactions were removed. Add and HandleEvent(EventNewTip) call it too.
// Safe for concurrent use.
func (p *Pool) Expire(now time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	before := len(p.txs)
	p.expireLocked(now)
	p.updateGauges()
	return before - len(p.txs)
}

func (p *Pool) expireLocked(now time.Time) {
	for p.head != nil && now.Sub(p.head.added) >= p.cfg.Expiry {
		e := p.head
		s := p.senders[e.from]
		p.unlink(e, ReasonExpired)
		if s != nil {
			s.removeEntry(e)
			p.syncSender(s, s.acct)
			p.fixSender(s)
		}
	}
}

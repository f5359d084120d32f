package chain

import "time"

// orphanPool keeps blocks whose parent is unknown, bounded in count and age,
// until the parent arrives. Guarded by Chain.mu.
type orphanPool struct {
	max      int
	ttl      time.Duration
	byHash   map[Hash]*orphan
	byParent map[Hash][]*orphan
}

type orphan struct {
	block   *Block
	hash    Hash
	expires time.Time
}

func newOrphanPool(max int, ttl time.Duration) *orphanPool {
	return &orphanPool{max: max, ttl: ttl, byHash: make(map[Hash]*orphan), byParent: make(map[Hash][]*orphan)}
}

func (p *orphanPool) has(h Hash) bool { _, ok := p.byHash[h]; return ok }

func (p *orphanPool) add(b *Block, h Hash, now time.Time) {
	if p.has(h) || p.max <= 0 {
		return
	}
	p.expire(now)
	for len(p.byHash) >= p.max {
		// Evict the one closest to expiry (the oldest).
		var oldest *orphan
		for _, o := range p.byHash {
			if oldest == nil || o.expires.Before(oldest.expires) {
				oldest = o
			}
		}
		p.remove(oldest)
	}
	o := &orphan{block: b, hash: h, expires: now.Add(p.ttl)}
	p.byHash[h] = o
	parent := b.Header.PrevBlock
	p.byParent[parent] = append(p.byParent[parent], o)
}

func (p *orphanPool) remove(o *orphan) {
	delete(p.byHash, o.hash)
	parent := o.block.Header.PrevBlock
	list := p.byParent[parent]
	for i, x := range list {
		if x == o {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(p.byParent, parent)
	} else {
		p.byParent[parent] = list
	}
}

func (p *orphanPool) expire(now time.Time) {
	for _, o := range p.byHash {
		if now.After(o.expires) {
			p.remove(o)
		}
	}
}

// takeChildren removes and returns the orphans whose parent is h.
func (p *orphanPool) takeChildren(h Hash) []*Block {
	list := p.byParent[h]
	out := make([]*Block, 0, len(list))
	for _, o := range append([]*orphan(nil), list...) {
		p.remove(o)
		out = append(out, o.block)
	}
	return out
}

func (p *orphanPool) len() int { return len(p.byHash) }

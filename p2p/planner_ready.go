package p2p

import (
	"cmp"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// Ready returns what to do next, as of now, and assumes it is done: the
// requests are in flight from now, the blocks in Connect are being handed
// to the chain, the penalised peers are being dropped. Calling Ready again
// without new input returns only what time alone changed (stalls).
func (p *Planner) Ready(now time.Time) Ready {
	var r Ready
	p.Now(now)
	p.refreshPath()
	for _, n := range p.path {
		if n.have {
			continue
		}
		if !p.received[n.hash] {
			break
		}
		r.Connect = append(r.Connect, n.hash)
		n.have = true // until BlockProcessed says otherwise
		delete(p.received, n.hash)
		p.connecting[n.hash] = true
	}
	p.trimPath()

	peers := p.sortedPeers()
	for _, pp := range peers {
		if pp.gone || pp.hdrBusy || pp.hdrDone || pp.next == nil && !pp.force && !p.wantHeaders(pp) {
			continue
		}
		from := p.best.hash
		if pp.next != nil {
			from = pp.next.hash
		}
		pp.hdrBusy, pp.askedClaim = true, pp.claimed
		r.Headers = append(r.Headers, HeaderRequest{Peer: pp.id, From: from})
	}

	p.assignBlocks(now, peers, &r)
	p.findLosers(now, peers)

	r.Penalties, p.pen = append(r.Penalties, p.pen...), nil
	r.Done = r.Empty() && len(p.path) == 0 && len(p.connecting) == 0 && !p.headersBusy()
	return r
}

// wantHeaders reports whether pp's claim is worth a headers request: it
// claims more work than the best header, or, while blocks of the best
// header chain are missing, as much work as the best header without its
// own headers showing it, so that it becomes a source of those blocks
// (else a first peer that serves headers and stalls on blocks would be the
// only source).
func (p *Planner) wantHeaders(pp *planPeer) bool {
	if c := pp.claimed.Cmp(p.best.work); c != 0 {
		return c > 0
	}
	return len(p.path) > 0 && (pp.best == nil || pp.best.work.Cmp(p.best.work) < 0)
}

// assignBlocks hands window blocks to peers with room and detects the peer
// that holds the window up.
func (p *Planner) assignBlocks(now time.Time, peers []*planPeer, r *Ready) {
	if len(p.path) == 0 {
		p.blocked = time.Time{}
		return
	}
	// The window starts at the lowest block not handed to the chain and
	// shrinks by the blocks handed over and still being connected.
	limit := p.path[0].height + uint64(max(p.cfg.Window-len(p.connecting), 1)) // first height beyond the window
	windowFull := false
	for _, pp := range peers {
		room := p.room(pp)
		if pp.gone || pp.lagging || room <= 0 {
			continue
		}
		common := p.commonHeight(pp)
		var hs []chain.Hash
		for _, n := range p.path {
			if len(hs) == room || n.height > common {
				break
			}
			if n.height >= limit {
				windowFull = true // it has blocks we may not ask for yet
				break
			}
			if n.have || p.received[n.hash] || pp.notFound[n.hash] {
				continue
			}
			if _, taken := p.assigned[n.hash]; taken {
				continue
			}
			hs = append(hs, n.hash)
		}
		for _, h := range hs {
			pp.inflight[h] = now
			p.assigned[h] = pp.id
		}
		p.request(r, pp.id, hs)
	}
	first := p.path[0]
	holder, inFlight := p.assigned[first.hash]
	if !inFlight {
		p.blocked = time.Time{}
		return
	}
	// Blocks connect in order: once the first one has been in flight for
	// RaceAfter, what its holder has not delivered is also asked from
	// peers with room (a hedged request).
	hp := p.peers[holder]
	if now.Sub(hp.inflight[first.hash]) >= p.raceAfter() {
		p.race(now, peers, hp, r)
	}
	// The window is stuck if a peer with room could only be given blocks
	// beyond it while its first block is still in flight.
	if !windowFull {
		p.blocked = time.Time{}
		return
	}
	if p.blocked.IsZero() {
		p.blocked = now
	}
	since := p.blocked
	if sent := hp.inflight[first.hash]; sent.After(since) {
		since = sent
	}
	if now.Sub(since) < p.stall {
		return
	}
	p.penalise(hp, reasonStall, penaltyStall, newErr(ErrTimeout, "peer held the download window's first block %s for %s", first.hash, now.Sub(since)))
	p.stall = min(2*p.stall, p.cfg.StallMax)
	p.blocked = time.Time{}
	r.Penalties = append(r.Penalties, p.pen...)
	p.pen = nil
	p.assignBlocks(now, peers, r) // its blocks go to the others now
}

// race asks other peers with room for the blocks the window's holder has
// not delivered yet, each block once, so that the window moves again after
// RaceAfter instead of waiting out the stall timeout; the holder keeps its
// assignment until it delivers or is disconnected.
func (p *Planner) race(now time.Time, peers []*planPeer, holder *planPeer, r *Ready) {
	var held []*hnode
	for _, n := range p.path {
		if _, ok := holder.inflight[n.hash]; ok && !n.have && !p.received[n.hash] && !p.raced[n.hash] {
			held = append(held, n)
		}
	}
	for _, pp := range peers {
		room := p.room(pp)
		if pp == holder || pp.gone || pp.lagging || room <= 0 || len(held) == 0 {
			continue
		}
		common := p.commonHeight(pp)
		var hs []chain.Hash
		rest := held[:0:0]
		for _, n := range held {
			if len(hs) < room && n.height <= common && !pp.notFound[n.hash] {
				hs = append(hs, n.hash)
				pp.inflight[n.hash] = now
				p.raced[n.hash] = true
				continue
			}
			rest = append(rest, n)
		}
		held = rest
		p.request(r, pp.id, hs)
	}
}

// findLosers disconnects a peer that still has not delivered, a stall
// timeout after it was asked, a block that another peer delivered since
// (the block was raced because this one held the window up).
func (p *Planner) findLosers(now time.Time, peers []*planPeer) {
	for _, pp := range peers {
		if pp.gone {
			continue
		}
		for h, sent := range pp.inflight {
			if now.Sub(sent) < p.stall {
				continue // the common case, decided without a lookup
			}
			if n := p.nodes[h]; n == nil || !(n.have || p.received[h]) {
				continue
			}
			p.penalise(pp, reasonStall, penaltyStall, newErr(ErrTimeout, "peer did not deliver block %s in %s; another peer did", h, now.Sub(sent)))
			p.stall = min(2*p.stall, p.cfg.StallMax)
			break
		}
	}
}

// room returns how many more blocks pp may have in flight: PerPeer, or
// two requests' worth until it has delivered a block (two, not one, so
// that the second reply arrives while the first connects).
func (p *Planner) room(pp *planPeer) int {
	if !pp.delivered {
		return min(2*p.cfg.PerRequest, p.cfg.PerPeer) - len(pp.inflight)
	}
	return p.cfg.PerPeer - len(pp.inflight)
}

// request adds requests for hs to id, PerRequest hashes each.
func (p *Planner) request(r *Ready, id peer.ID, hs []chain.Hash) {
	for len(hs) > 0 {
		k := min(len(hs), p.cfg.PerRequest)
		r.Blocks = append(r.Blocks, BlockRequest{Peer: id, Hashes: hs[:k:k]})
		hs = hs[k:]
	}
}

// StallTimeout returns the current adaptive stall timeout.
func (p *Planner) StallTimeout() time.Duration { return p.stall }

func (p *Planner) headersBusy() bool {
	for _, pp := range p.peers {
		if pp.hdrBusy {
			return true
		}
	}
	return false
}

func (p *Planner) sortedPeers() []*planPeer {
	out := make([]*planPeer, 0, len(p.peers))
	for _, pp := range p.peers {
		out = append(out, pp)
	}
	slices.SortFunc(out, func(a, b *planPeer) int { return cmp.Compare(a.id, b.id) })
	return out
}

// refreshPath recomputes the missing blocks of the best chain after the
// best header changed, marking them with a new epoch.
func (p *Planner) refreshPath() {
	if !p.dirty {
		p.trimPath()
		return
	}
	p.dirty = false
	p.epoch++
	p.path = p.path[:0]
	for it := p.best; it != nil && !it.have; it = it.parent {
		it.bestMark = p.epoch
		p.path = append(p.path, it)
	}
	slices.Reverse(p.path)
}

func (p *Planner) trimPath() {
	i := 0
	for i < len(p.path) && p.path[i].have {
		i++
	}
	p.path = p.path[i:]
}

// commonHeight returns the height up to which pp's best header lies on the
// best chain (blocks of the path at or below it are ones pp has).
func (p *Planner) commonHeight(pp *planPeer) uint64 {
	if pp.best == nil {
		return 0
	}
	if pp.commonEpoch == p.epoch && pp.commonEpoch != 0 {
		return pp.common
	}
	var common uint64
	for it := pp.best; it != nil; it = it.parent {
		if it.bestMark == p.epoch || it.have {
			common = it.height
			break
		}
	}
	pp.common, pp.commonEpoch = common, p.epoch
	return common
}

// Assigned reports which peer a block is in flight with (for tests and
// PeerInfo).
func (p *Planner) Assigned(h chain.Hash) (peer.ID, bool) {
	id, ok := p.assigned[h]
	return id, ok
}

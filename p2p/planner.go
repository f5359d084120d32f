package p2p

import (
	"math/big"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// The sync planner decides what headers-first sync does next; it performs
// no I/O, starts no goroutines and never reads a clock. Its caller (the I/O
// loop) feeds it what happened — peers coming and going, their status
// claims, the headers the chain validated, blocks received or not, and the
// time — and asks Ready for the actions that follow: request headers from a
// peer, fetch blocks from a peer, hand received blocks to the chain in
// order, penalise or disconnect a peer. This is the shape of etcd-io/raft's
// Ready: the planner is a deterministic state machine that tests drive with
// simulated peers.
//
// Policy (Bitcoin Core's, adapted to request/response streams):
//
//   - Headers are asked from every peer that claims more work than the best
//     header (or, while blocks are missing, as much without its headers
//     showing it: it becomes a block source), one request in flight per
//     peer, starting after the best header. The best header is chosen among validated headers only: a
//     peer's claim decides whom we ask, never what we download.
//   - A peer whose headers end (a reply shorter than the maximum) with less
//     work than its status claimed lied: penalised and disconnected. A peer
//     that sends headers the chain rejects is penalised and disconnected.
//   - Blocks of the best header chain are fetched in a window of
//     Window blocks above the last block we have, at most PerPeer in flight
//     per peer, each from a peer whose validated headers include it. A peer
//     that has not delivered a block yet gets two requests (2×PerRequest
//     blocks) until it does, so that a peer that never delivers holds up
//     only that many; a peer that another peer beat to a raced block gets
//     nothing new until it delivers again.
//   - When the window cannot move (no peer can be given a block) and its
//     first block is in flight with one peer for longer than the stall
//     timeout, that peer is disconnected and its blocks go to others. The
//     timeout starts at StallMin and doubles on each such disconnection up
//     to StallMax; each block delivered shrinks it back by 15%. Before
//     that, once the window's first block has been in flight for
//     RaceAfter, its holder's undelivered blocks are also asked from other
//     peers with room, so the window moves on; a peer that has still not
//     delivered a block, a stall timeout after it was asked, when another
//     peer already did, is disconnected the same way.
//   - A request that times out costs the peer (stall), as does a block the
//     chain finds invalid (invalid).

// PlannerConfig tunes a Planner. Zero values select the defaults.
type PlannerConfig struct {
	Window  int // blocks ahead of the last stored one (1,024)
	PerPeer int // blocks in flight per peer (16)
	// PerRequest splits a peer's blocks into requests of at most this many
	// (8), so that the next request goes out while the other is in flight.
	PerRequest int
	StallMin   time.Duration // first stall timeout (2 s)
	StallMax   time.Duration // stall timeout cap (64 s)
	// RaceAfter is how long the window's first block may be in flight
	// before its holder's undelivered blocks are also asked from other
	// peers with room (100 ms). Once deliveries have been timed (see
	// Planner.Now), the wait is RaceFactor times the smoothed time from
	// request to delivery, between RaceMin and RaceAfter.
	RaceAfter  time.Duration
	RaceMin    time.Duration // (10 ms)
	RaceFactor int           // (4)
}

func (c PlannerConfig) withDefaults() PlannerConfig {
	if c.Window <= 0 {
		c.Window = 1024
	}
	if c.PerPeer <= 0 {
		c.PerPeer = 16
	}
	if c.PerRequest <= 0 {
		c.PerRequest = min(8, c.PerPeer)
	}
	if c.StallMin <= 0 {
		c.StallMin = 2 * time.Second
	}
	if c.StallMax < c.StallMin {
		c.StallMax = max(64*time.Second, c.StallMin)
	}
	if c.RaceAfter <= 0 {
		c.RaceAfter = min(100*time.Millisecond, c.StallMin)
	}
	if c.RaceMin <= 0 {
		c.RaceMin = min(10*time.Millisecond, c.RaceAfter)
	}
	if c.RaceFactor <= 0 {
		c.RaceFactor = 4
	}
	return c
}

// HeaderMeta is what the planner needs of a header the chain validated.
type HeaderMeta struct {
	Hash   chain.Hash
	Prev   chain.Hash
	Height uint64
	Work   *big.Int // cumulative chain work up to and including it
}

// HeaderRequest asks Peer for headers after From (the caller builds the
// locator: From, then the chain's own locator).
type HeaderRequest struct {
	Peer peer.ID
	From chain.Hash
}

// BlockRequest asks Peer for Hashes, in order.
type BlockRequest struct {
	Peer   peer.ID
	Hashes []chain.Hash
}

// Penalty punishes Peer: Points toward a ban, and a disconnection if Disconnect.
type Penalty struct {
	Peer       peer.ID
	Reason     string
	Points     int
	Disconnect bool
	Cause      error // what the peer did, for the log and the ban reason; may be nil
}

// Ready is what the caller must do next. Connect lists received blocks to
// hand to the chain, in order; the caller then reports each with
// BlockProcessed (or BlockDeferred). The caller may connect them while it
// performs the other actions and later Readys: until their verdicts come
// back they count against the download window.
type Ready struct {
	Headers   []HeaderRequest
	Blocks    []BlockRequest
	Connect   []chain.Hash
	Penalties []Penalty
	// Done: nothing to download and nothing asked; sync is idle until new
	// input arrives.
	Done bool
}

// Empty reports whether r asks for nothing.
func (r Ready) Empty() bool {
	return len(r.Headers) == 0 && len(r.Blocks) == 0 && len(r.Connect) == 0 && len(r.Penalties) == 0
}

// hnode is the planner's view of a validated header.
type hnode struct {
	hash     chain.Hash
	parent   *hnode // nil: the parent is stored (below the planner's tree)
	height   uint64
	work     *big.Int
	seq      uint64
	have     bool // data stored (or handed to the chain)
	invalid  bool
	bestMark uint64 // == Planner.epoch: on the current best chain above the last stored block
}

// planPeer is the planner's state of one peer.
type planPeer struct {
	id         peer.ID
	claimed    *big.Int
	askedClaim *big.Int // claimed when its headers request went out
	best       *hnode   // best validated header the peer sent (or proved it has)
	hdrBusy    bool
	hdrDone    bool   // its last headers reply was short: nothing more until a new claim
	next       *hnode // continue after this header (its last full reply); nil: after the best header
	force      bool   // ask for headers once even without a claim of more work (it announced a block)
	inflight   map[chain.Hash]time.Time
	notFound   map[chain.Hash]bool
	gone       bool
	delivered  bool // it has delivered a block asked of it
	// lagging: another peer delivered a block this one still has in
	// flight (the block was raced); it gets no new blocks until it
	// delivers again.
	lagging     bool
	commonEpoch uint64
	common      uint64 // height up to which best coincides with the best chain
}

// Planner is the headers-first sync state machine. It is not safe for
// concurrent use: one goroutine (the sync loop) owns it.
type Planner struct {
	cfg      PlannerConfig
	nodes    map[chain.Hash]*hnode
	best     *hnode
	seq      uint64
	epoch    uint64
	path     []*hnode // missing blocks of the best chain, lowest first (cached)
	dirty    bool
	peers    map[peer.ID]*planPeer
	assigned map[chain.Hash]peer.ID
	received map[chain.Hash]bool // received, not yet handed to the chain
	// connecting holds blocks handed over by Connect whose verdict
	// (BlockProcessed or BlockDeferred) has not come back: the caller may
	// connect them while downloads go on, and they count against the
	// window so that received blocks stay bounded.
	connecting map[chain.Hash]bool
	raced      map[chain.Hash]bool // also asked from a second peer (race)
	stall      time.Duration
	blocked    time.Time     // since when the window could not move (zero: it can)
	clock      time.Time     // the time last reported (Now or Ready)
	latency    time.Duration // smoothed time from a block request to its delivery; 0: not measured
	pen        []Penalty
}

// NewPlanner returns a planner whose tree starts at the stored tip.
func NewPlanner(cfg PlannerConfig, tip HeaderMeta) *Planner {
	p := &Planner{
		cfg: cfg.withDefaults(), nodes: make(map[chain.Hash]*hnode), peers: make(map[peer.ID]*planPeer),
		assigned: make(map[chain.Hash]peer.ID), received: make(map[chain.Hash]bool), raced: make(map[chain.Hash]bool),
		connecting: make(map[chain.Hash]bool),
	}
	p.stall = p.cfg.StallMin
	root := &hnode{hash: tip.Hash, height: tip.Height, work: new(big.Int).Set(tip.Work), have: true}
	p.nodes[root.hash] = root
	p.best = root
	p.dirty = true
	return p
}

// AddPeer registers a connected peer.
func (p *Planner) AddPeer(id peer.ID) {
	if p.peers[id] == nil {
		p.peers[id] = &planPeer{id: id, claimed: new(big.Int), inflight: make(map[chain.Hash]time.Time), notFound: make(map[chain.Hash]bool)}
	}
}

// RemovePeer forgets a disconnected peer; its blocks in flight are
// reassigned.
func (p *Planner) RemovePeer(id peer.ID) {
	pp := p.peers[id]
	if pp == nil {
		return
	}
	p.unassign(pp)
	delete(p.peers, id)
}

// Status records a peer's claim of chain work (from its status message).
func (p *Planner) Status(id peer.ID, claimed *big.Int) {
	pp := p.peers[id]
	if pp == nil || claimed == nil {
		return
	}
	if claimed.Cmp(pp.claimed) > 0 {
		pp.hdrDone = false // it claims more than before: ask again
	}
	pp.claimed = new(big.Int).Set(claimed)
}

// HeaderAdded records a header the chain validated (from any source).
func (p *Planner) HeaderAdded(h HeaderMeta) *hnode {
	if n := p.nodes[h.Hash]; n != nil {
		return n
	}
	p.seq++
	n := &hnode{hash: h.Hash, parent: p.nodes[h.Prev], height: h.Height, work: new(big.Int).Set(h.Work), seq: p.seq}
	p.nodes[h.Hash] = n
	if n.parent != nil && n.parent.invalid {
		n.invalid = true
	}
	if !n.invalid && n.work.Cmp(p.best.work) > 0 {
		p.best = n
		p.dirty = true
	}
	return n
}

// Headers reports a headers reply of peer id: hdrs are the headers the
// chain validated (in order; all of the reply), full whether the reply had
// the maximum count (the peer has more). from is the hash the request
// started after. An empty full=false reply proves only from's work.
func (p *Planner) Headers(id peer.ID, from chain.Hash, hdrs []HeaderMeta, full bool) {
	pp := p.peers[id]
	var last *hnode
	for _, h := range hdrs {
		last = p.HeaderAdded(h)
	}
	if pp == nil {
		return
	}
	pp.hdrBusy, pp.force = false, false
	if last == nil {
		last = p.nodes[from] // it has nothing after from
	}
	if last != nil {
		// The peer's chain runs through the last header it sent, even
		// when that has less work than an earlier one (it reorganised).
		pp.best, pp.commonEpoch = last, 0
	}
	pp.next = nil
	if full && last != nil {
		pp.next = last
		return
	}
	proven := new(big.Int)
	if pp.best != nil {
		proven = pp.best.work
	}
	// The reply is held to the claim made before it was asked for: a
	// claim that rose meanwhile (the peer's chain grew) is checked by the
	// next request, which goes out at once.
	claimed := pp.claimed
	if pp.askedClaim != nil {
		claimed = pp.askedClaim
	}
	pp.hdrDone = proven.Cmp(pp.claimed) >= 0
	if proven.Cmp(claimed) < 0 {
		p.penalise(pp, reasonProtocol, penaltyMalformed,
			newErr(ErrProtocol, "headers prove chain work %s, less than the %s the peer advertised", proven, claimed))
	}
}

// HeadersDeferred records the headers of a reply the chain accepted only
// in part for a reason that is not the peer's fault (a header from the
// future, a branch marked invalid by the operator, too many headers held):
// no more headers are asked from the peer until its next claim.
func (p *Planner) HeadersDeferred(id peer.ID, hdrs []HeaderMeta) {
	var last *hnode
	for _, h := range hdrs {
		last = p.HeaderAdded(h)
	}
	if pp := p.peers[id]; pp != nil {
		pp.hdrBusy, pp.hdrDone, pp.next, pp.force = false, true, nil, false
		if last != nil {
			pp.best, pp.commonEpoch = last, 0
		}
	}
}

// Announce reports that id relayed a block we cannot connect: its headers
// are asked once even if its last claim was not above the best header.
func (p *Planner) Announce(id peer.ID) {
	if pp := p.peers[id]; pp != nil {
		pp.force, pp.hdrDone = true, false
	}
}

// HeadersInvalid reports a headers reply the chain rejected (a header
// rule, or headers that do not connect): the peer is penalised and
// disconnected.
func (p *Planner) HeadersInvalid(id peer.ID, reason string, cause error) {
	if pp := p.peers[id]; pp != nil {
		pp.hdrBusy = false
		p.penalise(pp, reason, penaltyInvalid, cause)
	}
}

// RequestFailed reports a headers or blocks request that failed. A timeout
// is a stall and costs the peer; other failures (transport) only free the
// request.
func (p *Planner) RequestFailed(id peer.ID, hashes []chain.Hash, timeout bool, cause error) {
	pp := p.peers[id]
	if pp == nil {
		return
	}
	if hashes == nil {
		pp.hdrBusy = false
	}
	for _, h := range hashes {
		p.release(pp, h)
	}
	if timeout {
		p.penalise(pp, reasonStall, penaltyStall, cause)
	}
}

// Now reports the time, before the inputs that arrived at it (deliveries
// are timed from it); Ready reports it too.
func (p *Planner) Now(now time.Time) {
	if now.After(p.clock) {
		p.clock = now
	}
}

// raceAfter returns how long the window's first block may be in flight
// before it is raced.
func (p *Planner) raceAfter() time.Duration {
	if p.latency == 0 {
		return p.cfg.RaceAfter
	}
	return min(max(time.Duration(p.cfg.RaceFactor)*p.latency, p.cfg.RaceMin), p.cfg.RaceAfter)
}

// BlockReceived reports a block delivered by id (decoded, hash checked).
func (p *Planner) BlockReceived(id peer.ID, h chain.Hash) {
	if pp := p.peers[id]; pp != nil {
		if sent, ok := pp.inflight[h]; ok {
			if d := p.clock.Sub(sent); !p.raced[h] && d >= 0 {
				if p.latency == 0 {
					p.latency = d
				} else {
					p.latency += (d - p.latency) / 8
				}
			}
			p.stall = max(p.cfg.StallMin, p.stall*85/100) // downloads flow again
			pp.delivered, pp.lagging = true, false
		}
		p.release(pp, h)
	}
	if n := p.nodes[h]; n != nil && !n.have {
		p.received[h] = true
	}
	if p.raced[h] {
		for _, o := range p.peers {
			if _, ok := o.inflight[h]; ok && o.id != id {
				o.lagging = true
			}
		}
	}
	delete(p.raced, h)
}

// Awaiting reports whether a received block waits to be handed to the
// chain (the caller keeps it until Connect names it).
func (p *Planner) Awaiting(h chain.Hash) bool { return p.received[h] }

// Stored reports whether the planner already counts h as stored (handed
// to the chain, or reported by BlockStored) with nothing received for it:
// BlockStored(h) would change nothing.
func (p *Planner) Stored(h chain.Hash) bool {
	n := p.nodes[h]
	return n != nil && n.have && !p.received[h]
}

// BlockBad reports data from id that is not the block asked for or does
// not match its header (undecodable, wrong merkle root): the peer is
// penalised and the block is fetched elsewhere; the hash is not marked.
func (p *Planner) BlockBad(id peer.ID, h chain.Hash, cause error) {
	if pp := p.peers[id]; pp != nil {
		p.release(pp, h)
		p.penalise(pp, reasonInvalidBlock, penaltyInvalid, cause)
	}
}

// BlockDeferred reports a block handed over by Connect that the chain
// could not judge now (not the sender's fault): it is fetched again later.
func (p *Planner) BlockDeferred(h chain.Hash) {
	delete(p.connecting, h)
	if n := p.nodes[h]; n != nil {
		n.have = false
		p.dirty = true
	}
	delete(p.received, h)
}

// BlockNotFound reports that id does not have h (it reorganised away).
func (p *Planner) BlockNotFound(id peer.ID, h chain.Hash) {
	if pp := p.peers[id]; pp != nil {
		p.release(pp, h)
		pp.notFound[h] = true
	}
}

// BlockProcessed reports the chain's verdict on a block handed over by
// Connect: invalid nil means stored. An invalid block marks its branch
// invalid and penalises the peer that sent it (from may be empty).
func (p *Planner) BlockProcessed(from peer.ID, h chain.Hash, invalid error) {
	n := p.nodes[h]
	delete(p.received, h)
	delete(p.connecting, h)
	if n == nil {
		return
	}
	if invalid == nil {
		n.have = true
		return
	}
	n.have, n.invalid = false, true
	// Descendants are invalid too (headers arriving later inherit the mark
	// from their parent), and those handed over in the same batch were
	// not connected either.
	for _, d := range p.nodes {
		if d.height > n.height && descendsFrom(d, n) {
			d.have, d.invalid = false, true
			delete(p.received, d.hash)
		}
	}
	p.best = p.recomputeBest()
	p.dirty = true
	if pp := p.peers[from]; pp != nil {
		p.penalise(pp, reasonInvalidBlock, penaltyInvalid, invalid)
	}
}

// BlockStored reports a block stored outside the planner's requests
// (gossip, mining, RPC).
func (p *Planner) BlockStored(h HeaderMeta) {
	n := p.HeaderAdded(h)
	n.have = true
	delete(p.received, h.Hash)
}

// Best returns the planner's best header.
func (p *Planner) Best() HeaderMeta {
	m := HeaderMeta{Hash: p.best.hash, Height: p.best.height, Work: p.best.work}
	if p.best.parent != nil {
		m.Prev = p.best.parent.hash
	}
	return m
}

func descendsFrom(d, a *hnode) bool {
	for it := d; it != nil && it.height >= a.height; it = it.parent {
		if it == a {
			return true
		}
	}
	return false
}

func (p *Planner) recomputeBest() *hnode {
	var best *hnode
	for _, n := range p.nodes {
		if n.invalid {
			continue
		}
		if best == nil || n.work.Cmp(best.work) > 0 || n.work.Cmp(best.work) == 0 && n.seq < best.seq {
			best = n
		}
	}
	return best
}

func (p *Planner) release(pp *planPeer, h chain.Hash) {
	if _, ok := pp.inflight[h]; ok {
		delete(pp.inflight, h)
		if p.assigned[h] == pp.id {
			delete(p.assigned, h)
		}
	}
}

func (p *Planner) unassign(pp *planPeer) {
	for h := range pp.inflight {
		p.release(pp, h)
	}
	pp.hdrBusy = false
}

// penalise queues a penalty and, for a disconnection, forgets the peer's
// requests at once so that its blocks go to others.
func (p *Planner) penalise(pp *planPeer, reason string, points int, cause error) {
	if pp.gone {
		return
	}
	p.pen = append(p.pen, Penalty{Peer: pp.id, Reason: reason, Points: points, Disconnect: true, Cause: cause})
	pp.gone = true
	p.unassign(pp)
}

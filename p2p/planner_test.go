package p2p

import (
	"container/heap"
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// The planner is tested without sockets: a simulated network of peers on
// a synthetic header tree, driven by a virtual clock and seeded randomness.

// simBranch is a chain of headers from the simulation's root (height 0).
type simBranch struct {
	metas []HeaderMeta // metas[h] is at height h; metas[0] is the root
	index map[chain.Hash]int
}

func simHash(branch, height int) chain.Hash {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], uint64(branch))
	binary.LittleEndian.PutUint64(b[8:], uint64(height))
	return chain.DoubleSHA256(b[:])
}

// newBranch copies base up to fork and extends it to length n with blocks
// of the given work each.
func newBranch(id int, base *simBranch, fork, n int, work int64) *simBranch {
	br := &simBranch{index: make(map[chain.Hash]int)}
	if base == nil {
		br.metas = []HeaderMeta{{Hash: simHash(0, 0), Work: big.NewInt(1)}}
	} else {
		br.metas = append([]HeaderMeta(nil), base.metas[:fork+1]...)
	}
	for h := len(br.metas); h <= n; h++ {
		prev := br.metas[h-1]
		br.metas = append(br.metas, HeaderMeta{Hash: simHash(id, h), Prev: prev.Hash, Height: uint64(h),
			Work: new(big.Int).Add(prev.Work, big.NewInt(work))})
	}
	for h, m := range br.metas {
		br.index[m.Hash] = h
	}
	return br
}

func (b *simBranch) tip() HeaderMeta { return b.metas[len(b.metas)-1] }

type peerKind int

const (
	honest          peerKind = iota
	claimStall               // claims huge work, never answers getheaders
	claimEmpty               // claims huge work, answers with no headers
	blockStall               // honest headers, never answers getblocks
	slowBlocks               // honest headers, answers getblocks after a minute
	badData                  // honest headers, serves blocks that do not match
	invalidBranch            // a heavier branch whose block at fork+2 is invalid
	numHostileKinds = 6
)

type simPeer struct {
	id     peer.ID
	kind   peerKind
	branch *simBranch
}

// simEvent is a scheduled delivery.
type simEvent struct {
	at  time.Time
	seq int
	do  func()
}

type eventQueue []*simEvent

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	return q[i].at.Before(q[j].at) || q[i].at.Equal(q[j].at) && q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*simEvent)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// sim drives a planner against simulated peers.
type sim struct {
	t        *testing.T
	rng      *rand.Rand
	p        *Planner
	now      time.Time
	q        eventQueue
	seq      int
	peers    map[peer.ID]*simPeer
	invalid  map[chain.Hash]bool
	stored   map[chain.Hash]bool
	from     map[chain.Hash]peer.ID
	tip      HeaderMeta
	penal    map[peer.ID]string
	maxHdrs  int
	timeout  time.Duration
	requests int
}

func newSim(t *testing.T, seed uint64, cfg PlannerConfig, root HeaderMeta) *sim {
	s := &sim{
		t: t, rng: rand.New(rand.NewPCG(seed, 7)), now: time.Unix(1_800_000_000, 0),
		peers: make(map[peer.ID]*simPeer), invalid: make(map[chain.Hash]bool), stored: make(map[chain.Hash]bool),
		from: make(map[chain.Hash]peer.ID), tip: root, penal: make(map[peer.ID]string),
		maxHdrs: 100, timeout: 5 * time.Second,
	}
	s.p = NewPlanner(cfg, root)
	s.stored[root.Hash] = true
	return s
}

func (s *sim) at(d time.Duration, do func()) {
	s.seq++
	heap.Push(&s.q, &simEvent{at: s.now.Add(d), seq: s.seq, do: do})
}

func (s *sim) latency() time.Duration { return time.Duration(5+s.rng.IntN(45)) * time.Millisecond }

func (s *sim) addPeer(kind peerKind, br *simBranch) *simPeer {
	id := peer.ID(fmt.Sprintf("peer-%02d", len(s.peers)))
	sp := &simPeer{id: id, kind: kind, branch: br}
	s.peers[id] = sp
	s.p.AddPeer(id)
	claim := br.tip().Work
	if kind == claimStall || kind == claimEmpty {
		claim = new(big.Int).Lsh(big.NewInt(1), 200)
	}
	s.p.Status(id, claim)
	return sp
}

// step applies one Ready.
func (s *sim) step() {
	r := s.p.Ready(s.now)
	for _, pen := range r.Penalties {
		if _, dup := s.penal[pen.Peer]; !dup {
			s.penal[pen.Peer] = pen.Reason
		}
		if pen.Disconnect {
			id := pen.Peer
			s.at(0, func() { s.p.RemovePeer(id); delete(s.peers, id) })
		}
	}
	for _, hr := range r.Headers {
		s.requests++
		s.serveHeaders(hr)
	}
	for _, br := range r.Blocks {
		if len(br.Hashes) == 0 || len(br.Hashes) > s.p.cfg.PerRequest {
			s.t.Fatalf("block request of %d hashes (PerRequest %d)", len(br.Hashes), s.p.cfg.PerRequest)
		}
		s.requests++
		s.serveBlocks(br)
	}
	for _, h := range r.Connect {
		from := s.from[h]
		n := s.p.nodes[h]
		ok := !s.invalid[h] && n.parent != nil && s.stored[n.parent.hash]
		if testing.Verbose() && !ok {
			s.t.Logf("block %d rejected: invalid %v parent %v", n.height, s.invalid[h], n.parent != nil)
		}
		if ok {
			s.stored[h] = true
			s.tip = s.p.nodes[h].meta()
		}
		var invalid error
		if !ok {
			invalid = newErr(ErrInvalidBlock, "block %d", n.height)
		}
		s.p.BlockProcessed(from, h, invalid)
	}
	if len(r.Connect) > 0 || len(r.Penalties) > 0 {
		s.at(0, func() {}) // Ready again: connecting may free the window
	}
}

func (n *hnode) meta() HeaderMeta { return HeaderMeta{Hash: n.hash, Height: n.height, Work: n.work} }

func (s *sim) serveHeaders(hr HeaderRequest) {
	sp := s.peers[hr.Peer]
	if sp == nil {
		return
	}
	switch sp.kind {
	case claimStall:
		s.at(s.timeout, func() { s.p.RequestFailed(hr.Peer, nil, true, nil) })
		return
	case claimEmpty:
		s.at(s.latency(), func() { s.p.Headers(hr.Peer, hr.From, nil, false) })
		return
	}
	// Find where the peer's branch continues after From (a locator would).
	start := 0
	if h, ok := sp.branch.index[hr.From]; ok {
		start = h
	} else if n := s.p.nodes[hr.From]; n != nil {
		for it := n; it != nil; it = it.parent {
			if h, ok := sp.branch.index[it.hash]; ok {
				start = h
				break
			}
		}
	}
	end := min(len(sp.branch.metas)-1, start+s.maxHdrs)
	hdrs := append([]HeaderMeta(nil), sp.branch.metas[start+1:end+1]...)
	full := end-start == s.maxHdrs
	s.at(s.latency(), func() { s.p.Headers(hr.Peer, hr.From, hdrs, full) })
}

func (s *sim) serveBlocks(br BlockRequest) {
	sp := s.peers[br.Peer]
	if sp == nil {
		return
	}
	switch sp.kind {
	case blockStall:
		s.at(s.timeout, func() { s.p.RequestFailed(br.Peer, br.Hashes, true, nil) })
		return
	case slowBlocks:
		s.at(time.Minute, func() {
			for _, h := range br.Hashes {
				s.from[h] = br.Peer
				s.p.BlockReceived(br.Peer, h)
			}
		})
		return
	case badData:
		s.at(s.latency(), func() { s.p.BlockBad(br.Peer, br.Hashes[0], nil) })
		return
	}
	s.at(s.latency(), func() {
		for _, h := range br.Hashes {
			if _, ok := sp.branch.index[h]; !ok {
				s.p.BlockNotFound(br.Peer, h)
				continue
			}
			s.from[h] = br.Peer
			s.p.BlockReceived(br.Peer, h)
		}
	})
}

// run processes events until the planner is done and nothing is pending,
// or the virtual deadline passes.
func (s *sim) run(limit time.Duration) {
	end := s.now.Add(limit)
	done := false
	var tick func()
	tick = func() {
		// Time alone finds stalls. With nothing else pending and
		// nothing to do, the run is over.
		if s.q.Len() == 0 {
			if r := s.p.Ready(s.now); r.Done {
				done = true
				return
			} else if !r.Empty() {
				s.t.Fatalf("Ready changed without input: %+v", r)
			}
		}
		s.at(250*time.Millisecond, tick)
	}
	s.step()
	s.at(250*time.Millisecond, tick)
	for !done && s.q.Len() > 0 && s.now.Before(end) {
		e := heap.Pop(&s.q).(*simEvent)
		s.now = e.at
		e.do()
		if !done {
			s.step()
		}
	}
}

// TestPlannerSimulated: many seeds of honest and hostile peers (stalling,
// lying, slow, serving bad data, an invalid heavier branch) and a reorg of
// the honest peers mid-sync. Every run ends on the honest best chain, every
// hostile peer that was asked anything is penalised, and no honest peer is.
func TestPlannerSimulated(t *testing.T) {
	for seed := uint64(1); seed <= 300; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { simulate(t, seed) })
	}
}

func simulate(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	length := 50 + rng.IntN(600)
	main := newBranch(1, nil, 0, length, 10)
	cfg := PlannerConfig{Window: 64 + rng.IntN(128), PerPeer: 4 + rng.IntN(16), PerRequest: 1 + rng.IntN(8),
		StallMin: 2 * time.Second, StallMax: 64 * time.Second}
	s := newSim(t, seed, cfg, main.metas[0])
	honestN := 1 + rng.IntN(4)
	var hostile []*simPeer
	for range honestN {
		s.addPeer(honest, main)
	}
	for range rng.IntN(4) {
		kind := peerKind(1 + rng.IntN(numHostileKinds))
		br := main
		if kind == invalidBranch {
			fork := rng.IntN(length / 2)
			br = newBranch(100+len(s.peers), main, fork, length+5, 10)
			s.invalid[br.metas[fork+2].Hash] = true
		}
		hostile = append(hostile, s.addPeer(kind, br))
	}
	want := main
	if rng.IntN(3) == 0 {
		// The honest peers reorganise to a heavier branch partway.
		fork := rng.IntN(length)
		heavier := newBranch(2, main, fork, length+3, 10)
		want = heavier
		s.at(time.Duration(rng.IntN(3000))*time.Millisecond, func() {
			for _, sp := range s.peers {
				if sp.kind == honest {
					sp.branch = heavier
					s.p.Status(sp.id, heavier.tip().Work)
				}
			}
		})
	}
	s.run(30 * time.Minute)
	if testing.Verbose() {
		t.Logf("kinds %v end %v best %d path %d", kindsOf(hostile), s.now, s.p.best.height, len(s.p.path))
		for _, pp := range s.p.sortedPeers() {
			bh := -1
			if pp.best != nil {
				bh = int(pp.best.height)
			}
			t.Logf("peer %s kind %d best %d busy %v done %v next %v inflight %d claim %v", pp.id, s.peers[pp.id].kind, bh, pp.hdrBusy, pp.hdrDone, pp.next != nil, len(pp.inflight), pp.claimed)
		}
	}
	if s.tip.Hash != want.tip().Hash {
		t.Fatalf("seed %d: ended at height %d (%s), want %d; penalties %v, stall %v", seed, s.tip.Height, s.tip.Hash, want.tip().Height, s.penal, s.p.StallTimeout())
	}
	for _, sp := range hostile {
		reason, ok := s.penal[sp.id]
		// Peers that hold blocks back are found only if they were given
		// blocks (honest peers may have taken them all first).
		if !ok && sp.kind != badData && sp.kind != blockStall && sp.kind != slowBlocks {
			t.Fatalf("seed %d: hostile peer %s (kind %d) not penalised", seed, sp.id, sp.kind)
		}
		_ = reason
	}
	for id, reason := range s.penal {
		if sp, ok := s.peers[id]; ok && sp.kind == honest {
			t.Fatalf("seed %d: honest peer %s penalised: %s", seed, id, reason)
		}
	}
	for id := range s.penal {
		if isHonestID(hostile, id) {
			t.Fatalf("seed %d: honest peer %s penalised: %s", seed, id, s.penal[id])
		}
	}
}

func isHonestID(hostile []*simPeer, id peer.ID) bool {
	for _, sp := range hostile {
		if sp.id == id {
			return false
		}
	}
	return true
}

func kindsOf(ps []*simPeer) []peerKind {
	var out []peerKind
	for _, p := range ps {
		out = append(out, p.kind)
	}
	return out
}

// TestPlannerWindowStall: a peer that holds the first block of a full
// window has its blocks raced to the honest peer, is disconnected after
// the stall timeout (long before its request would time out), and the
// timeout doubles.
func TestPlannerWindowStall(t *testing.T) {
	main := newBranch(1, nil, 0, 400, 10)
	s := newSim(t, 1, PlannerConfig{Window: 32, PerPeer: 8}, main.metas[0])
	s.timeout = 10 * time.Minute
	slow := s.addPeer(slowBlocks, main) // peer-00 sorts first: gets the window's start
	s.addPeer(honest, main)
	s.run(time.Hour)
	if s.tip.Hash != main.tip().Hash {
		t.Fatalf("ended at %d", s.tip.Height)
	}
	if s.penal[slow.id] != reasonStall {
		t.Fatalf("penalties %v, want the slow peer penalised for stalling", s.penal)
	}
	if got := s.p.StallTimeout(); got != 4*time.Second {
		t.Fatalf("stall timeout %v after one stalling peer, want doubled to 4s", got)
	}
}

// TestPlannerClaimsNeverOutrankHeaders: a peer's status claim decides whom
// headers are asked from, never what is downloaded: with only claims and
// no headers the planner asks for headers and fetches nothing.
func TestPlannerClaimsNeverOutrankHeaders(t *testing.T) {
	main := newBranch(1, nil, 0, 10, 10)
	p := NewPlanner(PlannerConfig{}, main.metas[0])
	p.AddPeer("liar")
	p.Status("liar", new(big.Int).Lsh(big.NewInt(1), 200))
	now := time.Unix(0, 0)
	r := p.Ready(now)
	if len(r.Headers) != 1 || len(r.Blocks) != 0 || r.Done {
		t.Fatalf("ready %+v", r)
	}
	if p.Best().Hash != main.metas[0].Hash {
		t.Fatal("a claim moved the best header")
	}
	p.Headers("liar", main.metas[0].Hash, nil, false)
	r = p.Ready(now)
	if len(r.Penalties) != 1 || r.Penalties[0].Reason != reasonProtocol || !r.Penalties[0].Disconnect {
		t.Fatalf("penalties %+v, want the liar disconnected", r.Penalties)
	}
}

// TestPlannerClaimRisesDuringHeaders: a peer whose chain grows while its
// headers request is in flight (a new status claims more) is held to the
// claim it made before the request, not penalised for the newer one; the
// newer claim is checked by the next request.
func TestPlannerClaimRisesDuringHeaders(t *testing.T) {
	main := newBranch(1, nil, 0, 20, 10)
	p := NewPlanner(PlannerConfig{}, main.metas[0])
	p.AddPeer("grower")
	p.Status("grower", main.metas[10].Work)
	now := time.Unix(0, 0)
	if r := p.Ready(now); len(r.Headers) != 1 {
		t.Fatalf("ready %+v, want a headers request", r)
	}
	p.Status("grower", main.metas[20].Work) // its chain grew meanwhile
	p.Headers("grower", main.metas[0].Hash, main.metas[1:11], false)
	r := p.Ready(now)
	if len(r.Penalties) != 0 {
		t.Fatalf("penalties %+v for a claim that rose during the request", r.Penalties)
	}
	if len(r.Headers) != 1 {
		t.Fatalf("ready %+v, want headers asked again for the new claim", r)
	}
}

// TestPlannerSlowStartAndAdaptiveRace: a peer that has not delivered yet
// gets two requests, and once deliveries take about 5 ms the window's
// first block is raced after 20 ms (four times that), not after
// RaceAfter.
func TestPlannerSlowStartAndAdaptiveRace(t *testing.T) {
	main := newBranch(1, nil, 0, 40, 10)
	cfg := PlannerConfig{Window: 16, PerPeer: 16, PerRequest: 4, RaceAfter: 100 * time.Millisecond, RaceMin: 10 * time.Millisecond}
	p := NewPlanner(cfg, main.metas[0])
	t0 := time.Unix(0, 0)
	for _, id := range []peer.ID{"a", "b"} {
		p.AddPeer(id)
		p.Headers(id, main.metas[0].Hash, main.metas[1:], false)
	}
	r := p.Ready(t0)
	asked := map[peer.ID][]chain.Hash{}
	for _, br := range r.Blocks {
		asked[br.Peer] = append(asked[br.Peer], br.Hashes...)
	}
	if len(asked["a"]) != 8 || len(asked["b"]) != 8 {
		t.Fatalf("asked a %d, b %d blocks before any delivery; want 8 each (two requests)", len(asked["a"]), len(asked["b"]))
	}
	// a delivers after 5 ms; b never does.
	p.Now(t0.Add(5 * time.Millisecond))
	for _, h := range asked["a"] {
		p.BlockReceived("a", h)
	}
	r = p.Ready(t0.Add(5 * time.Millisecond))
	for _, h := range r.Connect {
		p.BlockProcessed("a", h, nil)
	}
	if len(r.Connect) != 8 {
		t.Fatalf("connect %d blocks, want 8", len(r.Connect))
	}
	racedAt := func(ms int) bool {
		r := p.Ready(t0.Add(time.Duration(ms) * time.Millisecond))
		for _, br := range r.Blocks {
			if br.Peer == "a" && br.Hashes[0] == main.metas[9].Hash {
				return true
			}
		}
		return false
	}
	if racedAt(15) {
		t.Fatal("the window's first block, held by b, raced at 15 ms")
	}
	if !racedAt(25) {
		t.Fatal("the window's first block, held by b, not raced to a at 25 ms")
	}
}

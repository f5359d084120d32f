package p2p

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/quarrychain/quarry/chain/testkit"
)

// A node that meets peer after peer (labs come and go, every node of a
// new lab has a fresh identity and address) must keep per-peer state only
// for the peers it is connected to, dials, holds partitioned or has
// banned, plus the few that left in the last peerstoreGrace.

// offsetClock is a real clock that a test can move forward.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

func (c *offsetClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// stateCounts are the sizes of a node's per-peer structures.
type stateCounts struct {
	Peerstore  int // peers in the libp2p peerstore other than the node itself
	WithAddrs  int // of those, peers with addresses
	Connected  int // libp2p connections' peers
	PeerSet    int // peerSet.peers
	ScoreLeft  int // remembered scores of departed peers
	Gone       int // departed peers not yet forgotten
	Targets    int // dial targets
	Bans       int // ban list entries
	Partition  int // partitioned peers
	ToClose    int // close queue
	Planner    int // peers in the sync planner
	TopicPeers int // gossip peers of the block topic
	Protected  int // of the peers passed to stateCounts, those the connection manager protects
	Bandwidth  int // peers with byte counters
	GossipCtx  int // contexts registered with gossipsub's context
}

// stateCounts returns the sizes; departed lists peers that left, whose
// protection in the connection manager is counted.
func (n *Node) stateCounts(departed ...peer.ID) stateCounts {
	var c stateCounts
	if h := n.host(); h != nil {
		for _, p := range departed {
			if h.ConnManager().IsProtected(p, "") {
				c.Protected++
			}
		}
		for _, p := range h.Peerstore().Peers() {
			if p != n.id {
				c.Peerstore++
			}
		}
		for _, p := range h.Peerstore().PeersWithAddrs() {
			if p != n.id {
				c.WithAddrs++
			}
		}
		c.Connected = len(h.Network().Peers())
	}
	n.set.mu.Lock()
	c.PeerSet, c.ScoreLeft, c.Gone = len(n.set.peers), len(n.set.scoreLeft), len(n.set.gone)
	n.set.mu.Unlock()
	n.dialer.mu.Lock()
	c.Targets = len(n.dialer.targets)
	n.dialer.mu.Unlock()
	c.Bans = n.gate.banCount()
	c.Partition = len(n.Partitioned())
	n.mu.Lock()
	c.ToClose = len(n.toClose)
	if n.bwc != nil {
		c.Bandwidth = n.bwc.peerCount()
	}
	if n.psCtx != nil {
		c.GossipCtx = n.psCtx.childCount()
	}
	n.mu.Unlock()
	c.Planner = int(n.planPeers.Load())
	c.TopicPeers = n.topicPeers(topicBlocks)
	return c
}

// churnWave has ch connect len(kinds) fresh peers to the victim, waits
// until each has been dealt with (honest: status exchanged both ways and
// a gossip peer; malformed: banned and dropped; staller: penalised and
// dropped), closes them all and waits until the victim has no peer left.
func churnWave(tb testing.TB, victim *testNode, ch churner, kinds []churnKind) []peer.ID {
	tb.Helper()
	ids, err := ch.start(kinds)
	if err != nil {
		_ = ch.stop()
		tb.Fatal(err)
	}
	testkit.WaitFor(tb, 30*time.Second, "every churned peer dealt with", func() bool {
		infos := map[peer.ID]PeerInfo{}
		for _, pi := range victim.n.Peers() {
			infos[pi.ID] = pi
		}
		for i, id := range ids {
			switch kinds[i] {
			case churnHonest:
				if !infos[id].HasStatus || !victim.n.isConnected(id) {
					return false
				}
			case churnMalformed:
				if !victim.n.IsBanned(id) || victim.n.isConnected(id) {
					return false
				}
			case churnStaller:
				victim.n.set.mu.Lock()
				score := victim.n.set.scoreLeft[id]
				victim.n.set.mu.Unlock()
				if score != penaltyStall || victim.n.isConnected(id) {
					return false
				}
			}
		}
		return true
	})
	if err := ch.stop(); err != nil {
		tb.Fatal(err)
	}
	testkit.WaitFor(tb, 20*time.Second, "no peer left", func() bool {
		c := victim.n.stateCounts()
		return c.Connected == 0 && c.PeerSet == 0 && c.Planner == 0 && c.TopicPeers == 0 && c.ToClose == 0
	})
	return ids
}

// waitForgotten moves the victim's clock past peerstoreGrace and waits
// until its peerstore holds no other peer and the connection manager
// protects none of the departed ones, and gossipsub holds no context of
// theirs.
func waitForgotten(tb testing.TB, victim *testNode, clk *offsetClock, departed []peer.ID) stateCounts {
	tb.Helper()
	clk.advance(peerstoreGrace + time.Second)
	signal(victim.n.wakeDial)
	var c stateCounts
	testkit.WaitFor(tb, 20*time.Second, "departed peers forgotten", func() bool {
		runtime.GC() // collects gossipsub's contexts of departed peers
		c = victim.n.stateCounts(departed...)
		return c.Peerstore == 0 && c.WithAddrs == 0 && c.Gone == 0 && c.Protected == 0 && c.Bandwidth == 0 && c.GossipCtx == 0
	})
	return c
}

// churnKinds returns the behaviour of peers first..first+k-1: one in five
// malformed, one in five a staller, the rest honest.
func churnKinds(first, k int) []churnKind {
	out := make([]churnKind, k)
	for i := range out {
		switch (first + i) % 5 {
		case 1:
			out[i] = churnMalformed
		case 3:
			out[i] = churnStaller
		}
	}
	return out
}

// startChurnVictim starts the node that meets the churned peers, on a
// clock the test moves and with a short request timeout (stalls).
func startChurnVictim(tb testing.TB, clk *offsetClock) *testNode {
	return startNode(tb, "victim", nil, func(c *Config) {
		c.Now = clk.now
		c.RequestTimeout = 500 * time.Millisecond
		c.StatusInterval = time.Second
	})
}

// TestPeerChurnBounded churns 200 peers with fresh identities through one
// node in waves of 10 (each connects and exchanges status; one in five
// answers with a malformed message and is banned, one in five stalls and
// is disconnected with a remembered score) and checks after every wave
// that nothing keyed by peer outgrows what it must hold: the peerstore,
// the peer set, the sync planner, gossip and the dial targets hold no
// departed peer once peerstoreGrace has passed; the ban list holds the
// active bans; the remembered scores stay below maxScoreMemory.
func TestPeerChurnBounded(t *testing.T) {
	const total, wave = 200, 10
	clk := &offsetClock{}
	victim := startChurnVictim(t, clk)
	ch := &localChurner{tg: targetOf(victim)}
	defer func() { _ = ch.stop() }()
	bans, stallers := 0, 0
	for first := 0; first < total; first += wave {
		kinds := churnKinds(first, wave)
		departed := churnWave(t, victim, ch, kinds)
		for _, k := range kinds {
			switch k {
			case churnMalformed:
				bans++
			case churnStaller:
				stallers++
			}
		}
		c := waitForgotten(t, victim, clk, departed)
		if c.PeerSet != 0 || c.Planner != 0 || c.Targets != 0 || c.Partition != 0 || c.ToClose != 0 || c.TopicPeers != 0 ||
			c.Bans != bans || c.ScoreLeft != stallers || c.ScoreLeft > maxScoreMemory {
			t.Fatalf("after %d peers (%d banned, %d stallers): %+v", first+wave, bans, stallers, c)
		}
	}
	t.Logf("after %d peers: %+v", total, victim.n.stateCounts())
}

// TestStatusAfterDisconnectNotInPlanner: a status reply that arrives
// after its peer left must not put the peer back in the sync planner,
// where nothing would ever remove it.
func TestStatusAfterDisconnectNotInPlanner(t *testing.T) {
	victim := startNode(t, "victim", nil)
	ghost := newTestPeerID(t)
	victim.n.pushSync(syncInput{kind: inStatus, peer: ghost, claim: victim.n.ourStatus().ChainWork})
	// A peer up and down afterwards makes the loop run past the status.
	other := newTestPeerID(t)
	victim.n.pushSync(syncInput{kind: inPeerUp, peer: other})
	testkit.WaitFor(t, 10*time.Second, "the sync loop to take the inputs", func() bool { return victim.n.planPeers.Load() == 1 })
	victim.n.pushSync(syncInput{kind: inPeerDown, peer: other})
	testkit.WaitFor(t, 10*time.Second, "the planner to be empty", func() bool { return victim.n.planPeers.Load() == 0 })
}

// TestBanListBounded: the ban list holds at most maxBans entries; a new
// ban prunes the expired ones first, then evicts the ban that ends
// soonest, and a longer (operator) ban outlives a flood of short ones.
func TestBanListBounded(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	g := newGater(func() time.Time { return now }, nil)
	g.maxBans = 8
	operator := newTestPeerID(t)
	g.ban(operator, 24*time.Hour, "manual")
	var first []peer.ID
	for i := range 7 {
		p := newTestPeerID(t)
		first = append(first, p)
		g.ban(p, time.Minute, fmt.Sprint("early ", i))
	}
	now = now.Add(2 * time.Minute) // the seven early bans expire
	for i := range 20 {
		g.ban(newTestPeerID(t), time.Hour+time.Duration(i)*time.Second, "flood")
		if n := g.banCount(); n > g.maxBans {
			t.Fatalf("%d bans, cap %d", n, g.maxBans)
		}
	}
	if !g.banned(operator) {
		t.Fatal("the operator's long ban was evicted by shorter ones")
	}
	for _, p := range first {
		if g.banned(p) {
			t.Fatal("an expired ban is still in force")
		}
	}
	bans := g.listBans()
	if len(bans) != g.maxBans || !bans[0].Until.Equal(now.Add(time.Hour+13*time.Second)) {
		t.Fatalf("kept %d bans, soonest until %v: want the 7 latest of the flood and the operator's", len(bans), bans[0].Until)
	}
}

// TestRememberedScoresBounded: scores of peers penalised after they left
// are remembered within maxScoreMemory.
func TestRememberedScoresBounded(t *testing.T) {
	victim := startNode(t, "victim", nil)
	for range maxScoreMemory + 10 {
		victim.n.penalize(newTestPeerID(t), penaltyRateLimit, reasonRateLimit, nil)
	}
	if n := victim.n.stateCounts().ScoreLeft; n > maxScoreMemory {
		t.Fatalf("%d remembered scores, cap %d", n, maxScoreMemory)
	}
}

// BenchmarkPeerChurnHeap reports the heap (after a GC: in use, and live
// bytes) of a node that has met 0, 400, 800 ... 2,000 peers with fresh
// identities, 400 at a time, and the live bytes added per peer over the
// last 800: honest peers only (the peers a lab node meets), then a mix
// churned as in TestPeerChurnBounded (one in five banned, one in five
// remembered as a staller). The churned peers run in a child process,
// so the figures are the node's alone. It takes about twelve minutes
// (it waits for the resource manager's collections). Run it once:
//
//	go test -run '^$' -bench 'PeerChurnHeap$' -benchtime 1x -timeout 60m ./p2p/
//
// What a departed peer may leave: its ban (one peer in five is banned;
// the list is capped at maxBans), its remembered score (the stallers;
// capped at maxScoreMemory), and go-libp2p's record of the peers that
// left in the last minute or so (the peerstore manager's grace period),
// a map whose size follows the rate at which peers leave and which does
// not shrink after a burst. The equal stretches between marks keep that
// rate the same, so that the per-peer figure is the growth with the
// number of peers met.
//
// With QUARRY_CHURN_PROFILES=DIR it also writes a heap profile at each
// mark (DIR/honest-heap-0 ...); add -memprofilerate 256 for small
// objects and compare two marks with
//
//	go tool pprof -sample_index=inuse_space -top -base DIR/mixed-heap-1200 DIR/mixed-heap-2000
func BenchmarkPeerChurnHeap(b *testing.B) {
	b.Run("honest", func(b *testing.B) { benchChurnHeap(b, honestKinds) })
	b.Run("mixed", func(b *testing.B) { benchChurnHeap(b, churnKinds) })
}

// honestKinds returns k honest peers (the peers a lab node meets).
func honestKinds(_, k int) []churnKind { return make([]churnKind, k) }

func benchChurnHeap(b *testing.B, kindsOf func(first, k int) []churnKind) {
	const wave = 10
	clk := &offsetClock{}
	victim := startChurnVictim(b, clk)
	live := map[int]uint64{}
	heap := func(mark int) {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		live[mark] = ms.HeapAlloc
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), fmt.Sprint("MiB-inuse@", mark))
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), fmt.Sprint("MiB-live@", mark))
		if dir := os.Getenv("QUARRY_CHURN_PROFILES"); dir != "" {
			f, err := os.Create(filepath.Join(dir, fmt.Sprint(path.Base(b.Name()), "-heap-", mark)))
			if err != nil {
				b.Fatal(err)
			}
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Fatal(err)
			}
			_ = f.Close()
		}
	}
	// go-libp2p's resource manager keeps a departed peer's scopes until
	// its garbage collection, once a minute of real time; each figure is
	// taken after that collection, as a long-running node would be.
	rm, ok := victim.n.host().Network().ResourceManager().(rcmgr.ResourceManagerState)
	if !ok {
		b.Fatal("the resource manager lists no peers")
	}
	rmCollected := func() {
		testkit.WaitFor(b, 3*time.Minute, "the resource manager to drop departed peers", func() bool { return len(rm.ListPeers()) == 0 })
	}
	ch := newProcChurner(b, targetOf(victim))
	// A first wave warms up the caches that do not depend on the number
	// of peers (gossipsub, the resource manager, sync buffers).
	waitForgotten(b, victim, clk, churnWave(b, victim, ch, kindsOf(0, wave)))
	met := 0
	marks := []int{0, 400, 800, 1200, 1600, 2000}
	for _, mark := range marks {
		for ; met < mark; met += wave {
			waitForgotten(b, victim, clk, churnWave(b, victim, ch, kindsOf(met, wave)))
		}
		rmCollected()
		heap(mark)
	}
	last, prev := marks[len(marks)-1], marks[len(marks)-3]
	b.ReportMetric((float64(live[last])-float64(live[prev]))/float64(last-prev), fmt.Sprintf("B/peer@%d-%d", prev, last))
	c := victim.n.stateCounts()
	b.ReportMetric(float64(c.Bans), "bans")
	b.ReportMetric(float64(c.ScoreLeft), "scores-kept")
}

// TestPartitionedPeerForgottenAfterHeal: a departed peer that is
// partitioned keeps its addresses (Heal redials it), and is forgotten
// once Heal's redial window has passed without it coming back.
func TestPartitionedPeerForgottenAfterHeal(t *testing.T) {
	clk := &offsetClock{}
	victim := startChurnVictim(t, clk)
	tg := targetOf(victim)
	cp, err := newChurnPeer(tg, churnHonest)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cp.h.Connect(ctx, tg.Addr); err != nil {
		t.Fatal(err)
	}
	id := cp.h.ID()
	testkit.WaitFor(t, 10*time.Second, "identify to give the peer's addresses", func() bool {
		return len(victim.n.host().Peerstore().Addrs(id)) > 0
	})
	victim.n.Partition([]peer.ID{id})
	cp.close() // gone for good
	testkit.WaitFor(t, 10*time.Second, "the peer to leave", func() bool { return !victim.n.isConnected(id) })
	clk.advance(peerstoreGrace + time.Second)
	// A pass of forgetPeers (here or the dial loop's) leaves the
	// partitioned peer and its addresses.
	before := victim.n.forgetPeers(victim.n.host())
	if before != 0 || len(victim.n.host().Peerstore().Addrs(id)) == 0 {
		t.Fatalf("a partitioned peer was forgotten (%d removed)", before)
	}
	victim.n.Heal()
	clk.advance(healRedialWindow + peerstoreGrace + time.Second)
	signal(victim.n.wakeDial)
	testkit.WaitFor(t, 20*time.Second, "the healed peer forgotten after its redial window", func() bool {
		c := victim.n.stateCounts()
		return c.Peerstore == 0 && c.Targets == 0 && c.Gone == 0
	})
}

package p2p

import (
	"bufio"
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

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
	n.mu.Unlock()
	c.Planner = int(n.planPeers.Load())
	c.TopicPeers = n.topicPeers(topicBlocks)
	return c
}

// churnKind is how a churned peer behaves.
type churnKind int

const (
	churnHonest    churnKind = iota // answers status, asks the node's status, gossips
	churnMalformed                  // answers status with a wrong message type: banned
	churnStaller                    // never answers: a stall (50 points), disconnected
)

func (k churnKind) String() string {
	return [...]string{"honest", "malformed", "staller"}[k]
}

// churnPeer is a raw libp2p host with a fresh identity that speaks
// gossipsub and the sync protocol, and that nothing retains once closed.
type churnPeer struct {
	kind   churnKind
	h      host.Host
	cancel context.CancelFunc
	done   chan struct{} // closed by close: a staller's handlers return
	once   sync.Once
}

func newChurnPeer(victim *testNode, kind churnKind) (*churnPeer, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &churnPeer{kind: kind, h: h, cancel: cancel, done: make(chan struct{})}
	st := victim.n.ourStatus() // the same chain: nothing to sync
	h.SetStreamHandler(victim.n.proto, func(s network.Stream) {
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := readFrame(s, 1<<20); err != nil {
			_ = s.Reset()
			return
		}
		switch kind {
		case churnHonest:
			_ = writeFrame(s, msgStatus, encodeStatus(st))
			_ = s.Close()
		case churnMalformed:
			_ = writeFrame(s, msgNotFound, make([]byte, 32))
			_ = s.Close()
		case churnStaller:
			<-cp.done
			_ = s.Reset()
		}
	})
	p := victim.n.cfg.Params
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(gossipMessageID))
	if err == nil {
		for _, name := range []string{p.BlockTopic(), p.TxTopic()} {
			var t *pubsub.Topic
			if t, err = ps.Join(name); err != nil {
				break
			}
			if _, err = t.Subscribe(); err != nil {
				break
			}
		}
	}
	if err != nil {
		cp.close()
		return nil, err
	}
	return cp, nil
}

// close stops the peer (idempotent).
func (cp *churnPeer) close() {
	cp.once.Do(func() {
		close(cp.done)
		cp.cancel()
		_ = cp.h.Close()
	})
}

// askStatus sends the node a status request, as a peer does on connecting.
func (cp *churnPeer) askStatus(victim *testNode) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := cp.h.NewStream(ctx, victim.n.ID(), victim.n.proto)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeFrame(s, msgStatus, encodeStatus(victim.n.ourStatus())); err != nil {
		return err
	}
	_ = s.CloseWrite()
	_, err = expect(bufio.NewReader(s), msgStatus, maxStatusFrame)
	return err
}

// churnWave connects len(kinds) fresh peers to the victim, waits until
// each has been dealt with (honest: status exchanged both ways and a
// gossip peer; malformed: banned and dropped; staller: penalised and
// dropped), closes them all and waits until the victim has no peer left.
func churnWave(tb testing.TB, victim *testNode, kinds []churnKind) []peer.ID {
	tb.Helper()
	var peers []*churnPeer
	var ids []peer.ID
	defer func() {
		for _, cp := range peers {
			cp.close()
		}
	}()
	for _, k := range kinds {
		cp, err := newChurnPeer(victim, k)
		if err != nil {
			tb.Fatal(err)
		}
		peers = append(peers, cp)
		ids = append(ids, cp.h.ID())
	}
	vi := peer.AddrInfo{ID: victim.n.ID(), Addrs: victim.n.host().Addrs()}
	for _, cp := range peers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cp.h.Connect(ctx, vi)
		cancel()
		if err != nil {
			tb.Fatalf("%s peer: connect: %v", cp.kind, err)
		}
		if cp.kind == churnHonest {
			if err := cp.askStatus(victim); err != nil {
				tb.Fatalf("honest peer: status request: %v", err)
			}
		}
	}
	testkit.WaitFor(tb, 30*time.Second, "every churned peer dealt with", func() bool {
		infos := map[peer.ID]PeerInfo{}
		for _, pi := range victim.n.Peers() {
			infos[pi.ID] = pi
		}
		for _, cp := range peers {
			id := cp.h.ID()
			switch cp.kind {
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
	for _, cp := range peers {
		cp.close()
	}
	peers = nil
	testkit.WaitFor(tb, 20*time.Second, "no peer left", func() bool {
		c := victim.n.stateCounts()
		return c.Connected == 0 && c.PeerSet == 0 && c.Planner == 0 && c.TopicPeers == 0 && c.ToClose == 0
	})
	return ids
}

// waitForgotten moves the victim's clock past peerstoreGrace and waits
// until its peerstore holds no other peer and the connection manager
// protects none of the departed ones.
func waitForgotten(tb testing.TB, victim *testNode, clk *offsetClock, departed []peer.ID) stateCounts {
	tb.Helper()
	clk.advance(peerstoreGrace + time.Second)
	victim.n.wake(victim.n.wakeDial)
	var c stateCounts
	testkit.WaitFor(tb, 20*time.Second, "departed peers forgotten", func() bool {
		c = victim.n.stateCounts(departed...)
		return c.Peerstore == 0 && c.WithAddrs == 0 && c.Gone == 0 && c.Protected == 0 && c.Bandwidth == 0
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
	bans, stallers := 0, 0
	for first := 0; first < total; first += wave {
		kinds := churnKinds(first, wave)
		departed := churnWave(t, victim, kinds)
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
// bytes) of a node that has met 0, 100, 200 and 400 peers with fresh identities, churned
// as in TestPeerChurnBounded. It takes about four minutes (it waits for
// the resource manager's collections). Run it once:
//
//	go test -run '^$' -bench 'PeerChurnHeap$' -benchtime 1x ./p2p/
//
// The figures are those of the whole test process, which also holds
// the closed churned peers' hosts until they are collected. Some of
// go-libp2p's per-peer caches expire with time, not with a count:
// gossipsub's address book for peer exchange (signed peer records kept
// for RecentlyConnectedAddrTTL, 15 minutes; go-libp2p-pubsub has no
// option to turn it off) and the bandwidth counter's per-peer meters
// (trimmed after 10 idle minutes).
func BenchmarkPeerChurnHeap(b *testing.B) { benchChurnHeap(b, 0) }

// BenchmarkPeerChurnHeapSettled is BenchmarkPeerChurnHeap followed by a
// 16-minute wait, once those caches have expired (about 20 minutes):
//
//	go test -run '^$' -bench PeerChurnHeapSettled -benchtime 1x -timeout 30m ./p2p/
func BenchmarkPeerChurnHeapSettled(b *testing.B) {
	benchChurnHeap(b, peerstore.RecentlyConnectedAddrTTL+time.Minute)
}

func benchChurnHeap(b *testing.B, settle time.Duration) {
	const wave = 10
	clk := &offsetClock{}
	victim := startChurnVictim(b, clk)
	// Both the heap in use (spans holding objects) and the live bytes:
	// the first includes fragmentation that a long-lived object keeps.
	heap := func(at string) {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MiB-inuse@"+at)
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "MiB-live@"+at)
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
	// A first wave warms up the caches that do not depend on the number
	// of peers (gossipsub, the resource manager, sync buffers).
	waitForgotten(b, victim, clk, churnWave(b, victim, churnKinds(0, wave)))
	met := 0
	for _, mark := range []int{0, 100, 200, 400} {
		for ; met < mark; met += wave {
			waitForgotten(b, victim, clk, churnWave(b, victim, churnKinds(met, wave)))
		}
		rmCollected()
		heap(fmt.Sprint(mark))
	}
	b.ReportMetric(float64(victim.n.stateCounts().Peerstore), "peerstore@400")
	if settle > 0 {
		t := time.NewTimer(settle) // go-libp2p's caches expire on the real clock
		<-t.C
		rmCollected()
		heap("400-settled")
	}
}

// TestPartitionedPeerForgottenAfterHeal: a departed peer that is
// partitioned keeps its addresses (Heal redials it), and is forgotten
// once Heal's redial window has passed without it coming back.
func TestPartitionedPeerForgottenAfterHeal(t *testing.T) {
	clk := &offsetClock{}
	victim := startChurnVictim(t, clk)
	cp, err := newChurnPeer(victim, churnHonest)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cp.h.Connect(ctx, peer.AddrInfo{ID: victim.n.ID(), Addrs: victim.n.host().Addrs()}); err != nil {
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
	// Two passes of forgetPeers (one a second) leave the partitioned peer.
	before := victim.n.forgetPeers(victim.n.host())
	if before != 0 || len(victim.n.host().Peerstore().Addrs(id)) == 0 {
		t.Fatalf("a partitioned peer was forgotten (%d removed)", before)
	}
	victim.n.Heal()
	clk.advance(healRedialWindow + peerstoreGrace + time.Second)
	victim.n.wake(victim.n.wakeDial)
	testkit.WaitFor(t, 20*time.Second, "the healed peer forgotten after its redial window", func() bool {
		c := victim.n.stateCounts()
		return c.Peerstore == 0 && c.Targets == 0 && c.Gone == 0
	})
}

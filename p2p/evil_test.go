package p2p

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// evilPeer is a raw libp2p host that speaks gossipsub with the network's
// policies and, optionally, a hostile version of the sync protocol.
type evilPeer struct {
	h      host.Host
	ps     *pubsub.PubSub
	blocks *pubsub.Topic
	txs    *pubsub.Topic
	cancel context.CancelFunc
}

// rawGossip starts gossipsub on a test peer's host with the node's
// message format and joins the topics.
func rawGossip(ctx context.Context, h host.Host, topics []string, opts ...pubsub.Option) (*pubsub.PubSub, []*pubsub.Topic, error) {
	opts = append([]pubsub.Option{pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(gossipMessageID)}, opts...)
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		return nil, nil, err
	}
	var out []*pubsub.Topic
	for _, name := range topics {
		t, err := ps.Join(name)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, t)
	}
	return ps, out, nil
}

func newEvilPeer(t testing.TB, p *chain.Params, sync network.StreamHandler) *evilPeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if sync != nil {
		h.SetStreamHandler(SyncProtocolID(p), sync)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps, topics, err := rawGossip(ctx, h, []string{p.BlockTopic(), p.TxTopic()},
		pubsub.WithFloodPublish(true), pubsub.WithMaxMessageSize(8<<20))
	if err != nil {
		t.Fatal(err)
	}
	e := &evilPeer{h: h, ps: ps, blocks: topics[0], txs: topics[1], cancel: cancel}
	t.Cleanup(func() {
		cancel()
		_ = h.Close()
	})
	return e
}

func (e *evilPeer) connect(t testing.TB, victim *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.h.Connect(ctx, peer.AddrInfo{ID: victim.n.ID(), Addrs: victim.n.host().Addrs()}); err != nil {
		t.Fatalf("evil connect: %v", err)
	}
}

// publish sends raw bytes to the victim over gossip once it is a known
// subscriber of the topic.
func (e *evilPeer) publish(t *testing.T, victim *testNode, topic *pubsub.Topic, data []byte) {
	t.Helper()
	testkit.WaitFor(t, 10*time.Second, "victim subscribed", func() bool {
		return slices.Contains(e.ps.ListPeers(topic.String()), victim.n.ID())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := topic.Publish(ctx, data); err != nil {
		t.Fatalf("evil publish: %v", err)
	}
}

// expectBanned waits until the victim has banned and dropped the evil peer,
// then checks that it cannot come back.
func expectBanned(t *testing.T, victim *testNode, e *evilPeer, wantReason string) {
	t.Helper()
	defer func() {
		for _, b := range victim.n.ListBans() {
			if b.ID == e.h.ID() && !strings.Contains(b.Reason, wantReason) {
				t.Errorf("ban reason %q, want it to contain %q", b.Reason, wantReason)
			}
		}
	}()
	testkit.WaitFor(t, 10*time.Second, "evil peer banned and disconnected", func() bool {
		return victim.n.IsBanned(e.h.ID()) && victim.n.host().Network().Connectedness(e.h.ID()) != network.Connected
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if sw, ok := e.h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(victim.n.ID())
	}
	_ = e.h.Connect(ctx, peer.AddrInfo{ID: victim.n.ID(), Addrs: victim.n.host().Addrs()})
	testkit.WaitFor(t, 5*time.Second, "reconnect refused", func() bool {
		return victim.n.host().Network().Connectedness(e.h.ID()) != network.Connected &&
			e.h.Network().Connectedness(victim.n.ID()) != network.Connected
	})
}

// serveFrames returns a sync handler that reads the request and answers
// with whatever respond writes.
func serveFrames(respond func(s network.Stream, typ byte, payload []byte)) network.StreamHandler {
	return func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		typ, payload, err := readFrame(s, 1<<20)
		if err != nil {
			_ = s.Reset()
			return
		}
		respond(s, typ, payload)
	}
}

// TestEvilPeers: peers that gossip garbage, blocks with bad proof of work,
// a bad merkle root or a bad signature inside, or that answer the sync
// protocol with malformed, oversized or invalid data are banned, cannot
// reconnect, and the victim keeps syncing from an honest peer meanwhile.
func TestEvilPeers(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	honest := startNode(t, "honest", nil)
	victim := startNode(t, "victim", nil, withBootnodes(honest))
	waitMesh(t, []*testNode{honest, victim}, 1)

	parent := chaintest.GenesisName
	height := 0
	mineHonest := func() {
		height++
		name := "h" + string(rune('a'+height))
		b := mine(t, g, honest, name, parent)
		parent = name
		waitTip(t, 10*time.Second, b.Hash(), victim)
	}
	mineHonest()

	gossipCases := []struct {
		name   string
		reason string
		data   func() []byte
		topic  func(e *evilPeer) *pubsub.Topic
	}{
		{"garbage block", "malformed", func() []byte { return []byte("definitely not a block") }, func(e *evilPeer) *pubsub.Topic { return e.blocks }},
		{"garbage tx", "malformed", func() []byte { return []byte{0x01, 0x02} }, func(e *evilPeer) *pubsub.Topic { return e.txs }},
		{"bad pow", string(chain.ErrHighHash), func() []byte {
			return g.Next("evil-pow", parent, chaintest.HighHash()).Bytes()
		}, func(e *evilPeer) *pubsub.Topic { return e.blocks }},
		{"bad merkle root", string(chain.ErrBadMerkleRoot), func() []byte {
			return g.Next("evil-merkle", parent, chaintest.KeepMerkle(),
				chaintest.Mutate(func(b *chain.Block) { b.Txs[0].Memo = []byte("mutated") })).Bytes()
		}, func(e *evilPeer) *pubsub.Topic { return e.blocks }},
		{"bad signature inside", string(chain.ErrBadSignature), func() []byte {
			tx := g.NewTransfer(0, g.Addr(2), 1, 1, 0)
			tx.Sig[40] ^= 0x55
			return g.Next("evil-sig", parent, chaintest.Txs(tx)).Bytes()
		}, func(e *evilPeer) *pubsub.Topic { return e.blocks }},
		{"bad tx signature", string(chain.ErrBadSignature), func() []byte {
			tx := g.NewTransfer(0, g.Addr(2), 1, 1, 0)
			tx.Sig[40] ^= 0x55
			return tx.Bytes()
		}, func(e *evilPeer) *pubsub.Topic { return e.txs }},
	}
	for _, tc := range gossipCases {
		t.Run("gossip "+tc.name, func(t *testing.T) {
			e := newEvilPeer(t, p, nil)
			e.connect(t, victim)
			e.publish(t, victim, tc.topic(e), tc.data())
			expectBanned(t, victim, e, tc.reason)
			mineHonest()
		})
	}

	bigWork := new(big.Int).Lsh(big.NewInt(1), 200)
	statusOK := func(s network.Stream) {
		_ = writeFrame(s, msgStatus, encodeStatus(Status{Version: ProtocolVersion, Genesis: p.GenesisHash, Height: 1e6, ChainWork: bigWork}))
	}
	// The mutated block is built on the victim's tip when its case runs, so
	// its header proves more work than the victim has and gets fetched.
	var mutated *chain.Block
	lowWork := g.Next("evil-low-work", chaintest.GenesisName)
	syncCases := []struct {
		name    string
		reason  string
		handler network.StreamHandler
	}{
		{"malformed status", "malformed", serveFrames(func(s network.Stream, _ byte, _ []byte) {
			_ = writeFrame(s, msgStatus, []byte{1, 2, 3})
		})},
		{"oversized frame", "oversized", serveFrames(func(s network.Stream, _ byte, _ []byte) {
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], 1<<30)
			_, _ = s.Write(append(hdr[:], msgStatus, 0, 0, 0))
		})},
		{"wrong message type", string(ErrUnexpectedMsg), serveFrames(func(s network.Stream, _ byte, _ []byte) {
			_ = writeFrame(s, msgHeaders, encodeHeaders(nil))
		})},
		{"headers that do not connect", "protocol", serveFrames(func(s network.Stream, typ byte, _ []byte) {
			switch typ {
			case msgStatus:
				statusOK(s)
			case msgGetHeaders:
				h := lowWork.Header
				h.PrevBlock = chain.DoubleSHA256([]byte("nowhere"))
				_ = writeFrame(s, msgHeaders, encodeHeaders([]chain.Header{h}))
			}
		})},
		{"other network", "genesis", serveFrames(func(s network.Stream, _ byte, _ []byte) {
			_ = writeFrame(s, msgStatus, encodeStatus(Status{Version: ProtocolVersion, Genesis: chain.DoubleSHA256([]byte("x")), ChainWork: bigWork}))
		})},
		{"headers proving less work than advertised", "protocol", serveFrames(func(s network.Stream, typ byte, _ []byte) {
			switch typ {
			case msgStatus:
				statusOK(s)
			case msgGetHeaders:
				_ = writeFrame(s, msgHeaders, encodeHeaders([]chain.Header{lowWork.Header}))
			case msgGetBlocks:
				_ = writeFrame(s, msgBlock, lowWork.Bytes())
			}
		})},
		{"invalid block by sync", string(chain.ErrBadMerkleRoot), serveFrames(func(s network.Stream, typ byte, _ []byte) {
			switch typ {
			case msgStatus:
				// It claims what its header proves, so the block is fetched.
				info, _ := victim.c.BlockInfo(mutated.Header.PrevBlock)
				work := new(big.Int).Add(info.ChainWork, chain.CalcWork(mutated.Header.Bits))
				_ = writeFrame(s, msgStatus, encodeStatus(Status{Version: ProtocolVersion, Genesis: p.GenesisHash, Height: 1e6, ChainWork: work}))
			case msgGetHeaders:
				_ = writeFrame(s, msgHeaders, encodeHeaders([]chain.Header{mutated.Header}))
			case msgGetBlocks:
				_ = writeFrame(s, msgBlock, mutated.Bytes())
			}
		})},
	}
	for _, tc := range syncCases {
		t.Run("sync "+tc.name, func(t *testing.T) {
			if tc.name == "invalid block by sync" {
				mutated = g.Next("evil-sync-merkle", parent, chaintest.KeepMerkle(),
					chaintest.Mutate(func(b *chain.Block) { b.Txs[0].Memo = []byte("mutated") }))
			}
			e := newEvilPeer(t, p, tc.handler)
			e.connect(t, victim)
			expectBanned(t, victim, e, tc.reason)
			mineHonest()
		})
	}
	if victim.c.IsKnownInvalid(mutated.Hash()) {
		t.Fatal("a mutated body marked its header's hash invalid")
	}
	if victim.c.HaveBlock(lowWork.Hash()) {
		t.Fatal("a block whose headers did not prove more work was fetched and stored")
	}
	if got, want := victim.c.Best().Hash, honest.c.Best().Hash; got != want {
		t.Fatalf("victim tip %s, honest %s", got, want)
	}
	if victim.n.IsBanned(honest.n.ID()) || honest.n.IsBanned(victim.n.ID()) {
		t.Fatal("an honest peer was banned")
	}
}

// TestEvilRequests: a peer whose requests are oversized, from another
// network, or flood the serving side is banned.
func TestEvilRequests(t *testing.T) {
	p := chain.RegtestParams()
	victim := startNode(t, "victim", nil)
	cases := []struct {
		name   string
		reason string
		send   func(ctx context.Context, e *evilPeer) // opens streams to the victim
	}{
		{"oversized request", "oversized", func(ctx context.Context, e *evilPeer) {
			s, err := e.h.NewStream(ctx, victim.n.ID(), SyncProtocolID(p))
			if err != nil {
				return
			}
			defer s.Close()
			_, _ = s.Write([]byte{0x00, 0x10, 0x00, 0x00, msgGetBlocks})
		}},
		{"other genesis", "genesis", func(ctx context.Context, e *evilPeer) {
			s, err := e.h.NewStream(ctx, victim.n.ID(), SyncProtocolID(p))
			if err != nil {
				return
			}
			defer s.Close()
			_ = writeFrame(s, msgStatus, encodeStatus(Status{Version: 1, Genesis: chain.DoubleSHA256([]byte("other")), ChainWork: big.NewInt(1)}))
			_, _, _ = readFrame(s, maxStatusFrame)
		}},
		{"request flood", "rate_limit", func(ctx context.Context, e *evilPeer) {
			// Many concurrent requests: more than a peer may have in flight.
			var wg sync.WaitGroup
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil && !victim.n.IsBanned(e.h.ID()) {
						s, err := e.h.NewStream(ctx, victim.n.ID(), SyncProtocolID(p))
						if err != nil {
							return
						}
						_ = writeFrame(s, msgGetHeaders, encodeGetHeaders(getHeaders{Locator: []chain.Hash{p.GenesisHash}, Max: 1}))
						_, _, _ = readFrame(s, maxHeadersFrame)
						_ = s.Close()
					}
				}()
			}
			wg.Wait()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvilPeer(t, p, nil)
			e.connect(t, victim)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tc.send(ctx, e)
			expectBanned(t, victim, e, tc.reason)
		})
	}
}

// TestFastHonestClientNotBanned: a client that sends sequential requests
// faster than the serving rate is slowed down, not penalised.
func TestFastHonestClientNotBanned(t *testing.T) {
	p := chain.RegtestParams()
	victim := startNode(t, "server", nil)
	e := newEvilPeer(t, p, nil)
	e.connect(t, victim)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range serveBurst + serveRate/2 {
		s, err := e.h.NewStream(ctx, victim.n.ID(), SyncProtocolID(p))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_ = writeFrame(s, msgGetHeaders, encodeGetHeaders(getHeaders{Locator: []chain.Hash{p.GenesisHash}, Max: 1}))
		if typ, _, err := readFrame(s, maxHeadersFrame); err != nil || typ != msgHeaders {
			t.Fatalf("request %d: %d %v", i, typ, err)
		}
		_ = s.Close()
	}
	if victim.n.IsBanned(e.h.ID()) || len(victim.n.Peers()) != 1 || victim.n.Peers()[0].BanScore != 0 {
		t.Fatalf("fast sequential client penalised: %+v", victim.n.Peers())
	}
}

// TestGossipLowWorkBranchIgnored: a peer gossiping valid blocks of a side
// branch lighter than our tip (cheap to mine near the PoW limit) gets them
// ignored: not stored, and the peer is not punished.
func TestGossipLowWorkBranchIgnored(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	victim := startNode(t, "victim", nil)
	parent := chaintest.GenesisName
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("m%d", i)
		g.Next(name, parent)
		g.AcceptAll(t, victim.c, name)
		parent = name
	}
	side := g.Next("side1", chaintest.GenesisName) // 1 block vs the victim's 3
	e := newEvilPeer(t, p, nil)
	e.connect(t, victim)
	ignored := func() float64 {
		return testutil.ToFloat64(victim.n.m.gossipReceived.WithLabelValues(topicBlocks, resultIgnore))
	}
	before := ignored()
	e.publish(t, victim, e.blocks, side.Bytes())
	testkit.WaitFor(t, 10*time.Second, "the block judged", func() bool { return ignored() > before })
	if victim.c.HaveBlock(side.Hash()) {
		t.Fatal("a low-work side-branch block from gossip was stored")
	}
	if victim.n.IsBanned(e.h.ID()) {
		t.Fatal("the sender of a valid low-work block was banned")
	}
}

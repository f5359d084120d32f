package p2p

import (
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// TestPushReachesOnePeerAndIsRelayed: a block pushed to one peer becomes
// its tip, and that peer relays it on gossip to its own neighbour, which
// the pusher is not connected to. Status rounds are an hour apart, so the
// block can only travel by push and gossip.
func TestPushReachesOnePeerAndIsRelayed(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	hour := withStatusInterval(time.Hour)
	a := startNode(t, "a", nil, hour)
	b := startNode(t, "b", nil, hour, withBootnodes(a))
	c := startNode(t, "c", nil, hour, withBootnodes(b))
	waitMesh(t, []*testNode{a, c}, 1)
	waitMesh(t, []*testNode{b}, 2)
	if got := a.n.PeerIDs(); len(got) != 1 || got[0] != b.n.ID() {
		t.Fatalf("a's peers %v, want only b", got)
	}

	x := g.Next("x", chaintest.GenesisName)
	if _, err := a.c.ProcessBlock(x); err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t, 10*time.Second)
	if err := a.n.SendBlock(ctx, b.n.ID(), x); err != nil {
		t.Fatal(err)
	}
	// SendBlock returns once b has judged the block.
	if b.c.Best().Hash != x.Hash() {
		t.Fatalf("b's tip %s after the push, want %s", b.c.Best().Hash, x.Hash())
	}
	waitTip(t, 10*time.Second, x.Hash(), c)
	if v := testutil.ToFloat64(b.n.m.pushesReceived.WithLabelValues(resultAccept)); v != 1 {
		t.Errorf("b counted %v accepted pushes, want 1", v)
	}
	if v := testutil.ToFloat64(a.n.m.pushesSent.WithLabelValues(resultOK)); v != 1 {
		t.Errorf("a counted %v pushes sent, want 1", v)
	}

	// A duplicate push is ignored, not punished.
	if err := a.n.SendBlock(ctx, b.n.ID(), x); err != nil {
		t.Fatal(err)
	}
	if v := testutil.ToFloat64(b.n.m.pushesReceived.WithLabelValues(resultIgnore)); v != 1 {
		t.Errorf("b counted %v ignored pushes, want 1", v)
	}
	for _, pi := range b.n.Peers() {
		if pi.BanScore != 0 {
			t.Errorf("peer %s has score %d after honest pushes", pi.ID, pi.BanScore)
		}
	}

	// Pushing needs a connection: no dial.
	if err := a.n.SendBlock(ctx, c.n.ID(), x); !isErr(err, ErrNotConnected) {
		t.Errorf("push to an unconnected peer: %v", err)
	}
	if err := a.n.SendBlock(ctx, a.n.ID(), x); !isErr(err, ErrSelf) {
		t.Errorf("push to itself: %v", err)
	}
}

// TestSendBlockEndsWithCtx: SendBlock is bounded by its context, not only
// by RequestTimeout: when the context is cancelled while the receiver holds
// the stream without judging the block, SendBlock resets the stream and
// returns an error at once.
func TestSendBlockEndsWithCtx(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	a := startNode(t, "a", nil, func(c *Config) { c.RequestTimeout = time.Hour })
	e := newEvilPeer(t, p, nil)
	held := make(chan struct{})
	release := make(chan struct{})
	e.h.SetStreamHandler(PushProtocolID(p), func(s network.Stream) {
		_, _ = io.Copy(io.Discard, s) // the block, then the sender's EOF
		close(held)
		<-release // never judges the block
		_ = s.Reset()
	})
	t.Cleanup(func() { close(release) }) // before the evil host closes
	e.connect(t, a)
	testkit.WaitFor(t, 10*time.Second, "a connected to the receiver", func() bool {
		return a.n.host().Network().Connectedness(e.h.ID()) == network.Connected
	})

	bound := testkit.Context(t, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.n.SendBlock(ctx, e.h.ID(), g.Next("x", chaintest.GenesisName)) }()
	select {
	case <-held:
	case err := <-done:
		t.Fatalf("SendBlock returned %v before the receiver held the stream", err)
	case <-bound.Done():
		t.Fatal("the receiver never got the push")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("SendBlock succeeded although the block was never judged")
		}
	case <-bound.Done():
		t.Fatal("SendBlock still waits after its context was cancelled")
	}
	if v := testutil.ToFloat64(a.n.m.pushesSent.WithLabelValues(resultError)); v != 1 {
		t.Errorf("a counted %v failed pushes, want 1", v)
	}
}

// TestPushJunkIsPenalised: a peer that pushes an oversized, empty,
// mistyped or undecodable frame, or an invalid block, is banned and
// dropped, and the invalid block is not stored; a push cut short (a
// transport failure) is not punished. The victim keeps accepting pushes
// from others.
func TestPushJunkIsPenalised(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	victim := startNode(t, "victim", nil)

	header := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	badMerkle := g.Next("bad-merkle", chaintest.GenesisName, chaintest.KeepMerkle(),
		chaintest.Mutate(func(b *chain.Block) { b.Txs[0].Memo = []byte("mutated") }))
	cases := []struct {
		name, reason string
		data         []byte
	}{
		{"oversized frame", "oversized", header(1 << 30)},
		{"empty frame", "malformed", header(0)},
		{"wrong frame type", "malformed", newFrame(msgStatus, encodeStatus(Status{Version: ProtocolVersion, Genesis: p.GenesisHash}))},
		{"garbage block", "malformed", newFrame(msgBlock, []byte("definitely not a block"))},
		{"invalid block", string(chain.ErrBadMerkleRoot), newFrame(msgBlock, badMerkle.Bytes())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEvilPeer(t, p, nil)
			e.connect(t, victim)
			e.push(t, victim, tc.data)
			expectBanned(t, victim, e, tc.reason)
		})
	}
	if victim.c.HaveBlock(badMerkle.Hash()) {
		t.Error("the victim stored the invalid pushed block")
	}

	t.Run("truncated frame", func(t *testing.T) {
		e := newEvilPeer(t, p, nil)
		e.connect(t, victim)
		e.push(t, victim, append(header(100), msgBlock, 1, 2, 3))
		x := g.Next("after-junk", chaintest.GenesisName)
		e.push(t, victim, newFrame(msgBlock, x.Bytes()))
		if victim.c.Best().Hash != x.Hash() {
			t.Fatalf("the victim's tip is %s after a valid push, want %s", victim.c.Best().Hash, x.Hash())
		}
		if victim.n.IsBanned(e.h.ID()) {
			t.Fatal("a push cut short got its sender banned")
		}
		for _, pi := range victim.n.Peers() {
			if pi.ID == e.h.ID() && pi.BanScore != 0 {
				t.Fatalf("score %d for a push cut short", pi.BanScore)
			}
		}
	})
}

// push writes data on a block-push stream to the victim and waits until
// the victim has closed or reset the stream (it has then judged the push).
func (e *evilPeer) push(t *testing.T, victim *testNode, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.h.NewStream(ctx, victim.n.ID(), PushProtocolID(victim.n.cfg.Params))
	if err != nil {
		t.Fatalf("push stream: %v", err)
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = s.Write(data)
	_ = s.CloseWrite()
	_, _ = io.Copy(io.Discard, s)
	_ = s.Close()
}

// TestPushRateLimited: pushes count against the serving limits; a push
// beyond the peer's concurrent requests is refused and costs 5 points.
func TestPushRateLimited(t *testing.T) {
	p := chain.RegtestParams()
	victim := startNode(t, "victim", nil)
	e := newEvilPeer(t, p, nil)
	e.connect(t, victim)
	ctx := testkit.Context(t, 10*time.Second)
	open := func() network.Stream {
		s, err := e.h.NewStream(ctx, victim.n.ID(), PushProtocolID(p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write([]byte{0}); err != nil { // a frame header begun: the handler waits for the rest
			t.Fatal(err)
		}
		return s
	}
	var held []network.Stream
	for range serveInflight {
		held = append(held, open())
	}
	testkit.WaitFor(t, 10*time.Second, "the victim holds the peer's pushes", func() bool {
		victim.n.set.mu.Lock()
		defer victim.n.set.mu.Unlock()
		ps := victim.n.set.peers[e.h.ID()]
		return ps != nil && ps.inflight == serveInflight
	})
	extra := open()
	testkit.WaitFor(t, 10*time.Second, "the push beyond the limit penalised", func() bool {
		for _, pi := range victim.n.Peers() {
			if pi.ID == e.h.ID() {
				return pi.BanScore == penaltyRateLimit
			}
		}
		return false
	})
	if v := testutil.ToFloat64(victim.n.m.pushesReceived.WithLabelValues(resultLimited)); v != 1 {
		t.Errorf("%v rate-limited pushes counted, want 1", v)
	}
	for _, s := range append(held, extra) {
		_ = s.Reset()
	}
}

package p2p

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/multiformats/go-multiaddr"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

func connected(a, b *testNode) bool {
	h := a.n.host()
	return h != nil && h.Network().Connectedness(b.n.ID()) == network.Connected
}

// TestBanUnban: a ban disconnects the peer and survives its redials; unban
// lets the redial loop reconnect it.
func TestBanUnban(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil, withBootnodes(a))
	testkit.WaitFor(t, 10*time.Second, "connected", func() bool { return connected(a, b) && connected(b, a) })

	if err := a.n.Ban(a.n.ID(), 0, ""); !isErr(err, ErrSelf) {
		t.Fatalf("ban self: %v", err)
	}
	before := time.Now()
	if err := a.n.Ban(b.n.ID(), 0, "operator"); err != nil {
		t.Fatal(err)
	}
	bans := a.n.ListBans()
	if len(bans) != 1 || bans[0].ID != b.n.ID() || bans[0].Reason != "operator" ||
		bans[0].Until.Before(before.Add(DefaultBanDuration-time.Minute)) {
		t.Fatalf("bans = %+v", bans)
	}
	testkit.WaitFor(t, 10*time.Second, "disconnected", func() bool { return !connected(a, b) && !connected(b, a) })
	// b keeps redialling (a is its bootnode) and is refused every time.
	refused := func() float64 { return counterValue(t, a.n.m.refused.WithLabelValues(refusedBanned)) }
	base := refused()
	testkit.WaitFor(t, 10*time.Second, "refused redials", func() bool { return refused() >= base+2 })
	if connected(a, b) {
		t.Fatal("banned peer reconnected")
	}
	if !a.n.Unban(b.n.ID()) || a.n.Unban(b.n.ID()) {
		t.Fatal("Unban should report true once")
	}
	testkit.WaitFor(t, 10*time.Second, "reconnected after unban", func() bool { return connected(a, b) })

	_ = a.n.Ban(b.n.ID(), time.Hour, "again")
	a.n.ClearBans()
	if len(a.n.ListBans()) != 0 {
		t.Fatal("ClearBans left bans")
	}
	testkit.WaitFor(t, 10*time.Second, "reconnected after clear", func() bool { return connected(a, b) })
}

// TestNetworkActive: switching the network off closes every connection and
// refuses redials; switching it on reconnects.
func TestNetworkActive(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil, withBootnodes(a))
	c := startNode(t, "c", nil, withBootnodes(a))
	testkit.WaitFor(t, 10*time.Second, "connected", func() bool { return a.n.ConnectionCount() == 2 })
	a.n.SetNetworkActive(false)
	if a.n.NetworkActive() {
		t.Fatal("still active")
	}
	testkit.WaitFor(t, 10*time.Second, "all closed", func() bool { return a.n.ConnectionCount() == 0 })
	refused := func() float64 { return counterValue(t, a.n.m.refused.WithLabelValues(refusedInactive)) }
	base := refused()
	testkit.WaitFor(t, 10*time.Second, "refused redials", func() bool { return refused() >= base+2 })
	if a.n.ConnectionCount() != 0 {
		t.Fatal("inactive node accepted a connection")
	}
	a.n.SetNetworkActive(true)
	testkit.WaitFor(t, 10*time.Second, "reconnected", func() bool { return connected(a, b) && connected(a, c) })
}

// TestAddPeerDisconnectPeerInfo covers AddPeer, Peers and DisconnectPeer,
// over QUIC only.
func TestAddPeerDisconnectPeerInfo(t *testing.T) {
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	a := startNode(t, "a", nil)
	c := startNode(t, "c", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.n.AddPeer(ctx, "/ip4/127.0.0.1/tcp/1"); !isErr(err, ErrBadPeerAddr) {
		t.Fatalf("AddPeer without /p2p: %v", err)
	}
	var quicAddr string
	for _, ma := range a.n.Addrs() {
		if strings.Contains(ma.String(), "/quic-v1/") {
			quicAddr = ma.String()
		}
	}
	if quicAddr == "" {
		t.Fatalf("no QUIC address in %v", a.n.Addrs())
	}
	if err := c.n.AddPeer(ctx, quicAddr); err != nil {
		t.Fatalf("AddPeer(%s): %v", quicAddr, err)
	}
	b := mine(t, g, a, "b1", chaintest.GenesisName)
	waitTip(t, 10*time.Second, b.Hash(), c)
	testkit.WaitFor(t, 10*time.Second, "peer info with status and traffic", func() bool {
		ps := c.n.Peers()
		return len(ps) == 1 && ps[0].HasStatus && ps[0].TipHash == b.Hash() && ps[0].BytesIn > 0 && ps[0].AgentVersion != ""
	})
	pi := c.n.Peers()[0]
	if pi.ID != a.n.ID() || pi.Inbound || !pi.Static || pi.TipHeight != 1 || pi.TipWork.Sign() <= 0 ||
		len(pi.Addrs) == 0 || pi.BytesIn == 0 || pi.BytesOut == 0 || pi.ConnectedSince.IsZero() ||
		!strings.HasPrefix(pi.AgentVersion, "quarry/") {
		t.Fatalf("peer info %+v", pi)
	}
	if ai := a.n.Peers(); len(ai) != 1 || !ai[0].Inbound || ai[0].Static {
		t.Fatalf("a's view %+v", ai)
	}

	before := counterValue(t, c.n.m.dials.WithLabelValues(resultOK))
	if err := c.n.DisconnectPeer(a.n.ID()); err != nil {
		t.Fatal(err)
	}
	// a is static for c: the redial loop brings it back.
	testkit.WaitFor(t, 10*time.Second, "redialled", func() bool {
		return connected(c, a) && counterValue(t, c.n.m.dials.WithLabelValues(resultOK)) > before
	})
	if !c.n.RemovePeer(a.n.ID()) || c.n.RemovePeer(a.n.ID()) {
		t.Fatal("RemovePeer should report true once")
	}
	if err := c.n.DisconnectPeer(c.n.ID()); !isErr(err, ErrNotConnected) {
		t.Fatalf("disconnect unknown: %v", err)
	}
}

// TestPartitionAPI: Partition blocks both directions and closes the
// connections; Heal redials even peers that were only inbound.
func TestPartitionAPI(t *testing.T) {
	a := startNode(t, "a", nil)
	b := startNode(t, "b", nil, withBootnodes(a))
	// Wait for identify: a learns b's listen addresses from it.
	testkit.WaitFor(t, 10*time.Second, "connected and identified", func() bool {
		ps := a.n.Peers()
		return connected(a, b) && len(ps) == 1 && ps[0].AgentVersion != ""
	})
	// a only knows b as an inbound peer; b stops redialling a.
	b.n.RemovePeer(a.n.ID())
	a.n.Partition(ids(b))
	if got := a.n.Partitioned(); len(got) != 1 || got[0] != b.n.ID() {
		t.Fatalf("Partitioned = %v", got)
	}
	testkit.WaitFor(t, 10*time.Second, "split", func() bool { return !connected(a, b) && !connected(b, a) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.n.AddPeer(ctx, a.n.Addrs()[0].String()); err == nil && connected(a, b) {
		t.Fatal("partitioned peer connected")
	}
	b.n.RemovePeer(a.n.ID())
	a.n.Heal()
	testkit.WaitFor(t, 10*time.Second, "healed", func() bool { return connected(a, b) })
	if len(a.n.Partitioned()) != 0 {
		t.Fatal("partition set not empty after heal")
	}
}

// TestLifecycleErrors: methods that need the host fail before Run; Run
// twice fails; the identity key persists with mode 0600.
func TestLifecycleErrors(t *testing.T) {
	dir := t.TempDir()
	c := chaintest.NewChain(t, chain.RegtestParams(), nil)
	n, err := New(Config{Chain: c, DataDir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := n.PublishBlock(ctx, c.Params().GenesisBlock); !isErr(err, ErrNotRunning) {
		t.Fatalf("publish before Run: %v", err)
	}
	if err := n.DisconnectPeer(n.ID()); !isErr(err, ErrNotRunning) {
		t.Fatalf("disconnect before Run: %v", err)
	}
	if n.Addrs() != nil || n.Peers() != nil || n.ConnectionCount() != 0 {
		t.Fatal("host state before Run")
	}
	st, err := os.Stat(filepath.Join(dir, keyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, st.Mode())
	}
	n2, err := New(Config{Chain: c, DataDir: dir, ListenAddr: "127.0.0.1:0"})
	if err != nil || n2.ID() != n.ID() {
		t.Fatalf("reloaded identity %v, %v (want %v)", n2.ID(), err, n.ID())
	}

	for _, bad := range []Config{
		{},
		{Chain: c, ListenAddr: "nonsense"},
		{Chain: c, ListenAddr: "localhost:1"},
		{Chain: c, ListenAddr: "127.0.0.1:0", Bootnodes: []string{"/ip4/1.2.3.4/tcp/1"}},
	} {
		if _, err := New(bad); !isErr(err, ErrBadConfig) {
			t.Errorf("New(%+v): %v, want ErrBadConfig", bad, err)
		}
	}

	tn := startNode(t, "x", nil)
	if err := tn.n.Run(ctx); !isErr(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
	// TCP and QUIC share the port even when it was picked at random.
	var tcpPort, udpPort string
	for _, a := range tn.n.Addrs() {
		if v, err := a.ValueForProtocol(multiaddr.P_TCP); err == nil {
			tcpPort = v
		}
		if v, err := a.ValueForProtocol(multiaddr.P_UDP); err == nil {
			udpPort = v
		}
	}
	if tcpPort == "" || tcpPort != udpPort {
		t.Fatalf("tcp port %q, udp port %q in %v", tcpPort, udpPort, tn.n.Addrs())
	}
}

// TestMDNSStartsAndStops: with mDNS switched on the node runs and shuts
// down cleanly (discovery itself needs multicast, which tests do not rely on).
func TestMDNSStartsAndStops(t *testing.T) {
	tn := startNode(t, "mdns", nil, func(c *Config) { c.MDNS = true })
	tn.stop(t)
}

package p2p

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/quarrychain/quarry/chain/testkit"
)

// TestNoQUICAndAnnounceNone: a node with NoQUIC listens on TCP only, and
// with an empty Announce it tells its peers no address at all: a peer
// that reached it keeps only the address it dialled, never a direct
// listen address learnt through identify. Ping round trips are measured
// and reported.
func TestNoQUICAndAnnounceNone(t *testing.T) {
	hidden := startNode(t, "hidden", nil, func(c *Config) { c.NoQUIC, c.Announce = true, []string{} })
	h := hidden.n.host()
	listen := h.Network().ListenAddresses()
	if len(listen) != 1 {
		t.Fatalf("listen addresses %v, want TCP only", listen)
	}
	if _, err := listen[0].ValueForProtocol(multiaddr.P_TCP); err != nil {
		t.Fatalf("listen address %s is not TCP", listen[0])
	}
	if a := hidden.n.Addrs(); len(a) != 0 {
		t.Fatalf("announces %v", a)
	}
	// The other node reaches it through a TCP forwarder, as a lab node
	// reaches its neighbour through the link's proxy.
	port, _ := listen[0].ValueForProtocol(multiaddr.P_TCP)
	fwd := forward(t, "127.0.0.1:"+port)
	dialAddr, _ := multiaddr.NewMultiaddr("/ip4/127.0.0.1/tcp/" + fwd)
	dial := dialAddr.String() + "/p2p/" + hidden.n.ID().String()
	other := startNode(t, "other", nil, withStatusInterval(100*time.Millisecond), func(c *Config) { c.Bootnodes = []string{dial} })
	testkit.WaitFor(t, 20*time.Second, "a ping round trip", func() bool {
		for _, p := range other.n.Peers() {
			if p.ID == hidden.n.ID() && p.PingTime > 0 {
				return true
			}
		}
		return false
	})
	// Identify has run (the ping needs an open stream after it); the
	// peerstore holds the dialled address and nothing else.
	for _, a := range other.n.host().Peerstore().Addrs(hidden.n.ID()) {
		if !a.Equal(dialAddr) {
			t.Errorf("the peer learnt address %s of the hidden node", a)
		}
	}

	if err := CheckAnnounceAddrs([]string{"127.0.0.1:1"}); !isErr(err, ErrBadConfig) {
		t.Errorf("bad announce address: %v", err)
	}
	if err := CheckAnnounceAddrs([]string{"/ip4/192.0.2.1/tcp/7733"}); err != nil {
		t.Error(err)
	}
}

// forward runs a TCP forwarder to upstream on a loopback port until the
// test ends and returns the port.
func forward(t *testing.T, upstream string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(u, c); u.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, u); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

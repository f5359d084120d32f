package p2p

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"

	"github.com/quarrychain/quarry/chain/testkit"
)

// TestListenPortInUse: when the TCP or the UDP (QUIC) side of the listen
// port is taken, by another program or by another node, Run fails at once
// with a one-line error naming the address and transport, and returns
// (TestMain checks that nothing is left running). Before, libp2p accepted
// the half that worked and the node ran on one transport without a word.
func TestListenPortInUse(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold func(t *testing.T) string // returns host:port
		want string
	}{
		{"tcp taken", func(t *testing.T) string { return testkit.HoldTCP(t) }, "(tcp)"},
		{"udp taken", func(t *testing.T) string { return testkit.HoldUDP(t) }, "(udp, QUIC)"},
		{"another node", func(t *testing.T) string {
			first := runHostTest(t, "127.0.0.1:0")
			return hostPort(t, first)
		}, "address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.hold(t)
			n, err := New(Config{Chain: chaintest.NewChain(t, chain.RegtestParams(), nil), ListenAddr: addr})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err = n.Run(ctx)
			if !errors.Is(err, ErrListen) || !errors.Is(err, syscall.EADDRINUSE) || ctx.Err() != nil {
				t.Fatalf("Run with %s in use: %v, want ErrListen and EADDRINUSE at once", addr, err)
			}
			msg := err.Error()
			t.Logf("Run: %s", msg)
			if !strings.Contains(msg, "cannot listen on "+addr) || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and %q", msg, addr, tc.want)
			}
		})
	}
}

// TestListenFixedPortBothTransports: with a free fixed port the node
// listens on TCP and QUIC on that port.
func TestListenFixedPortBothTransports(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // free again: the node takes it (a race with other programs is unlikely on loopback)
	n := runHostTest(t, addr)
	_, port, _ := net.SplitHostPort(addr)
	var tcp, quic bool
	for _, a := range n.host().Network().ListenAddresses() {
		s := a.String()
		tcp = tcp || strings.HasSuffix(s, "/tcp/"+port)
		quic = quic || strings.HasSuffix(s, "/udp/"+port+"/quic-v1")
	}
	if !tcp || !quic {
		t.Fatalf("listening on %v, want TCP and QUIC on port %s", n.host().Network().ListenAddresses(), port)
	}
}

// runHostTest runs a node listening on addr until the test ends.
func runHostTest(t *testing.T, addr string) *Node {
	t.Helper()
	n, err := New(Config{Chain: chaintest.NewChain(t, chain.RegtestParams(), nil), ListenAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("node did not stop within 20s")
		}
	})
	select {
	case <-n.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("node not ready within 20s")
	}
	return n
}

// hostPort returns the loopback host:port a running node listens on (TCP).
func hostPort(t *testing.T, n *Node) string {
	t.Helper()
	for _, a := range n.host().Network().ListenAddresses() {
		if p, err := a.ValueForProtocol(multiaddr.P_TCP); err == nil {
			return net.JoinHostPort("127.0.0.1", p)
		}
	}
	t.Fatal("node has no TCP listener")
	return ""
}

package testkit

import (
	"net"
	"testing"
)

// HoldTCP occupies a loopback TCP port until the test ends and returns its
// host:port, for tests of what a listener does when its port is taken.
func HoldTCP(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String()
}

// HoldUDP occupies a loopback UDP port whose TCP twin is free until the
// test ends and returns its host:port: a listener that binds TCP and then
// QUIC on the same port gets past TCP and fails on UDP.
func HoldUDP(t testing.TB) string {
	t.Helper()
	for range 100 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		// The same TCP port must be free, or the TCP listener fails first.
		if ln, err := net.Listen("tcp", addr); err == nil {
			_ = ln.Close()
			t.Cleanup(func() { _ = pc.Close() })
			return addr
		}
		_ = pc.Close()
	}
	t.Fatal("no UDP port whose TCP twin is free")
	return ""
}

package lab

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"testing"
	"time"
)

// echoServer accepts connections on a loopback port and echoes each line.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// roundTrip sends a line through c and waits for its echo.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader) time.Duration {
	t.Helper()
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// TestProxyServer: a link's delay applies in both directions (a round
// trip takes at least twice the delay), a cut closes the connection and
// refuses new ones, and the link comes back with its conditions.
func TestProxyServer(t *testing.T) {
	const delay = 40 * time.Millisecond
	echo := echoServer(t)
	free, err := allocateFreePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	links := []Link{{A: 0, B: 1, Ports: [2]int{free[0], free[1]}}}
	// Both nodes are the echo server.
	srv, err := NewProxyServer(links, []int{echo, echo}, loopback(free[2]), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-srv.Ready()
	pc := ProxyClient{Addr: srv.Addr()}
	d := delay
	if err := pc.Set(ctx, Link{A: 0, B: 1, Delay: d}); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", loopback(free[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	if rtt := roundTrip(t, c, r); rtt < 2*delay {
		t.Fatalf("round trip %s through a %s link", rtt, delay)
	}
	got, err := pc.Links(ctx)
	if err != nil || len(got) != 1 || got[0].Delay != delay || got[0].Ports != links[0].Ports {
		t.Fatalf("links %+v, %v", got, err)
	}

	if err := pc.Set(ctx, Link{A: 1, B: 0, Delay: d, Down: true}); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection through a cut link still open: %v", err)
	}
	if c2, err := net.Dial("tcp", loopback(free[0])); err == nil {
		c2.Close()
		t.Fatal("dial through a cut link succeeded")
	}

	if err := pc.Set(ctx, Link{A: 0, B: 1, Delay: d}); err != nil {
		t.Fatal(err)
	}
	c3, err := net.Dial("tcp", loopback(free[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if rtt := roundTrip(t, c3, bufio.NewReader(c3)); rtt < 2*delay {
		t.Fatalf("round trip %s after the link came back", rtt)
	}
	if err := pc.Set(ctx, Link{A: 0, B: 2}); err == nil {
		t.Fatal("a link outside the topology was accepted")
	}
	if _, err := NewProxyServer(links, []int{1, echo}, "0.0.0.0:"+strconv.Itoa(free[2]), nil); err == nil {
		t.Fatal("a non-loopback control address was accepted")
	}
}

package rpc_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// slowUpload opens a connection to addr, sends the headers of an
// authenticated POST announcing a body of bodyLen bytes and the first sent
// bytes of it, and leaves the rest unsent. The connection is closed when the
// test ends.
func slowUpload(t *testing.T, addr string, bodyLen int, sent string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	head := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		addr, basicAuth(testUser, testPass), bodyLen)
	if _, err := c.Write([]byte(head + sent)); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSlowBodiesDoNotTakeWorkSlots opens more slow uploads than there are
// work slots (the default 16; each upload has sent one byte of its body and
// sends nothing more),
// waits until the server is handling every one of them, and checks that a
// normal request is still served at once and that no slow upload was refused
// as busy: bodies are read before a work slot is taken.
func TestSlowBodiesDoNotTakeWorkSlots(t *testing.T) {
	const slow = rpc.DefaultMaxConcurrent + 4
	reg := prometheus.NewRegistry()
	s := newServer(t, rpctest.New(), func(c *rpc.Config) {
		c.Registerer = reg
		c.BodyTimeout = time.Minute // longer than the test: only the client ends them
	})
	url := runServer(t, s)
	addr := strings.TrimPrefix(url, "http://")
	for range slow {
		slowUpload(t, addr, len(countReq), countReq[:1])
	}
	// Every slow upload is reading its body, holding a work slot, or was
	// refused as busy; wait until all of them have reached the server.
	testkit.WaitFor(t, 10*time.Second, "slow bodies being read", func() bool {
		return gaugeValue(t, reg, "quarry_rpc_request_bodies_reading")+
			gaugeValue(t, reg, "quarry_rpc_requests_in_flight")+
			sumFamily(t, reg, "quarry_rpc_http_rejected_total", map[string]string{"reason": "busy"}) >= slow
	})
	if st, body, _ := httpPost(t, url, basicAuth(testUser, testPass), countReq); st != http.StatusOK {
		t.Fatalf("normal request while %d uploads trickle: %d %q", slow, st, body)
	}
	if n := sumFamily(t, reg, "quarry_rpc_http_rejected_total", map[string]string{"reason": "busy"}); n != 0 {
		t.Fatalf("%v slow uploads refused as busy", n)
	}
	if n := gaugeValue(t, reg, "quarry_rpc_request_bodies_reading"); n != slow {
		t.Fatalf("%v bodies reading, want %d", n, slow)
	}
}

// TestSlowBodyTimeout checks that a body that stops arriving is answered
// 408 after BodyTimeout and stops counting as being read.
func TestSlowBodyTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, rpctest.New(), func(c *rpc.Config) {
		c.Registerer = reg
		c.BodyTimeout = 50 * time.Millisecond
	})
	url := runServer(t, s)
	c := slowUpload(t, strings.TrimPrefix(url, "http://"), len(countReq), countReq[:1])
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: status %d, want 408", resp.StatusCode)
	}
	testkit.WaitFor(t, 10*time.Second, "no body being read", func() bool { return gaugeValue(t, reg, "quarry_rpc_request_bodies_reading") == 0 })
	if n := sumFamily(t, reg, "quarry_rpc_http_rejected_total", map[string]string{"reason": "body_timeout"}); n != 1 {
		t.Fatalf("body_timeout rejections %v, want 1", n)
	}
}

// TestBodyBufferBudget checks that the bytes buffered for request bodies are
// bounded across requests: while one upload holds the whole budget, another
// request is refused as busy at once, and it is served once the upload is
// gone.
func TestBodyBufferBudget(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServer(t, rpctest.New(), func(c *rpc.Config) {
		c.Registerer = reg
		c.MaxBodyBuffer = 4096
		c.BodyTimeout = time.Minute
	})
	url := runServer(t, s)
	// 3000 bytes received of 5000: the buffer has grown to 4096 bytes.
	c := slowUpload(t, strings.TrimPrefix(url, "http://"), 5000, strings.Repeat(" ", 3000))
	testkit.WaitFor(t, 10*time.Second, "4096 bytes of body buffer", func() bool { return gaugeValue(t, reg, "quarry_rpc_request_body_buffer_bytes") == 4096 })
	st, body, _ := httpPost(t, url, basicAuth(testUser, testPass), countReq)
	if st != http.StatusServiceUnavailable || !strings.Contains(body, "Work queue depth exceeded") {
		t.Fatalf("request over the body budget: %d %q, want 503", st, body)
	}
	_ = c.Close()
	testkit.WaitFor(t, 10*time.Second, "an empty body buffer", func() bool { return gaugeValue(t, reg, "quarry_rpc_request_body_buffer_bytes") == 0 })
	if st, body, _ := httpPost(t, url, basicAuth(testUser, testPass), countReq); st != http.StatusOK {
		t.Fatalf("after the upload left: %d %q", st, body)
	}
}

// TestDeclaredOversizedBody checks that a Content-Length beyond
// MaxBodyBytes is answered 413 at once, without waiting for the body.
func TestDeclaredOversizedBody(t *testing.T) {
	s := newServer(t, rpctest.New(), func(c *rpc.Config) {
		c.MaxBodyBytes = 1024
		c.BodyTimeout = time.Minute
	})
	url := runServer(t, s)
	c := slowUpload(t, strings.TrimPrefix(url, "http://"), 1<<20, "{")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to an oversized upload: %v", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("oversized upload: status %d, close %v; want 413 and close", resp.StatusCode, resp.Close)
	}
}

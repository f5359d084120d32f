package rpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

func TestBodyLimit(t *testing.T) {
	s := newServer(t, rpctest.New(), func(c *rpc.Config) { c.MaxBodyBytes = 1024 })
	big := `{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":[],"pad":"` + strings.Repeat("x", 2048) + `"}`
	if st, _ := post(t, s.Handler(), big); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: status %d, want 413", st)
	}
	if st, _ := post(t, s.Handler(), countReq); st != http.StatusOK {
		t.Fatalf("small body: status %d", st)
	}
}

func TestBatchLimit(t *testing.T) {
	s := newServer(t, rpctest.New(), func(c *rpc.Config) { c.MaxBatch = 3 })
	batch := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"getblockcount"}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	st, body := post(t, s.Handler(), batch(3))
	var replies []rpcjson.Response
	if st != 200 || json.Unmarshal([]byte(body), &replies) != nil || len(replies) != 3 {
		t.Fatalf("batch of 3: %d %s", st, body)
	}
	st, body = post(t, s.Handler(), batch(4))
	var r rpcjson.Response
	if st != http.StatusBadRequest || json.Unmarshal([]byte(body), &r) != nil || r.Error == nil || r.Error.Code != rpcjson.CodeInvalidRequest {
		t.Fatalf("batch of 4: %d %s", st, body)
	}
}

// TestConcurrencyLimit holds the only request slot with waitfornewblock,
// checks that the next request is refused with 503, then releases it by
// mining a block.
func TestConcurrencyLimit(t *testing.T) {
	f := rpctest.New()
	s := newServer(t, f, func(c *rpc.Config) { c.MaxConcurrent = 1 })
	url := runServer(t, s)
	auth := basicAuth(testUser, testPass)

	type result struct {
		status int
		body   string
	}
	held := make(chan result, 1)
	// The tip it waits to change is named: holding the slot does not mean
	// the handler has read the tip yet, and the block mined below could
	// otherwise become the tip it waits past.
	waitReq := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"waitfornewblock","params":[0,%q]}`, f.Tip().Hash)
	go func() {
		// Retry while the main loop's short request has the slot.
		for {
			st, body, _, err := tryPost(url, auth, waitReq)
			if err != nil || st != http.StatusServiceUnavailable {
				if err != nil {
					body = err.Error()
				}
				held <- result{st, body}
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body, _ := httpPost(t, url, auth, countReq)
		if st == http.StatusServiceUnavailable {
			if !strings.Contains(body, "Work queue depth exceeded") {
				t.Errorf("503 body %q", body)
			}
			break
		}
		if st != http.StatusOK {
			t.Fatalf("status %d %s", st, body)
		}
		if time.Now().After(deadline) {
			t.Fatal("never saw 503 while the only slot was held")
		}
		select {
		case r := <-held:
			t.Fatalf("waitfornewblock returned early: %v", r)
		default:
		}
	}
	b := f.MineBlock()
	select {
	case r := <-held:
		var resp struct {
			Result rpcjson.BlockRef `json:"result"`
		}
		if r.status != 200 || json.Unmarshal([]byte(r.body), &resp) != nil || resp.Result.Hash != b.Hash() || resp.Result.Height != 6 {
			t.Fatalf("waitfornewblock: %d %s, want block %s", r.status, r.body, b.Hash())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("waitfornewblock not woken by the new block")
	}
	if st, body, _ := httpPost(t, url, auth, countReq); st != 200 || !strings.Contains(body, `"result":6`) {
		t.Fatalf("after release: %d %s", st, body)
	}
}

// TestShutdownDrains cancels Run while a long request is in flight: the
// request still gets its answer and Run returns.
func TestShutdownDrains(t *testing.T) {
	f := rpctest.New()
	reg := prometheus.NewRegistry()
	s := newServer(t, f, func(c *rpc.Config) { c.Registerer = reg })
	url, stop := runServerStop(t, s)
	held := make(chan string, 1)
	go func() {
		_, body, _, err := tryPost(url, basicAuth(testUser, testPass), `{"jsonrpc":"2.0","id":1,"method":"waitfornewblock","params":[0]}`)
		if err != nil {
			body = err.Error()
		}
		held <- body
	}()
	testkit.WaitFor(t, 10*time.Second, "one request in flight", func() bool { return gaugeValue(t, reg, "quarry_rpc_requests_in_flight") == 1 })
	stop()
	select {
	case body := <-held:
		if !strings.Contains(body, f.Tip().Hash.String()) {
			t.Fatalf("drained request got %q", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request not answered at shutdown")
	}
	if f.Subscribers() != 0 {
		t.Fatal("event subscription not closed at shutdown")
	}
}

func TestStopCallsOnStop(t *testing.T) {
	var calls atomic.Int32
	s := newServer(t, rpctest.New(), func(c *rpc.Config) { c.OnStop = func() { calls.Add(1) } })
	st, body := post(t, s.Handler(), `{"jsonrpc":"2.0","id":1,"method":"stop"}`)
	if st != 200 || !strings.Contains(body, "Quarry server stopping") || calls.Load() != 1 {
		t.Fatalf("stop: %d %s, OnStop called %d times", st, body, calls.Load())
	}
}

func TestRunOnceAndAddr(t *testing.T) {
	s := newServer(t, rpctest.New(), nil)
	if s.Addr() != nil {
		t.Fatal("Addr before Run")
	}
	url := runServer(t, s)
	if s.Addr() == nil || strings.HasSuffix(url, ":0") {
		t.Fatalf("Addr after Ready: %v", s.Addr())
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestListenError(t *testing.T) {
	s1 := newServer(t, rpctest.New(), nil)
	url := runServer(t, s1)
	s2 := newServer(t, rpctest.New(), func(c *rpc.Config) { c.ListenAddr = strings.TrimPrefix(url, "http://") })
	if err := s2.Run(context.Background()); err == nil {
		t.Fatal("Run on a busy port succeeded")
	}
}

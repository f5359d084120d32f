package rpc_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// serveAuth sends countReq with the given Authorization header to h in
// process, under ctx.
func serveAuth(ctx context.Context, h http.Handler, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(countReq))
	req.Header.Set("Authorization", auth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAuthFailuresThrottledGlobally sends 200 wrong passwords at once (in a
// synctest bubble, so time is virtual and the outcome exact): the server
// answers at most burst + rate x t of them within t, whatever the number of
// clients, and refuses the rest without checking them. Per-request delays
// alone answered all 200 after 250 ms.
func TestAuthFailuresThrottledGlobally(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, burst, clients = 16, 16, 200
		s := newServer(t, rpctest.New(), func(c *rpc.Config) {
			c.AuthFailureDelay = 250 * time.Millisecond
			c.AuthFailureRate, c.AuthFailureBurst = rate, burst
		})
		type answer struct {
			code int
			body string
			at   time.Duration
		}
		start := time.Now()
		answers := make(chan answer, clients)
		for i := range clients {
			go func() {
				rec := serveAuth(context.Background(), s.Handler(), basicAuth(testUser, fmt.Sprintf("guess%d", i)))
				answers <- answer{rec.Code, rec.Body.String(), time.Since(start)}
			}()
		}
		var within1s, unauthorized, refused int
		for range clients {
			a := <-answers
			switch a.code {
			case http.StatusUnauthorized:
				unauthorized++
				if a.at <= time.Second {
					within1s++
				}
			case http.StatusServiceUnavailable:
				refused++
				if a.at != 0 || !strings.Contains(a.body, "Too many failed authentication attempts") {
					t.Errorf("refusal after %v: %q", a.at, a.body)
				}
			default:
				t.Errorf("status %d %q", a.code, a.body)
			}
		}
		if want := burst + rate; within1s > want {
			t.Errorf("%d wrong passwords answered within 1 s, want at most %d", within1s, want)
		}
		// Checked: the burst, then 2 s (the backlog) of turns at the rate.
		if want := burst + 2*rate; unauthorized != want || refused != clients-want {
			t.Errorf("%d checked and %d refused, want %d and %d", unauthorized, refused, want, clients-want)
		}
	})
}

// TestAuthGuessRateWithEarlyGiveUp models a client that gives up on each
// guess after 10 ms and takes an unanswered guess as wrong (correct
// credentials are answered at once): the guesses the server checks stay
// within burst + rate x (t + backlog) however many guesses are sent.
func TestAuthGuessRateWithEarlyGiveUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const rate, burst, workers = 16, 16, 20
		const period = 5 * time.Second
		reg := prometheus.NewRegistry()
		s := newServer(t, rpctest.New(), func(c *rpc.Config) {
			c.AuthFailureDelay = 250 * time.Millisecond
			c.AuthFailureRate, c.AuthFailureBurst = rate, burst
			c.Registerer = reg
		})
		end := time.Now().Add(period)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := 0; time.Now().Before(end); i++ {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
					rec := serveAuth(ctx, s.Handler(), basicAuth(testUser, fmt.Sprintf("w%d-%d", w, i)))
					cancel()
					if rec.Code == http.StatusServiceUnavailable {
						time.Sleep(10 * time.Millisecond) // virtual: the attacker's retry pace
					}
				}
			})
		}
		wg.Wait()
		checked := sumFamily(t, reg, "quarry_rpc_http_rejected_total", map[string]string{"reason": "unauthorized"})
		t.Logf("%v guesses checked in %v", checked, period)
		if limit := float64(burst) + rate*(period+2*time.Second).Seconds(); checked > limit {
			t.Fatalf("%v guesses checked in %v, want at most %v", checked, period, limit)
		}
	})
}

// TestAuthThrottleSparesAuthenticatedConnections exhausts the failure
// budget (a rate so low that no token returns during the test) and checks
// that a connection which authenticated before keeps being served, while a
// new connection is refused without a check.
func TestAuthThrottleSparesAuthenticatedConnections(t *testing.T) {
	s := newServer(t, rpctest.New(), func(c *rpc.Config) {
		c.AuthFailureRate, c.AuthFailureBurst = 0.001, 1
	})
	url := runServer(t, s)
	good := basicAuth(testUser, testPass)
	// One TCP connection for every call of the authenticated client, so the
	// test does not depend on the Transport's connection reuse.
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	br := bufio.NewReader(conn)
	oneShot := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	do := func(c *http.Client, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(countReq))
		req.Header.Set("Authorization", auth)
		var resp *http.Response
		var err error
		if c == nil { // the persistent connection
			if err = req.Write(conn); err == nil {
				resp, err = http.ReadResponse(br, req)
			}
		} else {
			resp, err = c.Do(req)
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var keepAlive *http.Client // nil: the persistent connection
	if st, _ := do(keepAlive, good); st != http.StatusOK {
		t.Fatalf("first call: %d", st)
	}
	if st, _ := do(oneShot, basicAuth(testUser, "wrong")); st != http.StatusUnauthorized {
		t.Fatalf("first wrong password: %d, want 401", st)
	}
	if st, _ := do(oneShot, basicAuth(testUser, "wrong2")); st != http.StatusServiceUnavailable {
		t.Fatalf("wrong password over the budget: %d, want 503", st)
	}
	if st, _ := do(oneShot, good); st != http.StatusServiceUnavailable {
		t.Fatalf("new connection over the budget: %d, want 503 (not checked)", st)
	}
	for i := range 3 {
		if st, body := do(keepAlive, good); st != http.StatusOK {
			t.Fatalf("authenticated connection, call %d: %d %s", i, st, body)
		}
	}
}

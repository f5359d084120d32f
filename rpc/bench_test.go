package rpc_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// BenchmarkRPC measures requests per second over loopback with several
// concurrent keep-alive clients: getblockcount and getblock (verbosity 1)
// through the full server (auth, limits, parsing, dispatch, metrics), next
// to a bare net/http handler answering a fixed reply of the same size in
// the same run. The ratio bare/server is the server's overhead.
//
//	go test ./rpc -run '^$' -bench BenchmarkRPC -benchtime 2s
func BenchmarkRPC(b *testing.B) {
	f := rpctest.New()
	s := newServer(b, f, func(c *rpc.Config) { c.MaxConcurrent = 4096 })
	url := runServer(b, s) + "/"
	h3, _ := f.HashAtHeight(3)
	fixed := []byte(`{"jsonrpc":"2.0","result":5,"id":1}` + "\n")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(fixed)
	}))
	b.Cleanup(bare.Close)
	auth := basicAuth(testUser, testPass)
	procs := runtime.GOMAXPROCS(0)
	for _, par := range []int{1, 4, 16} {
		clients := par * procs
		for _, tc := range []struct{ name, url, body string }{
			{"bare", bare.URL, countReq},
			{"getblockcount", url, countReq},
			{"getblock", url, fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"getblock","params":["%s",1]}`, h3)},
		} {
			b.Run(fmt.Sprintf("%s/clients=%d", tc.name, clients), func(b *testing.B) {
				tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				b.SetParallelism(par)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						req, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.body))
						req.Header.Set("Authorization", auth)
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			})
		}
	}
}

// BenchmarkHandler measures the in-process handler alone (no network).
func BenchmarkHandler(b *testing.B) {
	f := rpctest.New()
	s := newServer(b, f, nil)
	h3, _ := f.HashAtHeight(3)
	for _, tc := range []struct{ name, body string }{
		{"getblockcount", countReq},
		{"getblock", fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"getblock","params":["%s",1]}`, h3)},
		{"batch10", "[" + strings.TrimSuffix(strings.Repeat(countReq+",", 10), ",") + "]"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				post(b, s.Handler(), tc.body)
			}
		})
	}
}

package rpc_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// panicCounter is a slog handler that counts records about recovered panics.
type panicCounter struct{ n *atomic.Int32 }

func (h panicCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h panicCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.n.Add(1)
	}
	return nil
}
func (h panicCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h panicCounter) WithGroup(string) slog.Handler      { return h }

// FuzzHandler feeds arbitrary bodies to the HTTP handler over a fresh fake:
// no input may panic (even a recovered one), and every answer must be a
// Core-style status with a JSON body. The seed corpus is every golden
// request plus some garbage.
func FuzzHandler(f *testing.F) {
	base := rpctest.New()
	fx := fixtures(f, base.Clone())
	for _, gc := range goldenCases {
		for _, r := range gc.reqs {
			f.Add(fx.Replace(r))
		}
	}
	for _, s := range []string{
		"", "{", "[", "[[[[", `{"method":{}}`, `{"params":[],"method":"getblock","id":{}}`,
		`{"jsonrpc":"2.0","method":"getblock","params":["` + strings.Repeat("0", 64) + `",2],"id":1}`,
		`{"method":"help","params":["` + strings.Repeat("x", 1000) + `"]}`,
		"\xff\xfe", `{"method":"getblockhash","params":[1e400]}`, `{"method":"getblockhash","params":[-0]}`,
		`{"method":"sendtoaddress","params":["x","1e-9999"]}`, `{"method":"setban","params":["a","add",1e30,true]}`,
		`{"method":"getnetworkhashps","params":[9223372036854775807,-9223372036854775808]}`,
		`{"method":"waitfornewblock","params":[9223372036854775807,"` + strings.Repeat("f", 64) + `"]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var panics atomic.Int32
		b := base.Clone()
		s := newServer(t, b, func(c *rpc.Config) {
			c.Logger = slog.New(panicCounter{&panics})
			c.MaxBatch = 8
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Authorization", basicAuth(testUser, testPass))
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if n := panics.Load(); n > 0 {
			t.Fatalf("%d panic(s) for body %q", n, body)
		}
		switch rec.Code {
		case 200, 400, 404, 500:
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("status %d with non-JSON body %q", rec.Code, rec.Body.String())
			}
		case 204:
			if rec.Body.Len() != 0 {
				t.Fatalf("204 with body %q", rec.Body.String())
			}
		default:
			t.Fatalf("unexpected status %d (%q)", rec.Code, rec.Body.String())
		}
	})
}

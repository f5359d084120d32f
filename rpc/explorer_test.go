package rpc_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// TestExplorerAccess checks who may open the explorer: a loopback client
// naming a loopback host needs no credentials; a foreign Host header (DNS
// rebinding) or a remote address needs the RPC credentials.
func TestExplorerAccess(t *testing.T) {
	s := newServer(t, rpctest.New(), nil)
	h := s.Handler()
	cases := []struct {
		name, remote, host, auth string
		want                     int
	}{
		{"loopback", "127.0.0.1:5000", "127.0.0.1:27732", "", http.StatusOK},
		{"localhost name", "127.0.0.1:5000", "localhost:27732", "", http.StatusOK},
		{"ipv6 loopback", "[::1]:5000", "[::1]:27732", "", http.StatusOK},
		{"rebinding host", "127.0.0.1:5000", "attacker.example", "", http.StatusUnauthorized},
		{"remote without credentials", "192.0.2.7:5000", "node.lan:27732", "", http.StatusUnauthorized},
		{"remote with credentials", "192.0.2.7:5000", "node.lan:27732", basicAuth(testUser, testPass), http.StatusOK},
		{"remote with a wrong password", "192.0.2.7:5000", "node.lan:27732", basicAuth(testUser, "nope"), http.StatusUnauthorized},
	}
	for _, tc := range cases {
		req := httptest.NewRequest(http.MethodGet, "/explorer/", nil)
		req.RemoteAddr, req.Host = tc.remote, tc.host
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
		if rec.Code == http.StatusOK {
			body, _ := io.ReadAll(rec.Body)
			if !strings.Contains(string(body), `<script src="app.js">`) {
				t.Errorf("%s: body is not the explorer page", tc.name)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("%s: Content-Security-Policy %q", tc.name, csp)
			}
		}
	}
	for _, asset := range []string{"/explorer/app.js", "/explorer/style.css"} {
		req := httptest.NewRequest(http.MethodGet, asset, nil)
		req.RemoteAddr, req.Host = "127.0.0.1:5000", "127.0.0.1"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Errorf("%s: %d, %d bytes", asset, rec.Code, rec.Body.Len())
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/explorer/", strings.NewReader("{}"))
	req.RemoteAddr, req.Host = "127.0.0.1:5000", "127.0.0.1"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /explorer/: %d, want 405", rec.Code)
	}
}

// TestExplorerWebSocketIsReadOnly checks that the explorer's WebSocket
// serves reads and subscriptions without credentials on loopback, and
// refuses every method that changes the node or touches the wallet.
func TestExplorerWebSocketIsReadOnly(t *testing.T) {
	f := rpctest.New()
	url := runServer(t, newServer(t, f, nil))
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/explorer/ws", nil)
	if err != nil {
		t.Fatalf("dial explorer ws: %v (%v)", err, resp)
	}
	defer c.Close()
	if m := wsCall(t, c, "getblockcount", "[]"); m.Error != nil {
		t.Errorf("getblockcount: %v", m.Error)
	}
	subscribe(t, c, "blocks")
	for _, m := range []string{"stop", "generatetoaddress", "sendrawtransaction", "setban", "getnewaddress", "sendtoaddress", "partition", "invalidateblock", "setnetworkactive"} {
		r := wsCall(t, c, m, "[]")
		if r.Error == nil || r.Error.Code != rpcjson.CodeMethodNotFound || !strings.Contains(r.Error.Message, "read-only explorer") {
			t.Errorf("%s: %+v, want a read-only refusal", m, r.Error)
		}
	}

	// A foreign Origin is refused (a web page elsewhere cannot open it).
	h := http.Header{"Origin": {"http://attacker.example"}}
	if _, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/explorer/ws", h); err == nil {
		t.Error("explorer ws accepted a foreign Origin")
	} else if resp != nil && resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign Origin: HTTP %d, want 403", resp.StatusCode)
	}
}

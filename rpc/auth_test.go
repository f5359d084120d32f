package rpc_test

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

const countReq = `{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`

func TestAuth(t *testing.T) {
	s := newServer(t, rpctest.New(), nil)
	cases := []struct {
		name   string
		header string
		want   int
	}{
		{"good", basicAuth(testUser, testPass), http.StatusOK},
		{"none", "", http.StatusUnauthorized},
		{"wrong password", basicAuth(testUser, "nope"), http.StatusUnauthorized},
		{"wrong user", basicAuth("bob", testPass), http.StatusUnauthorized},
		{"prefix of password", basicAuth(testUser, testPass[:3]), http.StatusUnauthorized},
		{"bearer", "Bearer abc", http.StatusUnauthorized},
		{"bad base64", "Basic !!!", http.StatusUnauthorized},
		{"no colon", "Basic " + "YWxpY2U=", http.StatusUnauthorized},
		{"lowercase scheme", strings.Replace(basicAuth(testUser, testPass), "Basic", "basic", 1), http.StatusUnauthorized},
		{"padded", "Basic  " + strings.TrimPrefix(basicAuth(testUser, testPass), "Basic ") + "  ", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(countReq))
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d (body %q)", rec.Code, tc.want, rec.Body.String())
			}
			if tc.want == http.StatusUnauthorized {
				if got := rec.Header().Get("WWW-Authenticate"); got != `Basic realm="jsonrpc"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if rec.Body.Len() != 0 {
					t.Errorf("401 body %q, want empty", rec.Body.String())
				}
			}
		})
	}
}

// TestAuthFailureDelay runs in a synctest bubble: the handler's wait runs
// on the bubble's fake clock, so the test takes no real time and can
// require the delay exactly, not only as a lower bound.
func TestAuthFailureDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 250 * time.Millisecond
		s := newServer(t, rpctest.New(), func(c *rpc.Config) { c.AuthFailureDelay = delay })
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(countReq))
		req.Header.Set("Authorization", basicAuth(testUser, "wrong"))
		start := time.Now()
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("status %d", rec.Code)
		}
		if el := time.Since(start); el != delay {
			t.Fatalf("failed auth answered after %v, want exactly %v", el, delay)
		}
	})
}

func TestOnlyPost(t *testing.T) {
	s := newServer(t, rpctest.New(), nil)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req := httptest.NewRequest(m, "/", nil)
		req.Header.Set("Authorization", basicAuth(testUser, testPass))
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Body.String() != "JSONRPC server handles only POST requests" {
			t.Errorf("%s: %d %q", m, rec.Code, rec.Body.String())
		}
	}
}

func TestCookieLifecycle(t *testing.T) {
	dir := t.TempDir()
	f := rpctest.New()
	s := newServer(t, f, func(c *rpc.Config) { c.User, c.Password, c.CookieDir = "", "", dir })
	path := filepath.Join(dir, rpc.CookieFile)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("New wrote a cookie: %v", err)
	}
	url, stop := runServerStop(t, s)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatalf("cookie not written: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("cookie mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user != "__cookie__" || len(pass) != 64 {
		t.Fatalf("cookie content %q", b)
	}
	if _, err := hex.DecodeString(pass); err != nil {
		t.Fatalf("cookie password not hex: %v", err)
	}
	ru, rp, err := client.ReadCookie(dir)
	if err != nil || ru != user || rp != pass {
		t.Fatalf("ReadCookie = %q %q %v", ru, rp, err)
	}
	if st, body, _ := httpPost(t, url, basicAuth(user, pass), countReq); st != 200 || !strings.Contains(body, `"result":5`) {
		t.Fatalf("cookie auth: %d %s", st, body)
	}
	wrong := "0" + pass[1:]
	if pass[0] == '0' {
		wrong = "1" + pass[1:]
	}
	if st, _, _ := httpPost(t, url, basicAuth(user, wrong), countReq); st != 401 {
		t.Fatalf("wrong cookie accepted: %d", st)
	}
	stop()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("cookie not removed at shutdown: %v", err)
	}
}

func TestPasswordDisablesCookie(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, rpctest.New(), func(c *rpc.Config) { c.CookieDir = dir })
	runServer(t, s)
	if _, err := os.Stat(filepath.Join(dir, rpc.CookieFile)); !os.IsNotExist(err) {
		t.Fatalf("cookie written although a password is set: %v", err)
	}
}

func TestWriteCookieTwice(t *testing.T) {
	dir := t.TempDir()
	_, p1, err := rpc.WriteCookie(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, p2, err := rpc.WriteCookie(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 {
		t.Fatal("two cookies with the same secret")
	}
	if err := rpc.RemoveCookie(dir); err != nil {
		t.Fatal(err)
	}
	if err := rpc.RemoveCookie(dir); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, _, err := rpc.WriteCookie(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("WriteCookie into a missing dir succeeded")
	}
}

func TestConfigValidation(t *testing.T) {
	f := rpctest.New()
	base := func() rpc.Config {
		return rpc.Config{Backend: f, ListenAddr: "127.0.0.1:0", User: "u", Password: "p"}
	}
	bad := map[string]func(*rpc.Config){
		"no backend":            func(c *rpc.Config) { c.Backend = nil },
		"bad listen":            func(c *rpc.Config) { c.ListenAddr = "127.0.0.1" },
		"all interfaces":        func(c *rpc.Config) { c.ListenAddr = ":7732" },
		"public":                func(c *rpc.Config) { c.ListenAddr = "0.0.0.0:7732" },
		"lan":                   func(c *rpc.Config) { c.ListenAddr = "192.168.1.2:7732" },
		"no auth":               func(c *rpc.Config) { c.User, c.Password = "", "" },
		"password without user": func(c *rpc.Config) { c.User = "" },
	}
	for name, mod := range bad {
		c := base()
		mod(&c)
		if _, err := rpc.New(c); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
	good := map[string]func(*rpc.Config){
		"loopback v6":   func(c *rpc.Config) { c.ListenAddr = "[::1]:0" },
		"default addr":  func(c *rpc.Config) { c.ListenAddr = "" },
		"localhost":     func(c *rpc.Config) { c.ListenAddr = "localhost:0" },
		"cookie only":   func(c *rpc.Config) { c.User, c.Password, c.CookieDir = "", "", t.TempDir() },
		"allowed wide":  func(c *rpc.Config) { c.ListenAddr, c.AllowNonLoopback = "0.0.0.0:0", true },
		"127.0.0.2 lan": func(c *rpc.Config) { c.ListenAddr = "127.0.0.2:0" },
	}
	for name, mod := range good {
		c := base()
		mod(&c)
		if _, err := rpc.New(c); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

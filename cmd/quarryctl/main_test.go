package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// harness runs quarryctl against an in-process server over a fake chain.
type harness struct {
	t    *testing.T
	f    *rpctest.Backend
	addr string
	home string
}

func newHarness(t *testing.T) *harness {
	f := rpctest.New()
	s, err := rpc.New(rpc.Config{Backend: f, ListenAddr: "127.0.0.1:0", User: "u", Password: "p", AuthFailureDelay: -1, Now: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &harness{t: t, f: f, addr: strings.TrimPrefix(srv.URL, "http://"), home: t.TempDir()}
}

// run executes quarryctl with the harness' connection flags first.
func (h *harness) run(args ...string) (int, string, string) {
	h.t.Helper()
	full := append([]string{"--network", "regtest", "--rpc-connect", h.addr, "--rpc-user", "u", "--rpc-password", "p"}, args...)
	return runArgs(h.t, h.home, full...)
}

var sleeps atomic.Int32

func runArgs(t *testing.T, home string, args ...string) (int, string, string) {
	t.Helper()
	return runStdin(t, home, "", args...)
}

// runStdin is runArgs with the given standard input.
func runStdin(t *testing.T, home, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	code := run(ctx, args, env{
		stdin:   strings.NewReader(stdin),
		stdout:  &out,
		stderr:  &errb,
		homeDir: func() (string, error) { return home, nil },
		sleep: func(ctx context.Context, _ time.Duration) error {
			sleeps.Add(1)
			return ctx.Err()
		},
	})
	return code, out.String(), errb.String()
}

func TestRPCOutput(t *testing.T) {
	h := newHarness(t)
	h3, _ := h.f.HashAtHeight(3)
	cases := []struct {
		args       []string
		code       int
		out, errIs string
	}{
		{args: []string{"getblockcount"}, out: "5\n"},
		{args: []string{"getbestblockhash"}, out: h.f.Tip().Hash.String() + "\n"},
		{args: []string{"getblockhash", "3"}, out: h3.String() + "\n"},
		{args: []string{"--named", "getblockhash", "height=3"}, out: h3.String() + "\n"},
		{args: []string{"setgenerate", "true"}, out: ""},
		{args: []string{"getgenerate"}, out: "true\n"},
		{args: []string{"getblockhash", "99"}, code: 8, errIs: "error code: -8\nerror message:\nBlock height out of range\n"},
		{args: []string{"nosuchmethod"}, code: 32601, errIs: "error code: -32601\nerror message:\nMethod not found\n"},
		{args: []string{"getblockhash"}, code: 1, errIs: "error code: -1\nerror message:\ngetblockhash height\n"},
		{args: []string{"--named", "getblockhash", "height"}, code: 1, errIs: "error: no '=' in named argument 'height'"},
		{args: []string{"validateaddress", "true"}, out: "{\n  \"isvalid\": false,\n"},
	}
	for _, c := range cases {
		code, out, errOut := h.run(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, errOut)
		}
		if c.errIs == "" && out != c.out && !strings.HasPrefix(out, c.out) {
			t.Errorf("%v: stdout %q, want %q", c.args, out, c.out)
		}
		if c.errIs != "" && !strings.HasPrefix(errOut, c.errIs) {
			t.Errorf("%v: stderr %q, want prefix %q", c.args, errOut, c.errIs)
		}
	}
}

func TestGetBlockVerbosity(t *testing.T) {
	h := newHarness(t)
	h3, _ := h.f.HashAtHeight(3)
	code, out, errOut := h.run("getblock", h3.String(), "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var blk rpcjson.BlockVerboseTx
	if err := json.Unmarshal([]byte(out), &blk); err != nil || len(blk.Tx) != 2 || blk.Tx[1].MemoText != "hello quarry" {
		t.Fatalf("getblock 2 output: %v\n%s", err, out)
	}
	if !strings.Contains(out, "\n  \"hash\": ") {
		t.Errorf("output not indented:\n%s", out)
	}
	code, out, _ = h.run("getblock", h3.String(), "0")
	if code != 0 || strings.Contains(out, `"`) || len(strings.TrimSpace(out)) != 2*290 {
		t.Fatalf("getblock 0: %d %q", code, out)
	}
}

func TestBuildParams(t *testing.T) {
	digits := strings.Repeat("1", 64)
	cases := []struct {
		method string
		args   []string
		named  bool
		want   string
	}{
		{"getblock", []string{digits, "2"}, false, `["` + digits + `",2]`},
		{"getblockhash", []string{"5"}, false, `[5]`},
		{"getnewaddress", []string{"true"}, false, `["true"]`},
		{"getrawmempool", []string{"true"}, false, `[true]`},
		{"testmempoolaccept", []string{`["aa","bb"]`}, false, `[["aa","bb"]]`},
		{"getblocktemplate", []string{`{"mode":"template"}`}, false, `[{"mode":"template"}]`},
		{"sendtoaddress", []string{"qr1x", "0.1", "null"}, false, `["qr1x",0.1,"null"]`},
		{"unknownmethod", []string{"1", "abc", "null", ""}, false, `[1,"abc",null,""]`},
		{"getblock", []string{"verbosity=2", "blockhash=" + digits}, true, `{"blockhash":"` + digits + `","verbosity":2}`},
		{"help", []string{"getblock"}, false, `["getblock"]`},
	}
	for _, c := range cases {
		got, err := buildParams(c.method, c.args, c.named)
		if err != nil || string(got) != c.want {
			t.Errorf("%s %v: %s %v, want %s", c.method, c.args, got, err, c.want)
		}
	}
	if _, err := buildParams("getblock", []string{"a=1", "a=2"}, true); err == nil {
		t.Error("duplicate named parameter accepted")
	}
}

func TestPrintResult(t *testing.T) {
	for in, want := range map[string]string{
		`"abc"`: "abc\n", `null`: "", `5`: "5\n", `true`: "true\n", `[]`: "[]\n",
		`{"a":[1,2]}`: "{\n  \"a\": [\n    1,\n    2\n  ]\n}\n", `"line\nbreak"`: "line\nbreak\n",
	} {
		var b bytes.Buffer
		if err := printResult(&b, json.RawMessage(in)); err != nil || b.String() != want {
			t.Errorf("%s: %q %v, want %q", in, b.String(), err, want)
		}
	}
}

func TestCookieAndAuthErrors(t *testing.T) {
	f := rpctest.New()
	dir := t.TempDir()
	s, err := rpc.New(rpc.Config{Backend: f, ListenAddr: "127.0.0.1:0", CookieDir: dir, AuthFailureDelay: -1, Now: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunReady(t, s.Run, s.Ready(), 10*time.Second)
	addr := s.Addr().String()
	code, out, errOut := runArgs(t, t.TempDir(), "--network", "regtest", "--datadir", dir, "--rpc-connect", addr, "getblockcount")
	if code != 0 || out != "5\n" {
		t.Fatalf("cookie auth: %d %q %q", code, out, errOut)
	}
	code, _, errOut = runArgs(t, t.TempDir(), "--network", "regtest", "--datadir", dir, "--rpc-connect", addr, "--rpc-user", "x", "--rpc-password", "y", "getblockcount")
	if code != 1 || !strings.Contains(errOut, "Authorization failed") {
		t.Fatalf("wrong password: %d %q", code, errOut)
	}
	code, _, errOut = runArgs(t, t.TempDir(), "--network", "regtest", "--datadir", t.TempDir(), "--rpc-connect", addr, "getblockcount")
	if code != 1 || !strings.Contains(errOut, "Could not locate RPC credentials") {
		t.Fatalf("no cookie: %d %q", code, errOut)
	}
	// The default data dir is ~/.quarry/<network>.
	home := t.TempDir()
	def := filepath.Join(home, ".quarry", "regtest")
	if err := os.MkdirAll(def, 0o700); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, ".cookie"))
	if err := os.WriteFile(filepath.Join(def, ".cookie"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runArgs(t, home, "--network", "regtest", "--rpc-connect", addr, "getblockcount"); code != 0 || out != "5\n" {
		t.Fatalf("default datadir: %d %q %q", code, out, errOut)
	}
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func TestConnectionAndWait(t *testing.T) {
	addr := closedAddr(t)
	code, _, errOut := runArgs(t, t.TempDir(), "--rpc-connect", addr, "--rpc-password", "p", "getblockcount")
	if code != 1 || !strings.Contains(errOut, "Could not connect to the server "+addr) {
		t.Fatalf("refused: %d %q", code, errOut)
	}
	before := sleeps.Load()
	code, _, errOut = runArgs(t, t.TempDir(), "--rpc-connect", addr, "--rpc-password", "p", "--rpcwait", "--rpcwait-timeout", "50ms", "getblockcount")
	if code != 1 || !strings.Contains(errOut, "timeout waiting for the RPC server") || sleeps.Load() == before {
		t.Fatalf("rpcwait timeout: %d %q (sleeps %d)", code, errOut, sleeps.Load()-before)
	}
	// A server that is busy, then warming up, then answers.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "Work queue depth exceeded", http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","error":{"code":-28,"message":"Loading block index..."},"id":1}`))
		default:
			_, _ = w.Write([]byte(`{"jsonrpc":"2.0","result":7,"id":1}`))
		}
	}))
	defer srv.Close()
	code, out, errOut := runArgs(t, t.TempDir(), "--rpc-connect", strings.TrimPrefix(srv.URL, "http://"), "--rpc-password", "p", "--rpcwait", "getblockcount")
	if code != 0 || out != "7\n" || calls.Load() != 3 {
		t.Fatalf("rpcwait: %d %q %q after %d calls", code, out, errOut, calls.Load())
	}
	// Without --rpcwait the warm-up error is final.
	calls.Store(1)
	code, _, errOut = runArgs(t, t.TempDir(), "--rpc-connect", strings.TrimPrefix(srv.URL, "http://"), "--rpc-password", "p", "getblockcount")
	if code != 28 || !strings.Contains(errOut, "Loading block index") {
		t.Fatalf("warm-up without wait: %d %q", code, errOut)
	}
}

func TestFlagsAndUsage(t *testing.T) {
	if code, out, _ := runArgs(t, t.TempDir(), "--help"); code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "-rpc-connect") {
		t.Fatalf("--help: %d %q", code, out)
	}
	if code, _, errOut := runArgs(t, t.TempDir()); code != 1 || !strings.Contains(errOut, "too few parameters") {
		t.Fatalf("no method: %d %q", code, errOut)
	}
	if code, _, errOut := runArgs(t, t.TempDir(), "--network", "moon", "getblockcount"); code != 1 || !strings.Contains(errOut, "unknown network") {
		t.Fatalf("bad network: %d %q", code, errOut)
	}
	if code, _, _ := runArgs(t, t.TempDir(), "--bogus", "getblockcount"); code != 1 {
		t.Fatalf("bad flag: %d", code)
	}
	if code, _, _ := runArgs(t, t.TempDir(), "--rpcwait-timeout", "soon", "getblockcount"); code != 1 {
		t.Fatalf("bad duration: %d", code)
	}
	for in, want := range map[string]string{"": "127.0.0.1:27732", "10.0.0.1": "10.0.0.1:27732", "h:1": "h:1", "::1": "[::1]:27732", "[::1]:5": "[::1]:5"} {
		if got := withDefaultPort(in, 27732); got != want {
			t.Errorf("withDefaultPort(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeyCommands(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k.json")
	code, out, errOut := runArgs(t, dir, "--network", "regtest", "key", "new", "--out", keyFile)
	if code != 0 {
		t.Fatalf("key new: %d %s", code, errOut)
	}
	var res map[string]string
	if err := json.Unmarshal([]byte(out), &res); err != nil || !strings.HasPrefix(res["address"], "qr1") {
		t.Fatalf("key new output %q", out)
	}
	if _, ok := res["private_key"]; ok || strings.Contains(out, "private") {
		t.Fatalf("private key printed without --show-private: %s", out)
	}
	st, err := os.Stat(keyFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	code, out, _ = runArgs(t, dir, "--network", "regtest", "key", "address", "--key", keyFile)
	if code != 0 || strings.TrimSpace(out) != res["address"] {
		t.Fatalf("key address: %d %q, want %s", code, out, res["address"])
	}
	if code, _, errOut := runArgs(t, dir, "--network", "regtest", "key", "new", "--out", keyFile); code != 1 || !strings.Contains(errOut, "refusing to overwrite") {
		t.Fatalf("overwrite: %d %q", code, errOut)
	}
	code, out, _ = runArgs(t, dir, "--network", "regtest", "key", "new", "--out", filepath.Join(dir, "k2.json"), "--show-private")
	if code != 0 || !strings.Contains(out, `"private_key": "`) {
		t.Fatalf("--show-private: %d %q", code, out)
	}
	if code, _, errOut := runArgs(t, dir, "--network", "dev", "key", "address", "--key", keyFile); code != 1 || !strings.Contains(errOut, "network") {
		t.Fatalf("wrong network: %d %q", code, errOut)
	}
	for _, args := range [][]string{{"key"}, {"key", "bogus"}, {"key", "new"}, {"key", "address"}, {"key", "new", "--out", "x", "extra"}} {
		if code, _, _ := runArgs(t, dir, append([]string{"--network", "regtest"}, args...)...); code != 1 {
			t.Errorf("%v: exit %d, want 1", args, code)
		}
	}
}

// keyOf writes the fake's key i as a key file.
func keyOf(t *testing.T, i int) string {
	path := filepath.Join(t.TempDir(), "key.json")
	if err := wallet.SaveKeyFile(path, wallet.NewKey(rpctest.Key(i)), chain.RegtestParams()); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTxCommands(t *testing.T) {
	h := newHarness(t)
	p := h.f.Params()
	bobKey := keyOf(t, 2)
	to := rpctest.KeyAddress(1).Encode(p)

	// Offline with an explicit nonce: no server needed.
	code, out, errOut := runArgs(t, t.TempDir(), "--network", "regtest", "--rpc-connect", closedAddr(t), "tx", "transfer",
		"--key", bobKey, "--to", to, "--amount", "1.5", "--fee", "0.0001", "--nonce", "0", "--memo", "hi")
	if code != 0 {
		t.Fatalf("offline transfer: %d %s", code, errOut)
	}
	tx, err := wallet.DecodeTxHex(out)
	if err != nil || tx.Amount != 150_000_000 || tx.Fee != 10_000 || tx.Nonce != 0 || string(tx.Memo) != "hi" || tx.From() != rpctest.KeyAddress(2) || tx.VerifySignature() != nil {
		t.Fatalf("transfer tx %+v %v", tx, err)
	}

	// Nonce from the node: key 1 has nonce 1 confirmed and 2 pending, so 3.
	aliceKey := keyOf(t, 1)
	code, out, errOut = h.run("tx", "transfer", "--key", aliceKey, "--to", rpctest.KeyAddress(2).Encode(p), "--amount", "1")
	if code != 0 {
		t.Fatalf("transfer: %d %s", code, errOut)
	}
	if tx, err = wallet.DecodeTxHex(out); err != nil || tx.Nonce != 3 || tx.Fee != 1000 {
		t.Fatalf("pending nonce: %+v %v", tx, err)
	}

	code, out, errOut = h.run("tx", "send", "--key", bobKey, "--to", to, "--amount", "2")
	if code != 0 {
		t.Fatalf("send: %d %s", code, errOut)
	}
	id, err := chain.ParseHash(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("send output %q", out)
	}
	found := false
	for _, m := range h.f.Mempool() {
		found = found || m == id
	}
	if !found {
		t.Fatalf("sent tx %s not in the mempool", id)
	}
	// Too much: the node rejects it, quarryctl reports the RPC error.
	code, _, errOut = h.run("tx", "send", "--key", bobKey, "--to", to, "--amount", "1000", "--nonce", "1")
	if code != 26 || !strings.Contains(errOut, "error code: -26") {
		t.Fatalf("rejected send: %d %q", code, errOut)
	}
	bad := [][]string{
		{"tx"}, {"tx", "sign"}, {"tx", "transfer"}, {"tx", "transfer", "--key", bobKey},
		{"tx", "transfer", "--key", bobKey, "--to", to},
		{"tx", "transfer", "--key", bobKey, "--to", "qd1bad", "--amount", "1", "--nonce", "0"},
		{"tx", "transfer", "--key", bobKey, "--to", to, "--amount", "1e3", "--nonce", "0"},
		{"tx", "transfer", "--key", bobKey, "--to", to, "--amount", "1", "--fee", "x", "--nonce", "0"},
		{"tx", "transfer", "--key", bobKey, "--to", to, "--amount", "1", "--nonce", "-1"},
		{"tx", "transfer", "--key", bobKey, "--to", rpctest.KeyAddress(2).Encode(p), "--amount", "1", "--nonce", "0"},
		{"tx", "transfer", "--key", filepath.Join(t.TempDir(), "none"), "--to", to, "--amount", "1", "--nonce", "0"},
	}
	for _, args := range bad {
		if code, _, errOut := h.run(args...); code != 1 {
			t.Errorf("%v: exit %d, want 1 (%s)", args, code, errOut)
		}
	}
}

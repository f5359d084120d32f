package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/node/buildinfo"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Tests of the bitcoin-cli habits: --version, --help on stdout, one-line
// flag errors, --stdin, --stdinrpcpass, --getinfo, --netinfo, --generate,
// --rpcclienttimeout and the bitcoin-cli spellings of the connection flags.

func TestVersionFlag(t *testing.T) {
	want := buildinfo.Read().String("quarryctl") + "\n"
	for _, arg := range []string{"--version", "-version"} {
		code, out, errOut := runArgs(t, t.TempDir(), arg)
		if code != 0 || out != want || errOut != "" {
			t.Errorf("%s: exit %d stdout %q stderr %q, want %q", arg, code, out, errOut, want)
		}
	}
	if !strings.HasPrefix(want, "quarryctl "+buildinfo.Release+" (commit ") {
		t.Errorf("version line %q", want)
	}
}

func TestHelpGoesToStdout(t *testing.T) {
	for _, arg := range []string{"--help", "-help", "-h"} {
		code, out, errOut := runArgs(t, t.TempDir(), arg)
		if code != 0 || errOut != "" || !strings.HasPrefix(out, "Usage:") || !strings.Contains(out, "-stdinrpcpass") {
			t.Errorf("%s: exit %d stderr %q stdout %.80q", arg, code, errOut, out)
		}
	}
}

func TestFlagErrorIsOneLine(t *testing.T) {
	cases := map[string][]string{
		"error: flag provided but not defined: -bogus (see quarryctl --help)\n":      {"--bogus", "getblockcount"},
		"error: flag needs an argument: -datadir (see quarryctl --help)\n":           {"--datadir"},
		"error: invalid value \"soon\" for flag -rpcclienttimeout: invalid duration": {"-rpcclienttimeout", "soon", "getblockcount"},
	}
	for want, args := range cases {
		code, out, errOut := runArgs(t, t.TempDir(), args...)
		if code != 1 || out != "" || !strings.HasPrefix(errOut, want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d stdout %q stderr %q, want one line starting %q", args, code, out, errOut, want)
		}
	}
}

func TestStdinArguments(t *testing.T) {
	h := newHarness(t)
	h3, _ := h.f.HashAtHeight(3)
	conn := []string{"--network", "regtest", "--rpc-connect", h.addr, "--rpc-user", "u"}
	with := func(extra ...string) []string { return append(append([]string{}, conn...), extra...) }

	// --stdin appends one argument per line.
	code, out, errOut := runStdin(t, h.home, "3\n", with("--rpc-password", "p", "--stdin", "getblockhash")...)
	if code != 0 || out != h3.String()+"\n" {
		t.Fatalf("--stdin: %d %q %q", code, out, errOut)
	}
	// A line is one argument even with spaces; CRLF line ends are accepted.
	code, out, errOut = runStdin(t, h.home, "3\r\n", with("--rpc-password", "p", "--stdin", "getblockhash")...)
	if code != 0 || out != h3.String()+"\n" {
		t.Fatalf("--stdin CRLF: %d %q %q", code, out, errOut)
	}
	// --stdinrpcpass takes the first line as the password.
	code, out, errOut = runStdin(t, h.home, "p\n", with("--stdinrpcpass", "getblockcount")...)
	if code != 0 || out != "5\n" {
		t.Fatalf("--stdinrpcpass: %d %q %q", code, out, errOut)
	}
	// Both: the password first, then the arguments.
	code, out, errOut = runStdin(t, h.home, "p\n3\n", with("-stdinrpcpass", "-stdin", "getblockhash")...)
	if code != 0 || out != h3.String()+"\n" {
		t.Fatalf("--stdinrpcpass --stdin: %d %q %q", code, out, errOut)
	}
	// A wrong password from stdin is an authorization failure.
	code, _, errOut = runStdin(t, h.home, "wrong\n", with("--stdinrpcpass", "getblockcount")...)
	if code != 1 || !strings.Contains(errOut, "Authorization failed") {
		t.Fatalf("wrong password: %d %q", code, errOut)
	}
	// No line at all is an error that says what was expected.
	code, _, errOut = runStdin(t, h.home, "", with("--stdinrpcpass", "getblockcount")...)
	if code != 1 || !strings.Contains(errOut, "--stdinrpcpass specified but standard input is empty") {
		t.Fatalf("empty stdin: %d %q", code, errOut)
	}
	// The method itself may come from stdin.
	code, out, errOut = runStdin(t, h.home, "getblockcount\n", with("--rpc-password", "p", "--stdin")...)
	if code != 0 || out != "5\n" {
		t.Fatalf("method from stdin: %d %q %q", code, out, errOut)
	}
}

func TestBitcoinCLIConnectionSpellings(t *testing.T) {
	h := newHarness(t)
	host, port, _ := strings.Cut(h.addr, ":")
	code, out, errOut := runArgs(t, h.home, "-regtest=false", "getblockcount")
	if code != 1 || out != "" || !strings.Contains(errOut, "flag provided but not defined: -regtest") {
		t.Fatalf("unknown bitcoin-cli flag: %d %q %q", code, out, errOut)
	}
	code, out, errOut = runArgs(t, h.home, "-network=regtest", "-rpcconnect="+host, "-rpcport="+port, "-rpcuser=u", "-rpcpassword=p",
		"-rpcwaittimeout=5", "-rpcclienttimeout=30", "getblockcount")
	if code != 0 || out != "5\n" {
		t.Fatalf("bitcoin-cli spellings: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runArgs(t, h.home, "-rpcport=70000", "getblockcount"); code != 1 || !strings.Contains(errOut, "is not a port") {
		t.Fatalf("bad port: %d %q", code, errOut)
	}
}

func TestGetInfo(t *testing.T) {
	h := newHarness(t)
	code, out, errOut := h.run("-getinfo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Chain: regtest\nBlocks: 5\nHeaders: 5\nVerification progress: 100.0000%\nDifficulty: ",
		"\n\nNetwork: in 1, out 1, total 2\nVersion: 10000\nTime offset (s): 0\nMin tx relay fee rate (coins/kB): 0.00001000\n\n",
		"\nBalance: ",
		"\nWarnings: (none)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("--getinfo output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errOut := h.run("-getinfo", "1"); code != 1 || !strings.Contains(errOut, "--getinfo takes no arguments") {
		t.Errorf("--getinfo 1: %d %q", code, errOut)
	}
	// A node without p2p or wallet still answers, without those sections.
	h.f.NoNet, h.f.NoWallet = true, true
	code, out, errOut = h.run("--getinfo")
	if code != 0 || !strings.Contains(out, "Network: off") || strings.Contains(out, "Balance") {
		t.Fatalf("--getinfo without p2p and wallet: %d %q %q", code, out, errOut)
	}
}

func TestNetInfo(t *testing.T) {
	h := newHarness(t)
	code, out, errOut := h.run("-netinfo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "Quarry client " + buildinfo.Read().Version + " regtest - server 1/Quarry:0.1.0/\n\n" +
		"        total  manual\n" +
		"in          1\n" +
		"out         1       1\n" +
		"total       2\n" +
		"\nLocal addresses\n/ip4/127.0.0.1/tcp/37733/p2p/12D3KooWSelf\n"
	if out != want {
		t.Errorf("--netinfo:\n%s\nwant:\n%s", out, want)
	}
	code, out, _ = h.run("-netinfo", "4")
	if code != 0 || !strings.Contains(out, "<->") || !strings.Contains(out, "/ip4/127.0.0.1/tcp/37800") ||
		!strings.Contains(out, "/quarry:0.1.0/") || !strings.Contains(out, "manual") {
		t.Errorf("--netinfo 4:\n%s", out)
	}
	code, out, _ = h.run("-netinfo", "1")
	if code != 0 || !strings.Contains(out, "<->") || strings.Contains(out, "/ip4/127.0.0.1/tcp/37800") {
		t.Errorf("--netinfo 1:\n%s", out)
	}
	// A node's own addresses may already end in its peer id.
	var buf strings.Builder
	writeNetInfo(&buf, "dev", 0, nil, rpcjson.NetworkInfo{LocalPeerID: "12D3KooWSelf", NetworkActive: true,
		LocalAddresses: []rpcjson.LocalAddress{{Address: "/ip4/10.0.0.1/tcp/1/p2p/12D3KooWSelf"}, {Address: "/ip4/10.0.0.1/udp/1/quic-v1"}}}, time.Now())
	if !strings.HasSuffix(buf.String(), "\nLocal addresses\n/ip4/10.0.0.1/tcp/1/p2p/12D3KooWSelf\n/ip4/10.0.0.1/udp/1/quic-v1/p2p/12D3KooWSelf\n") {
		t.Errorf("local addresses:\n%s", buf.String())
	}
	if code, out, _ := h.run("-netinfo", "help"); code != 0 || !strings.Contains(out, "peer connections dashboard") {
		t.Errorf("--netinfo help: %d %q", code, out)
	}
	if code, _, errOut := h.run("-netinfo", "x"); code != 1 || !strings.Contains(errOut, "invalid --netinfo argument: x") {
		t.Errorf("--netinfo x: %d %q", code, errOut)
	}
}

func TestGenerate(t *testing.T) {
	h := newHarness(t)
	code, out, errOut := h.run("-generate", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var res struct {
		Address string   `json:"address"`
		Blocks  []string `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Address == "" || len(res.Blocks) != 2 {
		t.Fatalf("--generate 2: %v\n%s", err, out)
	}
	if got := h.f.Tip().Hash.String(); got != res.Blocks[1] {
		t.Errorf("tip %s, generated %v", got, res.Blocks)
	}
	if code, out, _ := h.run("-generate"); code != 0 || strings.Count(out, "\"blocks\"") != 1 || h.f.Tip().Height != 8 {
		t.Errorf("--generate: %d %q, height %d", code, out, h.f.Tip().Height)
	}
	for _, args := range [][]string{{"-generate", "0"}, {"-generate", "x"}, {"-generate", "1", "0"}, {"-generate", "1", "2", "3"}} {
		if code, _, errOut := h.run(args...); code != 1 || errOut == "" {
			t.Errorf("%v: %d %q", args, code, errOut)
		}
	}
	if code, _, errOut := h.run("-generate", "-getinfo"); code != 1 || !strings.Contains(errOut, "only one of") {
		t.Errorf("two modes: %d %q", code, errOut)
	}
}

func TestCallTimeoutIsASentence(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client leaving
		select {                           // never answers
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer srv.Close()
	defer close(stop)
	addr := strings.TrimPrefix(srv.URL, "http://")
	code, out, errOut := runArgs(t, t.TempDir(), "--rpc-connect", addr, "--rpc-password", "p", "-rpcclienttimeout", "50ms", "getblockcount")
	want := "error: the server at " + addr + " did not answer getblockcount within 50ms (--rpcclienttimeout). "
	if code != 1 || out != "" || !strings.HasPrefix(errOut, want) || strings.Contains(errOut, "context") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("timeout: %d %q", code, errOut)
	}
	// Whole seconds, as bitcoin-cli takes them, are accepted too.
	if _, _, errOut := runArgs(t, t.TempDir(), "--rpc-connect", "127.0.0.1:1", "--rpc-password", "p", "-rpcclienttimeout", strconv.Itoa(1), "getblockcount"); strings.Contains(errOut, "invalid") {
		t.Fatalf("seconds: %q", errOut)
	}
}

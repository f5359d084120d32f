package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quarrychain/quarry/chain/testkit"
)

// childEnv makes the test binary act as quarryd (see TestMain), so tests
// can run the command as a process without building it.
const childEnv = "QUARRYD_TEST_AS_QUARRYD"

// TestMain runs quarryd when started by runQuarryd; otherwise it runs the
// tests and fails them if any goroutine outlives them.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).runActive"),
		// goleveldb's memory-pool drainer lingers up to 1s after DB.Close.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
	)
}

// runQuarryd runs quarryd (this test binary in child mode) with args and
// HOME in a temporary directory, and returns its exit code and output.
func runQuarryd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "HOME="+t.TempDir())
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("quarryd %q did not exit within 60s; stderr:\n%s", args, errOut.String())
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// TestBusyPortExits: with the p2p (TCP or UDP), RPC or metrics port taken,
// quarryd exits with status 1 and one line saying which listener failed
// on which address. Before, a taken p2p TCP port left the node running on
// QUIC alone without a word.
func TestBusyPortExits(t *testing.T) {
	for _, tc := range []struct {
		name, flag string
		hold       func(testing.TB) string
		want       string
	}{
		{"p2p tcp", "--p2p-listen", testkit.HoldTCP, "quarryd: p2p: cannot listen on %s (tcp): "},
		{"p2p quic", "--p2p-listen", testkit.HoldUDP, "quarryd: p2p: cannot listen on %s (udp, QUIC): "},
		{"rpc", "--rpc-listen", testkit.HoldTCP, "quarryd: rpc: listen: listen tcp %s: "},
		{"metrics", "--metrics-listen", testkit.HoldTCP, "quarryd: metrics listener: listen tcp %s: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.hold(t)
			args := map[string]string{"--p2p-listen": "127.0.0.1:0", "--rpc-listen": "127.0.0.1:0", "--metrics-listen": "127.0.0.1:0"}
			args[tc.flag] = addr
			code, stdout, stderr := runQuarryd(t, "--network", "regtest", "--datadir", t.TempDir(), "--no-mdns", "--log-level", "error",
				"--p2p-listen", args["--p2p-listen"], "--rpc-listen", args["--rpc-listen"], "--metrics-listen", args["--metrics-listen"])
			want := strings.Replace(tc.want, "%s", addr, 1)
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if code != 1 || stdout != "" || len(lines) != 1 || !strings.HasPrefix(lines[0], want) || !strings.Contains(stderr, "address already in use") {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and one line %q...", code, stdout, stderr, want)
			}
		})
	}
}

// TestBadConfigTouchesNothing: a configuration with any invalid value,
// given as a flag or in the file, is refused before quarryd creates the
// data directory or anything in it (p2p.key, wallet/, LOCK, chain/).
func TestBadConfigTouchesNothing(t *testing.T) {
	peer := "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	for _, tc := range []struct {
		name string
		args []string
		file string // TOML given with --config
		want string
	}{
		{"bootnode without peer id", []string{"--bootnodes", "/ip4/127.0.0.1/tcp/1"}, "", "--bootnodes"},
		{"bootnode garbage", []string{"--bootnodes", peer + ",nonsense"}, "", "--bootnodes"},
		{"bootnode in file", nil, "network = \"regtest\"\nbootnodes = [\"/dns4/x/tcp/1\"]", "--bootnodes"},
		{"p2p listen host name", []string{"--p2p-listen", "localhost:4001"}, "", "--p2p-listen"},
		{"p2p listen without port", []string{"--p2p-listen", "127.0.0.1"}, "", "--p2p-listen"},
		{"rpc listen bad port", []string{"--rpc-listen", "127.0.0.1:http"}, "", "--rpc-listen"},
		{"metrics listen bad port", []string{"--metrics-listen", "127.0.0.1:70000"}, "", "--metrics-listen"},
		{"miner address garbage", []string{"--miner-address", "qr1nonsense"}, "", "--miner-address"},
		{"miner address of another network", []string{"--network", "dev", "--miner-address", "qr14jsatjtzts3v3fzttgzwxxmnl20mukht8wpsz0"}, "", "another network"},
		{"network", []string{"--network", "moon"}, "", "moon"},
		{"network in file", nil, `network = "moon"`, "moon"},
		{"log level", []string{"--log-level", "loud"}, "", "--log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "node")
			args := append([]string{"--datadir", dataDir, "--no-mdns", "--p2p-listen", "127.0.0.1:0", "--rpc-listen", "127.0.0.1:0"}, tc.args...)
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "q.toml", tc.file+"\n")) // the file names the network
			} else if !slices.Contains(tc.args, "--network") {
				args = append(args, "--network", "regtest")
			}
			code, _, stderr := runQuarryd(t, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure naming %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(dataDir); !errors.Is(err, os.ErrNotExist) {
				entries, _ := os.ReadDir(dataDir)
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("the data directory was created (err %v) with %v", err, names)
			}
		})
	}
}

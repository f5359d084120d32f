package node

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/quarrychain/quarry/chain/testkit"
)

// quarryGoroutines returns the stacks of the goroutines that run code of
// this module, other than the test framework's (the caller, its parents).
func quarryGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := strings.Split(string(buf), "\n\n")
	var out []string
	for _, st := range stacks {
		if strings.Contains(st, "github.com/quarrychain/quarry/") && !strings.Contains(st, "testing.tRunner(") && !strings.Contains(st, "testing.(*M).Run(") {
			out = append(out, st)
		}
	}
	return out
}

// TestBusyPortFailsCleanly starts a node whose RPC, metrics or p2p port is
// taken. Run must fail with a one-line error naming the listener and the
// address, and return only after everything it started has stopped: no
// goroutine left behind, the data directory unlocked and the chain
// database closed.
func TestBusyPortFailsCleanly(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config, addr string)
		hold func(testing.TB) string
		want string
	}{
		{"rpc", func(c *Config, a string) { c.RPCListen = a }, testkit.HoldTCP, "rpc: listen"},
		{"metrics", func(c *Config, a string) { c.MetricsListen = a }, testkit.HoldTCP, "metrics listener"},
		{"p2p tcp", func(c *Config, a string) { c.P2PListen = a }, testkit.HoldTCP, "p2p"},
		{"p2p quic", func(c *Config, a string) { c.P2PListen = a }, testkit.HoldUDP, "p2p"},
		{"stratum", func(c *Config, a string) { c.StratumListen = a }, testkit.HoldTCP, "stratum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			cfg := testConfig(t)
			addr := tc.hold(t)
			tc.set(&cfg, addr)
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = n.Run(ctx)
			if err == nil {
				t.Fatalf("Run with %s busy returned nil", addr)
			}
			if ctx.Err() != nil {
				t.Fatalf("Run did not fail at start: %v", err)
			}
			msg := err.Error()
			t.Logf("Run: %v", msg)
			_, port, _ := net.SplitHostPort(addr)
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, port) || !strings.Contains(msg, "in use") || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line with %q, the port %s and \"in use\"", msg, tc.want, port)
			}
			// At the moment Run returns, none of the node's code runs any
			// more (checked at once: goleak below retries for a while).
			if g := quarryGoroutines(); len(g) > 0 {
				t.Errorf("Run returned while %d goroutines still run node code:\n%s", len(g), strings.Join(g, "\n\n"))
			}
			goleak.VerifyNone(t, append(leakOptions(), before)...)
			// The data directory's lock is released, and so is the chain
			// database's (LevelDB holds an flock on chain/LOCK until Close).
			for _, dir := range []string{cfg.DataDir, filepath.Join(cfg.DataDir, "chain")} {
				lock, err := lockDataDir(dir)
				if err != nil {
					t.Fatalf("still locked after Run: %v", err)
				}
				lock.release()
			}
		})
	}
}

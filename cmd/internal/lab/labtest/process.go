package labtest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Bounds of the waits. They are generous for a loaded 2-core machine under
// -race; a healthy run uses a small fraction of each.
const (
	StartTimeout = 20 * time.Second // process start to RPC answering
	StopTimeout  = 15 * time.Second // SIGTERM to exit
	CallTimeout  = 20 * time.Second // one RPC call or quarryctl run
)

// Proc is a process started by StartProcess, with its combined output.
type Proc struct {
	*lab.Process
	// Output holds stdout and stderr (for quarryd, its slog lines).
	Output *testkit.Buffer
	t      testing.TB
}

// StartProcess starts bin with args and HOME set to a temporary directory
// (a node never touches the real ~/.quarry). If it still runs at cleanup
// it is killed, and its output's end is logged if the test failed.
func StartProcess(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Output: &testkit.Buffer{}, t: t}
	var err error
	p.Process, err = lab.StartProcess(bin, args, lab.ProcessOptions{
		Output: p.Output, Env: append(os.Environ(), "HOME="+t.TempDir()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.Exited() {
			return
		}
		p.Kill()
		if t.Failed() {
			t.Logf("%s %s output (killed at cleanup):\n%s", filepath.Base(bin), strings.Join(args, " "), Tail(p.Output.String(), 60))
		}
	})
	return p
}

// ExitCode waits up to timeout for the process to end by itself and
// returns its exit status (-1 if a signal ended it); it fails the test if
// the process does not end.
func (p *Proc) ExitCode(timeout time.Duration) int {
	p.t.Helper()
	code, err := p.Wait(timeout)
	if err != nil {
		p.t.Fatalf("waiting for the process: %v; output:\n%s", err, Tail(p.Output.String(), 40))
	}
	return code
}

// SignalExit sends sig and returns the exit status (see ExitCode).
func (p *Proc) SignalExit(sig os.Signal, timeout time.Duration) int {
	p.t.Helper()
	if err := p.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	return p.ExitCode(timeout)
}

// Daemon is one quarryd run by a test outside a lab, with free RPC and
// metrics ports on 127.0.0.1.
type Daemon struct {
	*Proc
	DataDir     string
	RPCAddr     string
	MetricsAddr string
}

// StartDaemon starts `quarryd --network network` on dataDir (no mDNS, p2p
// on a free port) and waits until its RPC server answers and it logged
// "quarry node started".
func StartDaemon(t testing.TB, quarryd, network, dataDir string) *Daemon {
	t.Helper()
	d := &Daemon{DataDir: dataDir, RPCAddr: FreeAddr(t), MetricsAddr: FreeAddr(t)}
	d.Proc = StartProcess(t, quarryd, "--network", network, "--datadir", dataDir, "--no-mdns",
		"--p2p-listen", "127.0.0.1:0", "--rpc-listen", d.RPCAddr, "--metrics-listen", d.MetricsAddr, "--log-level", "info")
	testkit.WaitFor(t, StartTimeout, "quarryd to answer RPC", func() bool {
		if d.Exited() {
			t.Fatalf("quarryd exited during startup:\n%s", Tail(d.Output.String(), 40))
		}
		c, err := d.client()
		if err != nil {
			return false // no cookie yet
		}
		ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
		defer cancel()
		return c.Call(ctx, "getblockcount", nil, nil) == nil
	})
	testkit.WaitFor(t, StartTimeout, `the "quarry node started" log line`, func() bool {
		return strings.Contains(d.Output.String(), "quarry node started")
	})
	return d
}

// client returns an RPC client with the credentials of the cookie file.
func (d *Daemon) client() (*client.Client, error) {
	user, pass, err := client.ReadCookie(d.DataDir)
	if err != nil {
		return nil, err
	}
	return client.New(d.RPCAddr, user, pass), nil
}

// Client returns an RPC client authenticated with the daemon's cookie.
func (d *Daemon) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := d.client()
	if err != nil {
		t.Fatalf("RPC credentials: %v", err)
	}
	return c
}

// TryCall calls method with positional params and returns the raw result
// or the error (an *rpcjson.Error for an RPC error reply).
func (d *Daemon) TryCall(t testing.TB, method string, params ...any) (json.RawMessage, error) {
	t.Helper()
	ps, err := client.Params(params...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), CallTimeout)
	defer cancel()
	var res json.RawMessage
	err = d.Client(t).Call(ctx, method, ps, &res)
	return res, err
}

// Call is TryCall that fails the test on any error.
func (d *Daemon) Call(t testing.TB, method string, params ...any) json.RawMessage {
	t.Helper()
	res, err := d.TryCall(t, method, params...)
	if err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
	return res
}

// CallErr calls a method that must fail with an RPC error and returns it.
func (d *Daemon) CallErr(t testing.TB, method string, params ...any) *rpcjson.Error {
	t.Helper()
	res, err := d.TryCall(t, method, params...)
	var re *rpcjson.Error
	switch {
	case err == nil:
		t.Fatalf("%s %v succeeded with %s, want an error", method, params, res)
	case !errors.As(err, &re):
		t.Fatalf("%s %v: %v, want an RPC error", method, params, err)
	}
	return re
}

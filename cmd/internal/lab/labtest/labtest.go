// Package labtest holds the test helpers built on package lab that the
// end-to-end tests of cmd/devnet and cmd/quarryd share: building the
// binaries, running a lab or a single quarryd whose processes die with
// the test, and named, bounded test steps.
//
// Every process a helper starts is attached (killed if the test binary
// dies) and stopped and reaped in t.Cleanup; on failure the end of its
// output is logged.
package labtest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// BuildTimeout bounds the go build of Build.
const BuildTimeout = 5 * time.Minute

// Build compiles the named commands of the module ("quarryd",
// "quarryctl") without -race into a temporary directory of t and returns
// it. Call it once per test binary, in the top-level test, and share the
// directory with the subtests.
func Build(t testing.TB, cmds ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs quarryd processes; skipped in -short mode")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), BuildTimeout)
	defer cancel()
	start := time.Now()
	if err := lab.Build(ctx, dir, cmds...); err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s", strings.Join(cmds, ", "), time.Since(start).Round(time.Millisecond))
	return dir
}

// logWriter sends each write to t.Log (a lab's progress lines).
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// StartLab creates a lab in a temporary directory with attached processes
// and starts it; the nodes are stopped at cleanup (and their logs' ends
// printed if the test failed).
func StartLab(t testing.TB, ctx context.Context, bin string, opts lab.UpOptions) *lab.Lab {
	t.Helper()
	opts.Attached = true
	l, err := lab.CreateLab(t.TempDir(), bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	l.Out = logWriter{t}
	t.Cleanup(func() {
		if err := l.Down(5 * time.Second); err != nil {
			t.Errorf("down: %v", err)
		}
		if t.Failed() {
			for _, n := range l.State.Nodes {
				t.Logf("end of node%d's log:\n%s", n.Index, lab.TailFile(n.LogFile, 25))
			}
		}
	})
	if err := l.Up(ctx, opts); err != nil {
		t.Fatal(err)
	}
	return l
}

// Step runs f with its own deadline d and fails the test with the step's
// name if f fails; it logs how long the step took.
func Step(t testing.TB, ctx context.Context, name string, d time.Duration, f func(ctx context.Context) error) {
	t.Helper()
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := f(sctx); err != nil {
		t.Fatalf("%s (after %s): %v", name, time.Since(start).Round(time.Millisecond), err)
	}
	t.Logf("%s: %s", name, time.Since(start).Round(time.Millisecond))
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

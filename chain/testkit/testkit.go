package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// PollInterval is how often WaitFor checks its condition.
const PollInterval = time.Millisecond

// StopTimeout bounds how long the stop function of Run waits for the
// component's Run to return after its context is cancelled.
const StopTimeout = 30 * time.Second

// WaitFor calls cond every PollInterval until it returns true and fails
// the test (naming what) if timeout passes first. cond runs on the
// test's goroutine, so it may call t.Fatal.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// Run starts run(ctx) in a goroutine, as a component's Run method is
// started, and returns a function that cancels ctx, waits up to
// StopTimeout for run to return and returns its error (an error of its
// own if run did not return). The function may be called more than once
// and from any goroutine; it is also called at cleanup, where a non-nil
// error fails the test.
func Run(t testing.TB, run func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	stop, _ = start(t, run)
	return stop
}

// RunReady is Run that then waits until ready is closed. If run returns
// first, or readyTimeout passes, the test fails.
func RunReady(t testing.TB, run func(ctx context.Context) error, ready <-chan struct{}, readyTimeout time.Duration) (stop func() error) {
	t.Helper()
	stop, done := start(t, run)
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("Run returned before ready: %v", stop())
	case <-timer.C:
		_ = stop()
		t.Fatalf("not ready within %v", readyTimeout)
	}
	return stop
}

// errNotStopped is the stop function's error when Run ignored its
// cancelled context.
var errNotStopped = errors.New("testkit: Run did not return within StopTimeout of its context's cancellation")

func start(t testing.TB, run func(ctx context.Context) error) (stop func() error, done <-chan struct{}) {
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan struct{})
	var runErr error
	go func() {
		defer close(finished)
		runErr = run(ctx)
	}()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			timer := time.NewTimer(StopTimeout)
			defer timer.Stop()
			select {
			case <-finished:
				stopErr = runErr
			case <-timer.C:
				stopErr = errNotStopped
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return stop, finished
}

// Context returns a context that ends after timeout or when the test
// ends, whichever is first.
func Context(t testing.TB, timeout time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// Buffer is a bytes.Buffer safe for concurrent use: a process's or a
// logger's output written by one goroutine and read by the test.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// FirstDiff shows the first line where got differs from want (golden-file
// tests).
func FirstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if i >= len(g) || i >= len(w) || gl != wl {
			return fmt.Sprintf("line %d:\n got: %q\nwant: %q", i+1, gl, wl)
		}
	}
	return "(no line difference)"
}

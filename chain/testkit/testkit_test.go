package testkit

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// fakeT records failures instead of failing the real test (Cleanup and
// the rest go to the real one).
type fakeT struct {
	testing.TB
	fatal  string
	errors []string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// onGoroutine runs f(ft) on its own goroutine (Fatalf ends it) and waits.
func onGoroutine(ft *fakeT, f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ft)
	}()
	<-done
}

func TestWaitFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := 0
		WaitFor(t, time.Minute, "three polls", func() bool { n++; return n == 3 })
		if n != 3 || time.Since(start) != 2*PollInterval {
			t.Fatalf("%d polls in %v", n, time.Since(start))
		}
		ft := &fakeT{TB: t}
		onGoroutine(ft, func(tb testing.TB) { WaitFor(tb, time.Second, "never", func() bool { return false }) })
		if ft.fatal != "timed out after 1s waiting for never" {
			t.Fatalf("fatal %q", ft.fatal)
		}
	})
}

func TestRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		stop := Run(t, func(ctx context.Context) error { <-ctx.Done(); return nil })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		ft := &fakeT{TB: t}
		var stopErr error
		onGoroutine(ft, func(tb testing.TB) {
			stop := Run(tb, func(ctx context.Context) error { <-ctx.Done(); return boom })
			stopErr = stop()
		})
		if !errors.Is(stopErr, boom) {
			t.Fatalf("stop returned %v, want Run's error", stopErr)
		}
		stuck := make(chan struct{})
		defer close(stuck)
		onGoroutine(ft, func(tb testing.TB) {
			stop := Run(tb, func(ctx context.Context) error { <-stuck; return nil })
			stopErr = stop()
		})
		if !errors.Is(stopErr, errNotStopped) {
			t.Fatalf("stop of a Run that ignores its context returned %v", stopErr)
		}
	})
}

func TestRunReady(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ready := make(chan struct{})
		RunReady(t, func(ctx context.Context) error { close(ready); <-ctx.Done(); return nil }, ready, time.Second)
		ft := &fakeT{TB: t}
		onGoroutine(ft, func(tb testing.TB) {
			RunReady(tb, func(ctx context.Context) error { return errors.New("no listener") }, make(chan struct{}), time.Second)
		})
		if ft.fatal != "Run returned before ready: no listener" {
			t.Fatalf("fatal %q", ft.fatal)
		}
		onGoroutine(ft, func(tb testing.TB) {
			RunReady(tb, func(ctx context.Context) error { <-ctx.Done(); return nil }, make(chan struct{}), time.Second)
		})
		if ft.fatal != "not ready within 1s" {
			t.Fatalf("fatal %q", ft.fatal)
		}
	})
}

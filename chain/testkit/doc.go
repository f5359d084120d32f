// Package testkit holds the helpers the module's tests share: polling for
// a condition with a deadline (WaitFor), running a component's
// Run(ctx) until the test ends (Run, RunReady), a context bounded by the
// test (Context) and a buffer safe for concurrent writers (Buffer).
//
// It is for tests only and imports nothing of the module, so any package
// may use it from its _test files. It lives under chain, not in an
// internal directory at the top, because the module's top-level layout is
// fixed and every package of the module may import chain/...; the
// dependency test applies to it like to the rest of chain.
//
// # Conventions
//
// Waits synchronise on a condition, never on elapsed time; their timeouts
// are deadlines generous enough for a loaded machine under -race, not
// measurements. Every helper that starts a goroutine stops it and waits
// for it in t.Cleanup, so a test leaks nothing. All helpers work inside a
// testing/synctest bubble (they use only the time package's timers).
package testkit

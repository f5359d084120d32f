package chaintest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"

	"github.com/quarrychain/quarry/chain/memstore"
)

// Clock is a settable clock for chain.Config.Now. It is safe for concurrent use.
type Clock struct {
	ns atomic.Int64
}

// NewClock returns a clock showing t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// FarFuture returns a time ten years after p's genesis block: late enough
// that no block a test builds is from the future, early enough for 32-bit
// timestamps.
func FarFuture(p *chain.Params) time.Time {
	return p.GenesisBlock.Header.Time().Add(10 * 365 * 24 * time.Hour)
}

// NewChain returns a chain on an in-memory store with the given clock
// (FarFuture(p) if now is nil). The store is closed when the test ends.
func NewChain(tb testing.TB, p *chain.Params, now func() time.Time) *chain.Chain {
	tb.Helper()
	if now == nil {
		far := FarFuture(p)
		now = func() time.Time { return far }
	}
	store := memstore.New()
	tb.Cleanup(func() { _ = store.Close() })
	c, err := chain.New(chain.Config{Params: p, Store: store, Now: now, VerifyWorkers: 2})
	if err != nil {
		tb.Fatalf("chain.New: %v", err)
	}
	return c
}

package miner

import (
	"sync"
	"time"
)

// tokenBucket paces hashing under Config.HashrateLimit. One token is one
// nonce. Tokens accrue at rate per second up to burst; a worker reserves a
// whole batch before hashing it and may start at the returned time, so the
// nonces whose start time is at most t never exceed
// burst + rate*(t - first reservation) (the property TestTokenBucketBound
// checks). Reservations may drive the balance negative: later callers wait
// longer, which spreads the limit over any number of workers. It is safe
// for concurrent use; the lock is taken once per batch.
type tokenBucket struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	started bool
}

func newTokenBucket(rate, burst float64) *tokenBucket {
	return &tokenBucket{rate: rate, burst: burst}
}

// reserve takes n tokens at now and returns when the caller may use them:
// never before the latest time the balance accounts for (a caller with a
// slightly older clock reading waits the difference), later when the
// bucket is in debt.
func (b *tokenBucket) reserve(n uint64, now time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.started:
		b.started, b.last, b.tokens = true, now, b.burst
	case now.After(b.last):
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.last).Seconds())
		b.last = now
	}
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return b.last
	}
	// The debt is repaid at rate; the caller's nonces start once it is.
	// Rounding up keeps the bound exact despite nanosecond truncation.
	wait := time.Duration(-b.tokens/b.rate*float64(time.Second)) + 1
	return b.last.Add(wait)
}

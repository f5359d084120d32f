package miner

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// pacer paces hashing under Config.HashrateLimit with a token bucket from
// golang.org/x/time/rate: one token is one nonce, the burst is one batch.
// A worker reserves its whole batch before hashing it and starts at the
// returned time, so the nonces whose start time is at most t never exceed
// batch + limit*(t - first reservation) (the property TestPacerBound
// checks). Reservations may drive the balance negative: later callers wait
// longer, which spreads the limit over any number of workers. It is safe
// for concurrent use; the lock is taken once per batch.
type pacer struct {
	batch uint64

	mu   sync.Mutex
	lim  *rate.Limiter
	last time.Time
}

func newPacer(limit float64, batch uint64) *pacer {
	return &pacer{batch: batch, lim: rate.NewLimiter(rate.Limit(limit), int(batch))}
}

// reserve takes n nonces (at most one batch) at now and returns when the
// caller may start hashing them.
//
// Workers read the clock before they take the lock, so readings arrive
// slightly out of order. A rate.Limiter given an older time than its last
// one moves its clock back and later counts that interval twice; pacer
// therefore never lets its clock go back: a stale reading counts as the
// latest one, and its caller waits the difference.
func (p *pacer) reserve(n uint64, now time.Time) time.Time {
	n = min(n, p.batch) // a reservation above the burst would never be granted
	p.mu.Lock()
	defer p.mu.Unlock()
	if now.Before(p.last) {
		now = p.last
	}
	p.last = now
	r := p.lim.ReserveN(now, int(n))
	return now.Add(r.DelayFrom(now))
}

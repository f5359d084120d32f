package stratum

import (
	"time"

	"github.com/quarrychain/quarry/chain"
)

// Info is a snapshot of the server for RPC getstratuminfo. It is a plain
// value, safe to share once returned.
type Info struct {
	// Listen is the address the server listens on ("" before it does).
	Listen string
	// Connections is the number of open connections, Workers the
	// authorized workers among them.
	Connections int
	Workers     []WorkerInfo
	// Totals since the server started (closed connections included).
	SharesAccepted uint64
	SharesRejected uint64 // stale shares excluded
	SharesStale    uint64
	BlocksFound    uint64
	BlocksRejected uint64
	// HashesPerSec is the estimate over every open connection.
	HashesPerSec float64
}

// WorkerInfo describes one authorized worker of one connection.
type WorkerInfo struct {
	Name           string
	PayTo          chain.Address
	Remote         string
	Agent          string
	ConnectedSince time.Time
	Difficulty     float64
	// HashesPerSec is estimated from the difficulty of the accepted shares
	// of the last RateWindow (difficulty d stands for d * 2^32 hashes).
	HashesPerSec float64
	Accepted     uint64
	Rejected     uint64
	Stale        uint64
	Blocks       uint64
	LastShare    time.Time // zero if none
}

// RateWindow is the span over which hash rates are estimated.
const RateWindow = 5 * time.Minute

const (
	rateBuckets    = 10
	rateBucketSpan = RateWindow / rateBuckets
)

// rateWindow sums the work of accepted shares in rateBuckets buckets. It is
// owned by its connection (guarded by the connection's lock).
type rateWindow struct {
	start time.Time // when counting began (connection time)
	epoch int64     // bucket index of buckets[cur]
	cur   int
	work  [rateBuckets]float64
}

func (r *rateWindow) advance(now time.Time) {
	idx := int64(now.Sub(r.start) / rateBucketSpan)
	for r.epoch < idx {
		r.epoch++
		r.cur = (r.cur + 1) % rateBuckets
		r.work[r.cur] = 0
		if idx-r.epoch > rateBuckets { // skip ahead: everything is old
			r.epoch = idx
			r.work = [rateBuckets]float64{}
		}
	}
}

func (r *rateWindow) add(now time.Time, hashes float64) {
	r.advance(now)
	r.work[r.cur] += hashes
}

// rate returns hashes per second over the window (or since start, if
// shorter).
func (r *rateWindow) rate(now time.Time) float64 {
	r.advance(now)
	var sum float64
	for _, w := range r.work {
		sum += w
	}
	span := min(now.Sub(r.start), RateWindow).Seconds()
	if span < 1 {
		span = 1
	}
	return sum / span
}

// workerStats are one worker's counters (guarded by its connection's lock).
type workerStats struct {
	name      string
	accepted  uint64
	rejected  uint64
	stale     uint64
	blocks    uint64
	lastShare time.Time
	rate      rateWindow
}

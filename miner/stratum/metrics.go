package stratum

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Reject reasons (the bounded label values of quarry_stratum_shares_rejected_total).
const (
	rejectDuplicate     = "duplicate"
	rejectLowDifficulty = "low_difficulty"
	rejectInvalid       = "invalid" // bad ntime, extranonce2 size, nonce, version bits
	rejectUnauthorized  = "unauthorized"
)

// Disconnect reasons (the label values of quarry_stratum_disconnects_total).
const (
	dropClosed    = "closed"    // the client closed or the read failed
	dropIdle      = "idle"      // no complete line within the timeout
	dropOversized = "oversized" // a line longer than MaxLineBytes
	dropMalformed = "malformed" // too many malformed lines
	dropInvalid   = "invalid"   // too many invalid shares in a row
	dropSlow      = "slow"      // a write failed or timed out (the client does not read)
	dropShutdown  = "shutdown"  // the server stopped
	dropFull      = "full"      // MaxConns reached (refused at accept)
)

// metrics are the server's Prometheus collectors. Counters and gauges are
// functions over the server's atomics; the hot path only touches the
// reject/disconnect vectors and the notify histogram.
type metrics struct {
	notify      prometheus.Histogram
	rejected    *prometheus.CounterVec
	disconnects *prometheus.CounterVec
}

func newMetrics(s *Server, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		notify: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "quarry_stratum_notify_latency_seconds",
			Help:    "Time from noticing new work (new tip, refresh) to writing its mining.notify to a connection.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5},
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_stratum_shares_rejected_total",
			Help: "Shares rejected, by reason (stale shares are counted in quarry_stratum_shares_stale_total).",
		}, []string{"reason"}),
		disconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_stratum_disconnects_total",
			Help: "Connections closed, by reason.",
		}, []string{"reason"}),
	}
	for _, r := range []string{rejectDuplicate, rejectLowDifficulty, rejectInvalid, rejectUnauthorized} {
		m.rejected.WithLabelValues(r)
	}
	for _, r := range []string{dropClosed, dropIdle, dropOversized, dropMalformed, dropInvalid, dropSlow, dropShutdown, dropFull} {
		m.disconnects.WithLabelValues(r)
	}
	if reg == nil {
		return m, nil
	}
	cs := []prometheus.Collector{
		m.notify, m.rejected, m.disconnects,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_stratum_connections", Help: "Open stratum connections."},
			func() float64 { return float64(s.connCount()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_stratum_shares_accepted_total", Help: "Shares accepted."},
			func() float64 { return float64(s.accepted.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_stratum_shares_stale_total", Help: "Shares for unknown or replaced jobs (code 21)."},
			func() float64 { return float64(s.stale.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_stratum_difficulty_accepted_total", Help: "Sum of the share difficulty of accepted shares (x 2^32 = hashes)."},
			func() float64 { return s.acceptedDiff() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_stratum_blocks_found_total", Help: "Blocks found by stratum workers and accepted by the chain."},
			func() float64 { return float64(s.blocksFound.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_stratum_blocks_rejected_total", Help: "Blocks found by stratum workers and refused by the chain."},
			func() float64 { return float64(s.blocksRejected.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_stratum_hashrate_hashes_per_second", Help: "Hash rate of all connections estimated from accepted shares (5 min window)."},
			func() float64 { return s.Info().HashesPerSec }),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, wrapErr(ErrBadConfig, err, "registering metrics")
		}
	}
	return m, nil
}

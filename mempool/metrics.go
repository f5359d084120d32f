package mempool

import "github.com/prometheus/client_golang/prometheus"

// metrics are the pool's Prometheus collectors. Label values come from the
// bounded sets allKinds and allReasons.
type metrics struct {
	txs           prometheus.Gauge
	bytes         prometheus.Gauge
	senders       prometheus.Gauge
	accepted      prometheus.Counter
	rejectedBy    *prometheus.CounterVec
	removedBy     *prometheus.CounterVec
	readded       prometheus.Counter
	reorgs        prometheus.Counter
	notifyDropped prometheus.Counter
	selectSeconds prometheus.Histogram
}

// newMetrics builds the collectors and registers them with reg unless reg
// is nil (tests).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		txs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_mempool_transactions", Help: "Number of pending transactions.",
		}),
		bytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_mempool_size_bytes", Help: "Total serialized size of pending transactions.",
		}),
		senders: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "quarry_mempool_senders", Help: "Number of accounts with pending transactions.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_mempool_accepted_total", Help: "Transactions accepted into the pool.",
		}),
		rejectedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_mempool_rejected_total", Help: "Transactions rejected, by reason.",
		}, []string{"reason"}),
		removedBy: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quarry_mempool_removed_total",
			Help: "Transactions removed from the pool, by reason (included, replaced, evicted, expired, conflict, unfunded, gapped).",
		}, []string{"reason"}),
		readded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_mempool_reorg_readded_total", Help: "Transactions of disconnected blocks put back into the pool.",
		}),
		reorgs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_mempool_reorgs_total", Help: "Chain reorganisations the pool has processed.",
		}),
		notifyDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_mempool_notifications_dropped_total", Help: "Pool events dropped because a subscriber's buffer was full.",
		}),
		selectSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quarry_mempool_select_duration_seconds", Help: "Time to select transactions for a block template.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 8),
		}),
	}
	for _, k := range allKinds {
		m.rejectedBy.WithLabelValues(string(k))
	}
	for _, r := range allReasons {
		m.removedBy.WithLabelValues(string(r))
	}
	if reg != nil {
		reg.MustRegister(m.txs, m.bytes, m.senders, m.accepted, m.rejectedBy, m.removedBy,
			m.readded, m.reorgs, m.notifyDropped, m.selectSeconds)
	}
	return m
}

func (m *metrics) rejected(k ErrorKind) {
	if k == "" {
		k = ErrInvalid
	}
	m.rejectedBy.WithLabelValues(string(k)).Inc()
}

func (m *metrics) removed(r RemoveReason) { m.removedBy.WithLabelValues(string(r)).Inc() }

// updateGauges refreshes the size gauges; p.mu is held.
func (p *Pool) updateGauges() {
	p.met.txs.Set(float64(len(p.txs)))
	p.met.bytes.Set(float64(p.bytes))
	p.met.senders.Set(float64(len(p.senders)))
}

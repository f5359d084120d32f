package node

import (
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quarrychain/quarry/chain"
)

// chainMetrics exports the chain's state and activity. The chain package
// cannot import Prometheus, so the node derives gauges from chain.Best and
// counts events it receives.
type chainMetrics struct {
	connected    prometheus.Counter
	disconnected prometheus.Counter
	reorgs       prometheus.Counter
	reorgDepth   prometheus.Histogram
	validation   prometheus.Histogram
}

func newChainMetrics(reg prometheus.Registerer, c *chain.Chain, eventDrops func() float64) *chainMetrics {
	m := &chainMetrics{
		connected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_chain_blocks_connected_total", Help: "Blocks connected to the main chain.",
		}),
		disconnected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_chain_blocks_disconnected_total", Help: "Blocks disconnected from the main chain by reorgs or invalidation.",
		}),
		reorgs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quarry_chain_reorgs_total", Help: "Reorganisations onto another branch.",
		}),
		reorgDepth: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quarry_chain_reorg_depth_blocks", Help: "Blocks disconnected per reorganisation.",
			Buckets: []float64{1, 2, 3, 5, 10, 20, 50, 100, 500, 1000},
		}),
		validation: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quarry_chain_block_processing_seconds", Help: "Time to process (validate, store, connect) one block.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 12),
		}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.connected, m.disconnected, m.reorgs, m.reorgDepth, m.validation)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_chain_height_blocks", Help: "Height of the best chain."},
			func() float64 { return float64(c.Height()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_chain_work_hashes", Help: "Cumulative work of the best chain (expected hashes)."},
			func() float64 { f, _ := new(big.Float).SetInt(c.Best().ChainWork).Float64(); return f }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_chain_orphans_blocks", Help: "Blocks waiting for their parent."},
			func() float64 { return float64(c.OrphanCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_chain_tip_age_seconds", Help: "Seconds since the best block's timestamp."},
			func() float64 { return time.Since(time.Unix(int64(c.Best().Timestamp), 0)).Seconds() }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_chain_corrupt_reads_total", Help: "Reads of stored block data that failed its integrity check (checksum, decoding, hash or merkle root)."},
			func() float64 { return float64(c.CorruptReads()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quarry_chain_corrupt_blocks", Help: "Stored blocks whose data was found corrupt and not yet repaired from a peer."},
			func() float64 { return float64(len(c.CorruptBlocks())) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "quarry_chain_event_drops_total", Help: "Chain events the node's dispatcher missed because its buffer was full."},
			eventDrops),
	)
	return m
}

func (m *chainMetrics) observe(ev chain.Event) {
	switch ev.Kind {
	case chain.EventBlockConnected:
		m.connected.Inc()
	case chain.EventBlockDisconnected:
		m.disconnected.Inc()
	case chain.EventReorg:
		m.reorgs.Inc()
		m.reorgDepth.Observe(float64(ev.Reorg.Depth()))
	}
}

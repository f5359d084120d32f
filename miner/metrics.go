package miner

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the miner's Prometheus instruments. Counters and gauges are
// functions over the miner's own atomic counters (nothing is written to
// Prometheus on the hot path); only the two histograms are observed
// directly, once per tip switch and once per template. Built from a
// Registerer; a nil Registerer leaves them unregistered. Safe for
// concurrent use.
type metrics struct {
	tipSwitch     prometheus.Histogram
	templateBuild prometheus.Histogram
}

const (
	metricsNS  = "quarry"
	metricsSub = "miner"
)

func newMetrics(m *Miner, reg prometheus.Registerer) (*metrics, error) {
	met := &metrics{
		tipSwitch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNS, Subsystem: metricsSub, Name: "tip_switch_seconds",
			Help:    "Time from noticing a new tip to every worker hashing on a template built on it.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 12), // 50 µs .. ~1.2 s
		}),
		templateBuild: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricsNS, Subsystem: metricsSub, Name: "template_build_seconds",
			Help:    "Time to build a block template (tip read, transaction selection, merkle tree).",
			Buckets: prometheus.ExponentialBuckets(10e-6, 3, 10), // 10 µs .. ~0.2 s
		}),
	}
	if reg == nil {
		return met, nil
	}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: metricsNS, Subsystem: metricsSub, Name: name, Help: help}
	}
	collectors := []prometheus.Collector{
		met.tipSwitch,
		met.templateBuild,
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("hashes_total",
			"Nonces tried (one header hash each) by background mining and generatetoaddress.")),
			func() float64 { return float64(m.hashesTotal()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("hashrate_hashes_per_second",
			"Total hash rate over a sliding window of about 10 seconds.")),
			func() float64 { total, _ := m.rate.rates(); return total }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("blocks_found_total",
			"Blocks mined by this node and accepted by the chain.")),
			func() float64 { return float64(m.blocksFound.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("blocks_rejected_total",
			"Blocks mined by this node and refused by the chain.")),
			func() float64 { return float64(m.blocksRejected.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("kernel_faults_total",
			"Kernel solutions that the reference hash did not confirm (a kernel bug).")),
			func() float64 { return float64(m.kernelFaults.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("template_age_seconds",
			"Age of the template the workers are mining (0 when not mining).")),
			func() float64 { return m.templateAge().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("threads",
			"Background mining workers that should be running (0 when not generating).")),
			func() float64 { return float64(m.threads.Load()) }),
		&workerCollector{m: m,
			rate: prometheus.NewDesc(prometheus.BuildFQName(metricsNS, metricsSub, "worker_hashrate_hashes_per_second"),
				"Hash rate of each worker index over a sliding window of about 10 seconds.", []string{"worker"}, nil),
			stale: prometheus.NewDesc(prometheus.BuildFQName(metricsNS, metricsSub, "stale_work_total"),
				"Work discarded because the tip changed: batches finished on a replaced tip, and solutions whose parent was no longer the tip.",
				[]string{"kind"}, nil),
		},
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, wrapErr(ErrBadConfig, err, "registering miner metrics")
		}
	}
	return met, nil
}

// workerCollector exports the per-worker hash rates (label values bounded
// by the thread count) and the stale-work counters.
type workerCollector struct {
	m           *Miner
	rate, stale *prometheus.Desc
}

func (c *workerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.rate
	ch <- c.stale
}

func (c *workerCollector) Collect(ch chan<- prometheus.Metric) {
	_, per := c.m.rate.rates()
	for i, r := range per {
		ch <- prometheus.MustNewConstMetric(c.rate, prometheus.GaugeValue, r, strconv.Itoa(i))
	}
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(c.m.staleBatches.Load()), "batch")
	ch <- prometheus.MustNewConstMetric(c.stale, prometheus.CounterValue, float64(c.m.staleSolutions.Load()), "solution")
}

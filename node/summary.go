package node

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// The node's periodic log: every SummaryInterval one "status" line says
// where the node is (height, peers, own hash rate, mempool), or, while it
// is far behind its peers, a "syncing" line with progress, rate and ETA;
// per-block lines are suppressed while syncing. Between summaries the
// reporter watches for two transitions worth a line at once: catching up
// with the peers, and bootnodes that cannot be reached.

const (
	// DefaultSummaryInterval is the default period of the status line.
	DefaultSummaryInterval = time.Minute
	// statusTick is how often the reporter looks at the node.
	statusTick = 5 * time.Second
	// syncLag is how many blocks behind the best peer counts as syncing.
	syncLag = 20
	// bootnodeGrace is how long after start the bootnodes have to connect
	// before the warning: one dial round (a dial is bounded by 10 s) with
	// margin.
	bootnodeGrace = 15 * time.Second
)

// statusSource is what the reporter reads; the node implements it over its
// components, tests with a fake. Its methods must be safe to call from the
// dispatcher goroutine.
type statusSource interface {
	Height() uint64
	// Peers returns the connected peers' ids, and the highest tip height
	// they reported.
	Peers() (ids []peer.ID, bestHeight uint64)
	// Mining returns whether the node mines and its hash rate (H/s).
	Mining() (on bool, hashRate float64)
	// Mempool returns the number of pending transactions and their bytes.
	Mempool() (count, bytes int)
}

// statusReporter writes the periodic summary. It is used by one goroutine
// (the dispatcher) and is not safe for concurrent use.
type statusReporter struct {
	src       statusSource
	log       *slog.Logger
	interval  time.Duration // 0: no periodic summary
	bootnodes []peer.ID
	start     time.Time

	lastSummary time.Time
	lastCount   uint64 // blocks connected at the last summary
	count       uint64 // blocks connected since start
	syncing     bool
	bootWarned  bool
}

func newStatusReporter(src statusSource, log *slog.Logger, interval time.Duration, bootnodes []string, start time.Time) *statusReporter {
	r := &statusReporter{src: src, log: log, interval: interval, start: start, lastSummary: start}
	for _, b := range bootnodes {
		if ai, err := peer.AddrInfoFromString(b); err == nil {
			r.bootnodes = append(r.bootnodes, ai.ID)
		}
	}
	return r
}

// connected counts one block connected to the main chain.
func (r *statusReporter) connected() { r.count++ }

// quiet reports whether per-block logging is suppressed (catching up).
func (r *statusReporter) quiet() bool { return r.syncing }

// tick looks at the node at time now and logs what is due.
func (r *statusReporter) tick(now time.Time) {
	height := r.src.Height()
	ids, target := r.src.Peers()
	behind := target > height+syncLag
	if r.syncing && !behind {
		r.log.Info("caught up with peers", "height", height, "peers", len(ids))
	}
	r.syncing = behind
	r.checkBootnodes(now, ids)
	if r.interval <= 0 || now.Sub(r.lastSummary) < r.interval {
		return
	}
	newBlocks := r.count - r.lastCount
	rate := float64(newBlocks) / now.Sub(r.lastSummary).Seconds()
	r.lastSummary, r.lastCount = now, r.count
	txs, bytes := r.src.Mempool()
	mining, hps := r.src.Mining()
	hashRate := "off"
	if mining {
		hashRate = formatHashRate(hps)
	}
	if behind {
		eta := "unknown"
		if rate > 0 {
			eta = (time.Duration(float64(target-height)/rate) * time.Second).String()
		}
		r.log.Info("syncing", "height", height, "peer_height", target,
			"progress", fmt.Sprintf("%.1f%%", 100*float64(height)/float64(target)),
			"blocks_per_second", fmt.Sprintf("%.1f", rate), "eta", eta,
			"peers", len(ids), "mempool_txs", txs)
		return
	}
	r.log.Info("status", "height", height, "peers", len(ids), "hashrate", hashRate,
		"mempool_txs", txs, "mempool_bytes", bytes, "new_blocks", newBlocks)
}

// checkBootnodes warns once when, a dial round after start, no bootnode
// is connected, and says so again when one connects.
func (r *statusReporter) checkBootnodes(now time.Time, connected []peer.ID) {
	if len(r.bootnodes) == 0 || now.Sub(r.start) < bootnodeGrace {
		return
	}
	reached := false
	for _, b := range r.bootnodes {
		for _, p := range connected {
			if p == b {
				reached = true
			}
		}
	}
	switch {
	case !reached && !r.bootWarned:
		r.bootWarned = true
		names := make([]string, len(r.bootnodes))
		for i, b := range r.bootnodes {
			names[i] = b.String()
		}
		r.log.Warn("cannot reach any bootnode: check that they run and that --bootnodes has their current address and peer id; the node keeps retrying",
			"bootnodes", strings.Join(names, ","), "peers", len(connected))
	case reached && r.bootWarned:
		r.bootWarned = false
		r.log.Info("bootnode reached", "peers", len(connected))
	}
}

// formatHashRate prints H/s with an SI prefix: "950 H/s", "12.3 kH/s".
func formatHashRate(hps float64) string {
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s"}
	i := 0
	for hps >= 1000 && i < len(units)-1 {
		hps /= 1000
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", hps, units[i])
	}
	return fmt.Sprintf("%.1f %s", hps, units[i])
}

// summaryInterval resolves Config.LogSummaryInterval.
func (c *resolved) summaryInterval() time.Duration {
	switch {
	case c.LogSummaryInterval < 0:
		return 0
	case c.LogSummaryInterval == 0:
		return DefaultSummaryInterval
	}
	return c.LogSummaryInterval
}

// nodeStatus is the statusSource of a running node.
type nodeStatus struct {
	n     *Node
	comps *components
}

func (s nodeStatus) Height() uint64 { return s.n.c.Height() }

func (s nodeStatus) Peers() ([]peer.ID, uint64) {
	if s.comps.net == nil {
		return nil, 0
	}
	var best uint64
	peers := s.comps.net.Peers()
	ids := make([]peer.ID, len(peers))
	for i, p := range peers {
		ids[i] = p.ID
		if p.HasStatus && p.TipHeight > best {
			best = p.TipHeight
		}
	}
	return ids, best
}

func (s nodeStatus) Mining() (bool, float64) {
	st := s.comps.miner.Stats()
	return st.Generating, st.HashRate
}

func (s nodeStatus) Mempool() (int, int) { return s.n.pool.Count(), s.n.pool.Bytes() }

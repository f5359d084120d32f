package p2p

import (
	"sync"
	"sync/atomic"
	"time"

	lpmetrics "github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// byteCounter is the host's bandwidth reporter: byte totals overall and
// per peer, without rates (getpeerinfo reports per-peer totals only; the
// swarm logs every stream read and write, so nothing else is kept).
// It replaces go-libp2p's BandwidthCounter, which keeps a rate meter per
// peer and per protocol in go-flow-metrics registries: their TrimIdle
// (v0.3.0) deletes nothing, because it collects the cut-off time instead
// of the idle keys, so a node that met peer after peer kept a pair of
// meters for every one. Here a peer's counters go when the node forgets
// the peer (forget, called with the peerstore cleanup). Per-protocol
// figures are not kept (nothing reads them). Safe for concurrent use.
type byteCounter struct {
	in, out atomic.Int64

	mu    sync.RWMutex
	peers map[peer.ID]*byteCount
}

// byteCount is one direction pair of counters.
type byteCount struct{ in, out atomic.Int64 }

func newByteCounter() *byteCounter {
	return &byteCounter{peers: make(map[peer.ID]*byteCount)}
}

var _ lpmetrics.Reporter = (*byteCounter)(nil)

// entry returns p's counters, creating them.
func (b *byteCounter) entry(p peer.ID) *byteCount {
	b.mu.RLock()
	c := b.peers[p]
	b.mu.RUnlock()
	if c != nil {
		return c
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c = b.peers[p]; c == nil {
		c = &byteCount{}
		b.peers[p] = c
	}
	return c
}

// LogSentMessage implements metrics.Reporter.
func (b *byteCounter) LogSentMessage(n int64) { b.out.Add(n) }

// LogRecvMessage implements metrics.Reporter.
func (b *byteCounter) LogRecvMessage(n int64) { b.in.Add(n) }

// LogSentMessageStream implements metrics.Reporter.
func (b *byteCounter) LogSentMessageStream(n int64, _ protocol.ID, p peer.ID) {
	b.entry(p).out.Add(n)
}

// LogRecvMessageStream implements metrics.Reporter.
func (b *byteCounter) LogRecvMessageStream(n int64, _ protocol.ID, p peer.ID) {
	b.entry(p).in.Add(n)
}

func stats(c *byteCount) lpmetrics.Stats {
	if c == nil {
		return lpmetrics.Stats{}
	}
	return lpmetrics.Stats{TotalIn: c.in.Load(), TotalOut: c.out.Load()}
}

// GetBandwidthForPeer implements metrics.Reporter (totals only).
func (b *byteCounter) GetBandwidthForPeer(p peer.ID) lpmetrics.Stats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return stats(b.peers[p])
}

// GetBandwidthForProtocol implements metrics.Reporter: not kept, zero.
func (b *byteCounter) GetBandwidthForProtocol(protocol.ID) lpmetrics.Stats {
	return lpmetrics.Stats{}
}

// GetBandwidthTotals implements metrics.Reporter (totals only).
func (b *byteCounter) GetBandwidthTotals() lpmetrics.Stats {
	return lpmetrics.Stats{TotalIn: b.in.Load(), TotalOut: b.out.Load()}
}

// GetBandwidthByPeer implements metrics.Reporter.
func (b *byteCounter) GetBandwidthByPeer() map[peer.ID]lpmetrics.Stats {
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := make(map[peer.ID]lpmetrics.Stats, len(b.peers))
	for p, c := range b.peers {
		out[p] = stats(c)
	}
	return out
}

// GetBandwidthByProtocol implements metrics.Reporter: not kept, empty.
func (b *byteCounter) GetBandwidthByProtocol() map[protocol.ID]lpmetrics.Stats {
	return map[protocol.ID]lpmetrics.Stats{}
}

// Reset implements metrics.Reporter.
func (b *byteCounter) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.in.Store(0)
	b.out.Store(0)
	clear(b.peers)
}

// TrimIdle implements metrics.Reporter. Peers are dropped by forget, so
// there is nothing kept by time.
func (b *byteCounter) TrimIdle(time.Time) {}

// forget drops p's counters.
func (b *byteCounter) forget(p peer.ID) {
	b.mu.Lock()
	delete(b.peers, p)
	b.mu.Unlock()
}

// peerCount returns the number of peers with counters (tests).
func (b *byteCounter) peerCount() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.peers)
}

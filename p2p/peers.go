package p2p

import (
	"cmp"
	"errors"
	"math/big"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/multiformats/go-multiaddr"
	"golang.org/x/time/rate"

	"github.com/quarrychain/quarry/chain"
)

// Misbehaviour scoring: penalties add points; at banThreshold the peer is
// banned for Config.BanDuration and disconnected.
const (
	banThreshold     = 100
	penaltyInvalid   = 100 // invalid block or transaction (gossip Reject, sync)
	penaltyMalformed = 100 // undecodable or oversized frame or message
	penaltyRateLimit = 5   // a request over the serving rate limit
	penaltyStall     = 50  // a sync request left unanswered (the peer is also disconnected)
	maxScoreMemory   = 1024

	// Serving-side limits per peer.
	serveRate     = 100 // requests per second, sustained
	serveBurst    = 200
	serveInflight = 8 // concurrent inbound requests
	maxServeDelay = time.Second
)

// Penalty reasons (metric label values).
const (
	reasonInvalidBlock = "invalid_block"
	reasonInvalidTx    = "invalid_tx"
	reasonMalformed    = "malformed"
	reasonOversized    = "oversized"
	reasonProtocol     = "protocol"
	reasonGenesis      = "genesis_mismatch"
	reasonRateLimit    = "rate_limit"
	reasonStall        = "stall"
)

// peerState is what the node tracks about a connected peer. Guarded by peerSet.mu.
type peerState struct {
	inbound    bool
	since      time.Time
	status     Status
	hasStatus  bool
	statusAt   time.Time
	score      int
	needStatus bool
	statusBusy bool
	syncing    bool
	limiter    *rate.Limiter
	inflight   int
}

// PeerInfo describes a connected peer for RPC (getpeerinfo).
type PeerInfo struct {
	ID             peer.ID
	Addrs          []multiaddr.Multiaddr // remote addresses of the open connections
	Inbound        bool
	ConnectedSince time.Time
	AgentVersion   string
	// PingTime is the moving average of the measured round trips (0:
	// none yet).
	PingTime time.Duration
	Static   bool // a bootnode or added peer, redialled when lost
	// Their chain as of the last status exchange (HasStatus false: none yet).
	HasStatus  bool
	StatusTime time.Time
	TipHash    chain.Hash
	TipHeight  uint64
	TipWork    *big.Int
	// Traffic with this peer since it was first seen.
	BytesIn, BytesOut int64
	// BanScore is the misbehaviour score; the peer is banned at 100.
	BanScore int
	Syncing  bool
}

// stateLocked returns p's state, creating it. Caller holds n.set.mu.
func (n *Node) stateLocked(p peer.ID) *peerState {
	ps := n.set.peers[p]
	if ps == nil {
		ps = &peerState{since: n.cfg.Now(), limiter: rate.NewLimiter(serveRate, serveBurst), score: n.set.scoreLeft[p]}
		delete(n.set.scoreLeft, p)
		delete(n.set.gone, p)
		n.set.peers[p] = ps
		n.m.peers.Set(float64(len(n.set.peers)))
	}
	return ps
}

func (n *Node) notifee() network.Notifiee {
	return &network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnected(c) },
		DisconnectedF: func(nw network.Network, c network.Conn) { n.onDisconnected(nw, c) },
	}
}

// isConnected reports whether p is in the set of connected peers (from its
// Connected event to its last connection's Disconnected event).
func (n *Node) isConnected(p peer.ID) bool {
	n.set.mu.Lock()
	defer n.set.mu.Unlock()
	return n.set.peers[p] != nil
}

func (n *Node) onConnected(c network.Conn) {
	p := c.RemotePeer()
	n.set.mu.Lock()
	_, known := n.set.peers[p]
	ps := n.stateLocked(p)
	if !known {
		ps.inbound = c.Stat().Direction == network.DirInbound
	}
	ps.needStatus = true
	n.set.mu.Unlock()
	if !n.gate.allowed(p) {
		n.queueClose(p) // banned or partitioned between the gater check and now
		return
	}
	if !known {
		n.log.Debug("peer connected", "peer", p, "addr", c.RemoteMultiaddr(), "inbound", c.Stat().Direction == network.DirInbound)
		n.pushSync(syncInput{kind: inPeerUp, peer: p})
	}
	signal(n.wakeStatus)
}

func (n *Node) onDisconnected(nw network.Network, c network.Conn) {
	p := c.RemotePeer()
	if nw.Connectedness(p) == network.Connected {
		return
	}
	n.set.mu.Lock()
	if ps := n.set.peers[p]; ps != nil {
		if ps.score > 0 {
			n.rememberScoreLocked(p, ps.score)
		}
		delete(n.set.peers, p)
		n.m.peers.Set(float64(len(n.set.peers)))
	}
	n.set.gone[p] = n.cfg.Now()
	n.set.mu.Unlock()
	n.pushSync(syncInput{kind: inPeerDown, peer: p})
	n.log.Debug("peer disconnected", "peer", p)
	signal(n.wakeDial)
}

// rememberScoreLocked keeps the score of a peer that is not connected,
// so that reconnecting does not wipe it. The memory holds maxScoreMemory
// peers; when it is full it starts over (a peer that left many
// disconnections ago regains a clean score, which a ban never does).
// Caller holds n.set.mu.
func (n *Node) rememberScoreLocked(p peer.ID, score int) {
	if _, ok := n.set.scoreLeft[p]; !ok && len(n.set.scoreLeft) >= maxScoreMemory {
		clear(n.set.scoreLeft)
	}
	n.set.scoreLeft[p] = score
}

// penalize adds misbehaviour points to p and bans it at the threshold.
func (n *Node) penalize(p peer.ID, points int, reason string, err error) {
	if p == "" || p == n.id {
		return
	}
	n.m.penalties.WithLabelValues(reason).Inc()
	n.set.mu.Lock()
	var score int
	if ps := n.set.peers[p]; ps != nil {
		ps.score += points
		score = ps.score
		if score >= banThreshold {
			ps.score = 0
		}
	} else {
		// A peer that already left (a reply or gossip message judged
		// after the disconnection).
		score = n.set.scoreLeft[p] + points
		if score >= banThreshold {
			delete(n.set.scoreLeft, p)
		} else {
			n.rememberScoreLocked(p, score)
		}
	}
	n.set.mu.Unlock()
	n.log.Warn("peer misbehaved", "peer", p, "reason", reason, "points", points, "score", score, "err", err)
	if score >= banThreshold {
		msg := reason
		if err != nil {
			msg += ": " + err.Error()
		}
		n.ban(p, n.cfg.BanDuration, msg)
	}
}

// penalizeErr penalises p for a sync-protocol error if it is the peer's fault.
func (n *Node) penalizeErr(p peer.ID, err error) {
	switch {
	case errors.Is(err, ErrFrameTooLarge):
		n.penalize(p, penaltyMalformed, reasonOversized, err)
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnexpectedMsg):
		n.penalize(p, penaltyMalformed, reasonMalformed, err)
	case errors.Is(err, ErrGenesisMismatch):
		n.penalize(p, banThreshold, reasonGenesis, err)
	case errors.Is(err, ErrInvalidBlock):
		n.penalize(p, penaltyInvalid, reasonInvalidBlock, err)
	case errors.Is(err, ErrProtocol):
		n.penalize(p, penaltyMalformed, reasonProtocol, err)
	case errors.Is(err, ErrTimeout):
		// Bitcoin Core disconnects a peer that stalls the download; the
		// points make a peer that stalls again after reconnecting banned.
		n.penalize(p, penaltyStall, reasonStall, err)
		n.queueClose(p)
	}
}

func (n *Node) ban(p peer.ID, d time.Duration, reason string) {
	if n.gate.ban(p, d, reason) {
		n.m.bans.Inc()
		n.log.Warn("peer banned", "peer", p, "for", d, "reason", reason)
	}
	n.saveBans()
	n.queueClose(p)
}

// Ban bans p for d (d <= 0: Config.BanDuration) and disconnects it. A banned
// peer can neither dial nor be dialled until the ban expires or is lifted.
func (n *Node) Ban(p peer.ID, d time.Duration, reason string) error {
	if p == n.id {
		return newErr(ErrSelf, "cannot ban this node")
	}
	if err := p.Validate(); err != nil {
		return wrapErr(ErrBadPeerAddr, err, "peer id")
	}
	if d <= 0 {
		d = n.cfg.BanDuration
	}
	if reason == "" {
		reason = "manual"
	}
	n.ban(p, d, reason)
	return nil
}

// Unban lifts p's ban and reports whether there was one.
func (n *Node) Unban(p peer.ID) bool {
	ok := n.gate.unban(p)
	n.saveBans()
	signal(n.wakeDial)
	return ok
}

// ListBans returns the active bans, soonest expiry first.
func (n *Node) ListBans() []BanInfo { return n.gate.listBans() }

// ClearBans lifts every ban.
func (n *Node) ClearBans() {
	n.gate.clearBans()
	n.saveBans()
	signal(n.wakeDial)
}

// IsBanned reports whether p is currently banned.
func (n *Node) IsBanned(p peer.ID) bool { return n.gate.banned(p) }

// DisconnectPeer closes every connection to p. A static peer is redialled
// later with backoff; ban it to keep it away.
func (n *Node) DisconnectPeer(p peer.ID) error {
	h := n.host()
	if h == nil {
		return newErr(ErrNotRunning, "disconnect %s", p)
	}
	if h.Network().Connectedness(p) != network.Connected {
		return newErr(ErrNotConnected, "peer %s", p)
	}
	return h.Network().ClosePeer(p)
}

// SetNetworkActive switches networking off (close every connection and
// refuse new ones in both directions) or back on (redial known peers).
func (n *Node) SetNetworkActive(on bool) {
	n.gate.setActive(on)
	if on {
		n.log.Info("network activity enabled")
		signal(n.wakeDial)
		return
	}
	n.log.Info("network activity disabled")
	if h := n.host(); h != nil {
		for _, p := range h.Network().Peers() {
			_ = h.Network().ClosePeer(p)
		}
	}
}

// NetworkActive reports whether networking is switched on.
func (n *Node) NetworkActive() bool { return n.gate.active() }

// Partition blocks the given peers in both directions and closes their
// connections, simulating a network split. Their addresses are kept so that
// Heal can redial them.
func (n *Node) Partition(peers []peer.ID) {
	added := n.gate.partition(peers)
	h := n.host()
	addrs := make(map[peer.ID][]multiaddr.Multiaddr, len(added))
	if h != nil {
		for _, p := range added {
			if as := h.Peerstore().Addrs(p); len(as) > 0 {
				addrs[p] = as
				h.Peerstore().AddAddrs(p, as, peerstorePermanent)
			}
		}
	}
	n.dialer.mu.Lock()
	for _, p := range added {
		t := n.dialer.targets[p]
		if t == nil {
			t = &dialTarget{info: peer.AddrInfo{ID: p}}
			n.dialer.targets[p] = t
		}
		if !t.static {
			t.until = n.cfg.Now().Add(healRedialWindow)
		}
		if as := addrs[p]; len(as) > 0 {
			t.info.Addrs = as
		}
	}
	n.dialer.mu.Unlock()
	if len(added) > 0 {
		n.log.Info("partition", "peers", len(added))
	}
	if h != nil {
		for _, p := range added {
			_ = h.Network().ClosePeer(p)
		}
	}
}

// Heal lifts the partition and redials the formerly blocked peers.
func (n *Node) Heal() {
	healed := n.gate.heal()
	now := n.cfg.Now()
	var transient []peer.ID
	n.dialer.mu.Lock()
	for _, p := range healed {
		if t := n.dialer.targets[p]; t != nil {
			if !t.static {
				t.until = now.Add(healRedialWindow)
				transient = append(transient, p)
			}
			t.failures, t.next = 0, time.Time{}
		}
	}
	n.dialer.mu.Unlock()
	if h := n.host(); h != nil {
		// Addresses were pinned for the partition only; they now age like
		// those of any recently connected peer.
		for _, p := range transient {
			h.Peerstore().UpdateAddrs(p, peerstorePermanent, peerstore.RecentlyConnectedAddrTTL)
		}
	}
	if len(healed) > 0 {
		n.log.Info("partition healed", "peers", len(healed))
	}
	signal(n.wakeDial)
}

// Partitioned returns the peers currently blocked by Partition.
func (n *Node) Partitioned() []peer.ID {
	n.gate.mu.RLock()
	defer n.gate.mu.RUnlock()
	out := make([]peer.ID, 0, len(n.gate.partitioned))
	for p := range n.gate.partitioned {
		out = append(out, p)
	}
	slices.SortFunc(out, cmp.Compare[peer.ID])
	return out
}

// Peers returns information on every connected peer, sorted by ID.
func (n *Node) Peers() []PeerInfo {
	h := n.host()
	if h == nil {
		return nil
	}
	n.set.mu.Lock()
	out := make([]PeerInfo, 0, len(n.set.peers))
	for p, ps := range n.set.peers {
		pi := PeerInfo{
			ID: p, Inbound: ps.inbound, ConnectedSince: ps.since, BanScore: ps.score, Syncing: ps.syncing,
			HasStatus: ps.hasStatus, StatusTime: ps.statusAt,
		}
		if ps.hasStatus {
			pi.TipHash, pi.TipHeight = ps.status.Tip, ps.status.Height
			pi.TipWork = new(big.Int).Set(ps.status.ChainWork)
		}
		out = append(out, pi)
	}
	n.set.mu.Unlock()
	n.dialer.mu.Lock()
	for i := range out {
		if t := n.dialer.targets[out[i].ID]; t != nil {
			out[i].Static = t.static
		}
	}
	n.dialer.mu.Unlock()
	n.mu.Lock()
	bwc := n.bwc
	n.mu.Unlock()
	for i := range out {
		p := out[i].ID
		for _, c := range h.Network().ConnsToPeer(p) {
			out[i].Addrs = append(out[i].Addrs, c.RemoteMultiaddr())
		}
		out[i].PingTime = h.Peerstore().LatencyEWMA(p)
		if v, err := h.Peerstore().Get(p, "AgentVersion"); err == nil {
			if s, ok := v.(string); ok {
				out[i].AgentVersion = s
			}
		}
		if bwc != nil {
			st := bwc.GetBandwidthForPeer(p)
			out[i].BytesIn, out[i].BytesOut = st.TotalIn, st.TotalOut
		}
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// admit applies the serving-side limits to a request from p: at most
// serveInflight concurrent requests, and a token bucket that delays (rather
// than refuses) a fast but sequential client. A request that would wait
// longer than maxServeDelay, or exceeds the concurrency, is limited. ok
// false without limited means the peer is already gone. release must follow
// an admitted request.
func (n *Node) admit(p peer.ID) (ok, limited bool) {
	n.set.mu.Lock()
	ps := n.set.peers[p] // Connected is always delivered before a stream is
	if ps == nil {
		n.set.mu.Unlock()
		return false, false // disconnected meanwhile
	}
	if ps.inflight >= serveInflight {
		n.set.mu.Unlock()
		return false, true
	}
	now := time.Now()
	r := ps.limiter.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if !r.OK() || delay > maxServeDelay {
		r.CancelAt(now)
		n.set.mu.Unlock()
		return false, true
	}
	ps.inflight++
	n.set.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		<-t.C
	}
	return true, false
}

func (n *Node) release(p peer.ID) {
	n.set.mu.Lock()
	defer n.set.mu.Unlock()
	if ps := n.set.peers[p]; ps != nil && ps.inflight > 0 {
		ps.inflight--
	}
}

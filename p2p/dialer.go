package p2p

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/multiformats/go-multiaddr"
)

// Dialling: static peers (bootnodes, AddPeer) are dialled at start and
// redialled with exponential backoff whenever they are not connected;
// healed partition members and mDNS finds are dialled the same way for a
// bounded window.
const (
	// healRedialWindow is how long Heal keeps redialling a non-static peer.
	healRedialWindow = 2 * time.Minute
	// mdnsRedialWindow is how long an mDNS find is redialled.
	mdnsRedialWindow = time.Minute
	// dialTimeout bounds one dial.
	dialTimeout = 10 * time.Second
	// maxConcurrentDials bounds the dials in flight.
	maxConcurrentDials = 8
	// peerstorePermanent keeps addresses of known peers forever.
	peerstorePermanent = peerstore.PermanentAddrTTL
	// peerstoreGrace is how long the peerstore keeps a disconnected peer
	// that the node does not dial (see forgetPeers).
	peerstoreGrace = time.Minute
	// maxGone bounds the disconnected peers waiting for forgetPeers; more
	// are forgotten without waiting out the grace.
	maxGone = 4096
)

// dialTarget is a peer the node keeps dialling. Guarded by dialer.mu.
type dialTarget struct {
	info     peer.AddrInfo
	static   bool      // configured: dialled forever
	until    time.Time // transient: dropped after this (never while partitioned) or once connected
	failures int
	next     time.Time
	dialing  bool
}

// backoff returns the delay before the next attempt after failures
// consecutive failed dials: min·2^(failures-1), capped at max.
func backoff(failures int, lo, hi time.Duration) time.Duration {
	if failures <= 0 {
		return 0
	}
	d := lo
	for i := 1; i < failures && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// parsePeerAddr parses a multiaddr that ends in /p2p/<id>.
func parsePeerAddr(s string) (peer.AddrInfo, error) {
	ma, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, wrapErr(ErrBadPeerAddr, err, "%q", s)
	}
	ai, err := peer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		return peer.AddrInfo{}, wrapErr(ErrBadPeerAddr, err, "%q (want a multiaddr ending in /p2p/<peer-id>)", s)
	}
	return *ai, nil
}

// AddPeer adds a static peer (RPC addnode "add"): it is protected, kept in
// the peerstore permanently and redialled whenever disconnected. AddPeer
// dials it at once and returns that dial's error; the peer stays configured
// either way.
func (n *Node) AddPeer(ctx context.Context, addr string) error {
	ai, err := parsePeerAddr(addr)
	if err != nil {
		return err
	}
	if ai.ID == n.id {
		return newErr(ErrSelf, "%s", addr)
	}
	h := n.host()
	if h == nil {
		return newErr(ErrNotRunning, "add peer %s", addr)
	}
	n.dialer.mu.Lock()
	t := n.dialer.targets[ai.ID]
	if t == nil {
		t = &dialTarget{}
		n.dialer.targets[ai.ID] = t
	}
	t.info, t.static, t.failures, t.next = ai, true, 0, time.Time{}
	t.dialing = true
	n.dialer.mu.Unlock()
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstorePermanent)
	h.ConnManager().Protect(ai.ID, protectTag)
	err = n.dial(ctx, h, ai)
	n.dialDone(ai.ID, err)
	return err
}

// RemovePeer stops redialling a peer added by AddPeer or as a bootnode
// (RPC addnode "remove"); an open connection stays. It reports whether the
// peer was configured.
func (n *Node) RemovePeer(p peer.ID) bool {
	n.dialer.mu.Lock()
	t := n.dialer.targets[p]
	ok := t != nil && t.static
	if ok {
		delete(n.dialer.targets, p)
	}
	h := n.h
	n.dialer.mu.Unlock()
	if ok && h != nil && !n.gate.isPartitioned(p) {
		h.ConnManager().Unprotect(p, protectTag)
		h.Peerstore().UpdateAddrs(p, peerstore.PermanentAddrTTL, peerstore.RecentlyConnectedAddrTTL)
	}
	return ok
}

// dial connects to ai unless the gater forbids it. Our own backoff governs
// redials, so the swarm's dial backoff for the peer is cleared first.
func (n *Node) dial(ctx context.Context, h host.Host, ai peer.AddrInfo) error {
	if !n.gate.allowed(ai.ID) {
		return newErr(ErrPeerBlocked, "%s", ai.ID)
	}
	if sw, ok := h.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(ai.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	err := h.Connect(ctx, ai)
	res := resultOK
	if err != nil {
		res = resultError
	}
	n.m.dials.WithLabelValues(res).Inc()
	return err
}

// dialDone records a dial's outcome in its target. Every dial counts as a
// failure until the connection proves itself with a status exchange
// (onStatus resets the count): a peer that accepts the transport handshake
// and then drops us (a ban on its side) is redialled with growing backoff
// rather than in a tight loop.
func (n *Node) dialDone(p peer.ID, err error) {
	n.dialer.mu.Lock()
	defer n.dialer.mu.Unlock()
	t := n.dialer.targets[p]
	if t == nil {
		return
	}
	t.dialing = false
	t.failures++
	t.next = n.cfg.Now().Add(backoff(t.failures, n.cfg.RedialMin, n.cfg.RedialMax))
	if err != nil {
		n.log.Debug("dial failed", "peer", p, "failures", t.failures, "retry_at", t.next, "err", err)
	}
}

// dialLoop keeps known peers connected.
func (n *Node) dialLoop(ctx context.Context) error {
	period := min(max(n.cfg.RedialMin/4, 50*time.Millisecond), time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	done := make(chan struct{}, maxConcurrentDials)
	inflight := 0
	defer func() {
		for ; inflight > 0; inflight-- {
			<-done
		}
	}()
	forgot := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-n.wakeDial:
		case <-done:
			inflight--
			continue
		}
		h := n.host()
		if h == nil {
			continue
		}
		if time.Since(forgot) >= time.Second {
			forgot = time.Now()
			n.forgetPeers(h)
		}
		if !n.gate.active() {
			continue
		}
		now := n.cfg.Now()
		connected := make(map[peer.ID]bool)
		for _, p := range h.Network().Peers() {
			connected[p] = h.Network().Connectedness(p) == network.Connected
		}
		var todo []peer.AddrInfo
		n.dialer.mu.Lock()
		for p, tg := range n.dialer.targets {
			blocked := !n.gate.allowed(p)
			if !tg.static && !n.gate.isPartitioned(p) && (connected[p] || now.After(tg.until)) {
				delete(n.dialer.targets, p)
				continue
			}
			if connected[p] || tg.dialing || now.Before(tg.next) || blocked ||
				inflight+len(todo) >= maxConcurrentDials {
				continue
			}
			tg.dialing = true
			todo = append(todo, tg.info)
		}
		n.dialer.mu.Unlock()
		for _, ai := range todo {
			inflight++
			go func() {
				defer func() { done <- struct{}{} }()
				err := n.dial(ctx, h, ai)
				n.dialDone(ai.ID, err)
			}()
		}
	}
}

// forgetPeers removes from the peerstore (keys, protocols, metadata,
// latency and addresses), and from the connection manager's protected
// peers, every peer that left at least peerstoreGrace ago
// and that the node has no reason to remember: not connected again, not
// a dial target (static, healed or found by mDNS) and not partitioned. A
// departed peer that is still a target or partitioned is checked again a
// grace later. It returns how many it removed.
//
// go-libp2p keeps a disconnected peer's addresses for
// RecentlyConnectedAddrTTL (15 minutes) and its other records for a
// minute (its peerstore manager), which bounds the peerstore only by the
// rate at which peers come and go. This node never dials a peer it only
// met (it has no address exchange), so those addresses are of no use: a
// node that meets peer after peer, as one that outlives many labs does,
// keeps only the peers it is connected to, dials or holds partitioned,
// plus those that left in the last peerstoreGrace (at most maxGone).
func (n *Node) forgetPeers(h host.Host) int {
	now := n.cfg.Now()
	var due []peer.ID
	n.set.mu.Lock()
	all := len(n.set.gone) > maxGone
	for p, at := range n.set.gone {
		if all || now.Sub(at) >= peerstoreGrace {
			due = append(due, p)
			delete(n.set.gone, p)
		}
	}
	n.set.mu.Unlock()
	if len(due) == 0 {
		return 0
	}
	n.dialer.mu.Lock()
	keep := make(map[peer.ID]bool)
	for _, p := range due {
		if n.dialer.targets[p] != nil {
			keep[p] = true
		}
	}
	n.dialer.mu.Unlock()
	ps, cm := h.Peerstore(), h.ConnManager()
	n.mu.Lock()
	bwc := n.bwc
	n.mu.Unlock()
	// gossipsub protects the peers of its topic meshes in the connection
	// manager and does not lift the protection when they disconnect
	// (go-libp2p-pubsub v0.17.0), so it would outlive them.
	pubsubTags := []string{"pubsub:" + n.cfg.Params.BlockTopic(), "pubsub:" + n.cfg.Params.TxTopic(), "pubsub:<direct>"}
	removed := 0
	var later []peer.ID
	for _, p := range due {
		switch {
		case p == n.id || h.Network().Connectedness(p) == network.Connected:
		case keep[p] || n.gate.isPartitioned(p):
			later = append(later, p) // forgotten once it is neither
		default:
			ps.ClearAddrs(p)
			ps.RemovePeer(p)
			if bwc != nil {
				bwc.forget(p)
			}
			for _, tag := range pubsubTags {
				cm.Unprotect(p, tag)
			}
			removed++
		}
	}
	if len(later) > 0 {
		n.set.mu.Lock()
		for _, p := range later {
			if _, back := n.set.peers[p]; !back {
				n.set.gone[p] = now
			}
		}
		n.set.mu.Unlock()
	}
	return removed
}

// mdnsNotifee turns mDNS finds into transient dial targets.
type mdnsNotifee struct{ n *Node }

// HandlePeerFound implements mdns.Notifee.
func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := m.n
	if ai.ID == n.id || len(ai.Addrs) == 0 {
		return
	}
	n.dialer.mu.Lock()
	if n.dialer.targets[ai.ID] == nil {
		n.dialer.targets[ai.ID] = &dialTarget{info: ai, until: n.cfg.Now().Add(mdnsRedialWindow)}
	}
	n.dialer.mu.Unlock()
	signal(n.wakeDial)
}

// startMDNS starts LAN discovery; the returned function stops it.
func (n *Node) startMDNS(h host.Host) (func(), error) {
	svc := mdns.NewMdnsService(h, "quarry-"+n.cfg.Params.Name, mdnsNotifee{n})
	if err := svc.Start(); err != nil {
		_ = svc.Close()
		return nil, err
	}
	return func() { _ = svc.Close() }, nil
}

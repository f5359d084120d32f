package p2p

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
)

// BanInfo describes one banned peer.
type BanInfo struct {
	ID     peer.ID
	Since  time.Time
	Until  time.Time
	Reason string
}

// gater decides which connections may exist: it refuses banned and
// partitioned peers in both directions and everything while the network is
// switched off. It is the single source of truth for bans, the partition set
// and the network switch. Safe for concurrent use.
//
// The gater only refuses new connections; callers close open ones.
//
// The ban list is bounded (maxBans): a peer that misbehaves under a fresh
// identity each time earns a ban per identity, so a long-running node
// would otherwise keep one entry for every identity it ever banned. A new
// ban prunes the expired ones when the list is full, and if it is still
// full the ban that ends soonest gives way (an automatic ban of
// BanDuration, before any longer operator ban).
type gater struct {
	now     func() time.Time
	refused *prometheus.CounterVec // reason; may be nil
	maxBans int

	mu          sync.RWMutex
	self        peer.ID
	bans        map[peer.ID]BanInfo
	partitioned map[peer.ID]struct{}
	inactive    bool
}

func newGater(now func() time.Time, refused *prometheus.CounterVec) *gater {
	return &gater{now: now, refused: refused, maxBans: maxBans, bans: make(map[peer.ID]BanInfo), partitioned: make(map[peer.ID]struct{})}
}

// maxBans bounds the ban list (Bitcoin Core's ban list is unbounded, but
// its bans are mostly by address; ours are by peer ID, which costs an
// attacker nothing to change).
const maxBans = 4096

// makeRoomLocked frees a slot in a full ban list for a new entry: first
// the expired bans go, then, if none had expired, the one that ends
// soonest. The caller holds g.mu for writing.
func (g *gater) makeRoomLocked(now time.Time) {
	if len(g.bans) < g.maxBans {
		return
	}
	for id, b := range g.bans {
		if !now.Before(b.Until) {
			delete(g.bans, id)
		}
	}
	for len(g.bans) >= g.maxBans {
		var victim BanInfo
		first := true
		for _, b := range g.bans {
			if first || b.Until.Before(victim.Until) || b.Until.Equal(victim.Until) && b.ID < victim.ID {
				victim, first = b, false
			}
		}
		delete(g.bans, victim.ID)
	}
}

// banCount returns the number of entries in the ban list, expired ones
// not yet pruned included.
func (g *gater) banCount() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return len(g.bans)
}

// Refusal reasons (metric label values).
const (
	refusedInactive    = "inactive"
	refusedPartitioned = "partitioned"
	refusedBanned      = "banned"
)

// check reports whether a connection with p may exist now, and why not.
func (g *gater) check(p peer.ID) (bool, string) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.inactive {
		return false, refusedInactive
	}
	if _, ok := g.partitioned[p]; ok {
		return false, refusedPartitioned
	}
	if b, ok := g.bans[p]; ok && g.now().Before(b.Until) {
		return false, refusedBanned
	}
	return true, ""
}

// allowed reports whether a connection with p may exist now.
func (g *gater) allowed(p peer.ID) bool {
	ok, _ := g.check(p)
	return ok
}

// intercept is check for the ConnectionGater hooks: refusals are counted.
func (g *gater) intercept(p peer.ID) bool {
	ok, reason := g.check(p)
	if !ok && g.refused != nil {
		g.refused.WithLabelValues(reason).Inc()
	}
	return ok
}

func (g *gater) banned(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	b, ok := g.bans[p]
	return ok && g.now().Before(b.Until)
}

// ban records (or extends) a ban and reports whether p was not banned before.
func (g *gater) ban(p peer.ID, d time.Duration, reason string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	old, had := g.bans[p]
	fresh := !had || !now.Before(old.Until)
	if !had {
		g.makeRoomLocked(now)
	}
	until := now.Add(d)
	if !fresh && old.Until.After(until) {
		until = old.Until
	}
	g.bans[p] = BanInfo{ID: p, Since: now, Until: until, Reason: reason}
	return fresh
}

// restore re-installs a ban loaded from disk.
func (g *gater) restore(b BanInfo) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, had := g.bans[b.ID]; !had {
		g.makeRoomLocked(g.now())
	}
	g.bans[b.ID] = b
}

func (g *gater) unban(p peer.ID) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.bans[p]
	delete(g.bans, p)
	return ok
}

func (g *gater) clearBans() {
	g.mu.Lock()
	defer g.mu.Unlock()
	clear(g.bans)
}

// listBans returns the current bans sorted by expiry, pruning expired ones.
func (g *gater) listBans() []BanInfo {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	out := make([]BanInfo, 0, len(g.bans))
	for id, b := range g.bans {
		if !now.Before(b.Until) {
			delete(g.bans, id)
			continue
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BanInfo) int {
		if c := a.Until.Compare(b.Until); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

func (g *gater) setActive(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inactive = !on
}

func (g *gater) active() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return !g.inactive
}

// partition adds peers to the blocked set and returns the ones newly added.
func (g *gater) partition(peers []peer.ID) []peer.ID {
	g.mu.Lock()
	defer g.mu.Unlock()
	var added []peer.ID
	for _, p := range peers {
		if p == g.self {
			continue
		}
		if _, ok := g.partitioned[p]; !ok {
			g.partitioned[p] = struct{}{}
			added = append(added, p)
		}
	}
	return added
}

// heal empties the blocked set and returns its former members.
func (g *gater) heal() []peer.ID {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]peer.ID, 0, len(g.partitioned))
	for p := range g.partitioned {
		out = append(out, p)
	}
	clear(g.partitioned)
	slices.SortFunc(out, cmp.Compare[peer.ID])
	return out
}

func (g *gater) isPartitioned(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.partitioned[p]
	return ok
}

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return g.intercept(p) }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *gater) InterceptAddrDial(p peer.ID, _ multiaddr.Multiaddr) bool { return g.intercept(p) }

// InterceptAccept implements connmgr.ConnectionGater: the peer is not known
// yet, so only the network switch applies.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool {
	if g.active() {
		return true
	}
	if g.refused != nil {
		g.refused.WithLabelValues(refusedInactive).Inc()
	}
	return false
}

// InterceptSecured implements connmgr.ConnectionGater.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.intercept(p)
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

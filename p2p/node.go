package p2p

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/quarrychain/quarry/chain"
)

// Node is one peer of the Quarry network: a libp2p host, the gossip topics
// and the sync protocol. Build it with New and run it with Run. All methods
// are safe for concurrent use; those that need the host return
// ErrNotRunning outside Run (ban management works at any time).
type Node struct {
	cfg     Config
	log     *slog.Logger
	m       *metrics
	gate    *gater
	key     crypto.PrivKey
	id      peer.ID
	proto   protocol.ID
	statics []peer.AddrInfo
	ready   chan struct{}
	track   tracker
	// syncQ holds the sync loop's inputs: callbacks, request goroutines
	// and the connector post to it without blocking.
	syncQ *inbox[syncInput]

	wakeStatus chan struct{}
	wakeDial   chan struct{}
	wakeClose  chan struct{}

	set    peerSet // connected peers and remembered scores (own lock)
	dialer dialer  // peers kept connected (own lock)

	// replyBufs holds the *bufio.Writer buffers of served replies
	// (replyBufSize each), reused across requests.
	replyBufs sync.Pool

	// planPeers is the number of peers the sync planner tracks, stored by
	// the sync loop after each batch of inputs (the planner itself is
	// owned by that goroutine); it should equal the connected peers.
	planPeers atomic.Int64

	// mu guards the running host and gossip handles and the close queue.
	mu      sync.Mutex
	started bool
	h       host.Host
	bwc     *byteCounter
	ps      *pubsub.PubSub
	psCtx   *weakParent // gossipsub's context
	psSubs  *tracker    // gossipsub's event subscriptions
	blockT  *pubsub.Topic
	txT     *pubsub.Topic
	toClose map[peer.ID]struct{}
}

// peerSet is the state of connected peers, the scores of recently
// disconnected ones and when peers left (for forgetPeers). Every map is
// bounded: peers by the connection limits, scoreLeft by maxScoreMemory,
// gone by the disconnections of the last peerstoreGrace (at most
// maxGone). Its lock is never held while taking another.
type peerSet struct {
	mu        sync.Mutex
	peers     map[peer.ID]*peerState
	scoreLeft map[peer.ID]int       // scores of recently disconnected peers
	gone      map[peer.ID]time.Time // when a peer's last connection closed, until forgetPeers runs
}

// dialer holds the peers the node keeps dialling. Its lock is never held
// while taking another.
type dialer struct {
	mu      sync.Mutex
	targets map[peer.ID]*dialTarget
}

// New validates cfg, loads or creates the identity key and returns a Node.
// It starts nothing: no sockets, no goroutines.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := listenAddrs(cfg.listenAddr()); err != nil {
		return nil, err
	}
	key, err := loadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "identity key")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "registering metrics")
	}
	n := &Node{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "p2p"),
		m:          m,
		gate:       newGater(cfg.Now, m.refused),
		key:        key,
		id:         id,
		proto:      SyncProtocolID(cfg.Params),
		ready:      make(chan struct{}),
		wakeStatus: make(chan struct{}, 1),
		wakeDial:   make(chan struct{}, 1),
		wakeClose:  make(chan struct{}, 1),
		set:        peerSet{peers: make(map[peer.ID]*peerState), scoreLeft: make(map[peer.ID]int), gone: make(map[peer.ID]time.Time)},
		dialer:     dialer{targets: make(map[peer.ID]*dialTarget)},
		toClose:    make(map[peer.ID]struct{}),
		syncQ:      newInbox[syncInput](),
	}
	n.gate.self = id
	bans, err := loadBans(cfg.DataDir, cfg.Now())
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "ban list")
	}
	for _, b := range bans {
		n.gate.restore(b)
	}
	for _, s := range cfg.Bootnodes {
		ai, err := parsePeerAddr(s)
		if err != nil {
			return nil, wrapErr(ErrBadConfig, err, "bootnode %q", s)
		}
		if ai.ID == id {
			continue // a node listed as its own bootnode (shared config files)
		}
		n.statics = append(n.statics, ai)
		n.dialer.targets[ai.ID] = &dialTarget{info: ai, static: true}
	}
	return n, nil
}

// SyncProtocolID returns the sync protocol's libp2p protocol ID for a network.
func SyncProtocolID(p *chain.Params) protocol.ID {
	return protocol.ID(fmt.Sprintf("/quarry/%s/sync/%d", p.Name, ProtocolVersion))
}

// ID returns the node's peer ID (available before Run).
func (n *Node) ID() peer.ID { return n.id }

// Ready returns a channel closed once the node listens and gossip is set up.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Addrs returns the node's listen addresses with its /p2p/ ID appended, as
// others would give them as bootnodes. Nil before Ready.
func (n *Node) Addrs() []multiaddr.Multiaddr {
	h := n.host()
	if h == nil {
		return nil
	}
	p2pPart, err := multiaddr.NewComponent("p2p", n.id.String())
	if err != nil {
		return nil
	}
	var out []multiaddr.Multiaddr
	for _, a := range h.Addrs() {
		out = append(out, a.Encapsulate(p2pPart.Multiaddr()))
	}
	return out
}

// host returns the running host or nil.
func (n *Node) host() host.Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.h
}

// gossipStopTimeout bounds the wait for gossipsub's event goroutines at
// shutdown.
const gossipStopTimeout = 5 * time.Second

// gossipSubs returns the subscriptions of gossipsub, which startGossip
// records before it creates the router.
func (n *Node) gossipSubs() *tracker {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.psSubs
}

// Run starts the host, gossip, discovery, status and sync loops, and blocks
// until ctx is cancelled or a component fails. It returns only after every
// goroutine it started has exited and the host is closed. Run may be called
// once.
func (n *Node) Run(ctx context.Context) error {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return newErr(ErrAlreadyRunning, "Run called twice")
	}
	n.started = true
	n.mu.Unlock()

	h, bwc, err := n.newHost()
	if err != nil {
		return err
	}
	h.Network().Notify(n.notifee())
	h.SetStreamHandler(n.proto, n.handleStream)
	h.SetStreamHandler(n.pushProto(), n.handlePush)
	// libp2p.New listens before the notifee is registered: a peer that
	// connected in that gap produced no Connected event. Adopt those
	// connections now (onConnected is idempotent).
	for _, c := range h.Network().Conns() {
		n.onConnected(c)
	}

	// The pubsub context is cancelled before the host is closed: pubsub
	// leaks goroutines otherwise (go-libp2p #2514).
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(runCtx)

	ps, blockSub, txSub, err := n.startGossip(gctx, h)
	if err != nil {
		cancel()
		_ = g.Wait()
		n.gossipSubs().closeWithin(gossipStopTimeout)
		n.shutdown(h)
		return err
	}

	n.mu.Lock()
	n.h, n.bwc, n.ps = h, bwc, ps
	for _, ai := range n.statics {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		h.ConnManager().Protect(ai.ID, protectTag)
	}
	n.mu.Unlock()

	g.Go(func() error { return drain(gctx, blockSub) })
	g.Go(func() error { return drain(gctx, txSub) })
	g.Go(func() error { return n.statusLoop(gctx) })
	g.Go(func() error { return n.syncLoop(gctx) })
	g.Go(func() error { return n.dialLoop(gctx) })
	g.Go(func() error { return n.closeLoop(gctx) })
	if r, ok := n.cfg.Chain.(BlockRepairer); ok {
		g.Go(func() error { return n.repairLoop(gctx, r) })
	}
	g.Go(func() error { return n.pingLoop(gctx) })
	stopMDNS := func() {}
	if n.cfg.MDNS {
		if stop, err := n.startMDNS(h); err != nil {
			n.log.Warn("mdns disabled", "err", err)
		} else {
			stopMDNS = stop
		}
	}
	n.log.Info("p2p listening", "id", n.id, "addrs", fmt.Sprint(h.Addrs()))
	close(n.ready)
	signal(n.wakeDial)

	err = g.Wait()
	cancel()
	// gossipsub's event goroutines return on the cancelled context and
	// close their subscriptions: wait for them, so that they are gone
	// when Run returns and do not see the host close under them.
	if !n.gossipSubs().closeWithin(gossipStopTimeout) {
		n.log.Warn("gossipsub still subscribed to host events after shutdown", "waited", gossipStopTimeout)
	}
	stopMDNS()
	blockSub.Cancel()
	txSub.Cancel()
	n.shutdown(h)
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// shutdown closes the host and waits for handlers and validators.
func (n *Node) shutdown(h host.Host) {
	n.mu.Lock()
	n.h, n.ps, n.blockT, n.txT = nil, nil, nil, nil
	n.mu.Unlock()
	if err := h.Close(); err != nil {
		n.log.Warn("closing host", "err", err)
	}
	n.track.close()
	n.set.mu.Lock()
	clear(n.set.peers)
	n.m.peers.Set(0)
	n.set.mu.Unlock()
}

// drain consumes a subscription; the work happens in the topic validator.
func drain(ctx context.Context, sub *pubsub.Subscription) error {
	for {
		if _, err := sub.Next(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// signal wakes the loop that waits on c (capacity 1) without blocking; a
// wake-up already pending absorbs it.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// tracker counts in-flight stream handlers and validators (and gossipsub's
// event subscriptions, gossiphost.go) so that Run can wait for them; after
// close, enter refuses new work. Safe for concurrent use.
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

func (t *tracker) leave() { t.wg.Done() }

func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// closeWithin is close that gives up after d; it reports whether all the
// work ended in time.
func (t *tracker) closeWithin(d time.Duration) bool {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// closeLoop closes connections of peers queued by a ban. Closing from a dedicated goroutine keeps
// validators and stream handlers from closing their own connection.
func (n *Node) closeLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.wakeClose:
		}
		n.mu.Lock()
		h := n.h
		ids := make([]peer.ID, 0, len(n.toClose))
		for p := range n.toClose {
			ids = append(ids, p)
		}
		clear(n.toClose)
		n.mu.Unlock()
		if h == nil {
			continue
		}
		slices.SortFunc(ids, cmp.Compare[peer.ID])
		for _, p := range ids {
			_ = h.Network().ClosePeer(p)
		}
	}
}

// queueClose schedules the connections to p for closing.
func (n *Node) queueClose(p peer.ID) {
	n.mu.Lock()
	n.toClose[p] = struct{}{}
	n.mu.Unlock()
	signal(n.wakeClose)
}

// PeerIDs returns the connected peers' IDs, sorted. Safe for concurrent use.
func (n *Node) PeerIDs() []peer.ID {
	h := n.host()
	if h == nil {
		return nil
	}
	out := slices.Clone(h.Network().Peers())
	slices.SortFunc(out, cmp.Compare[peer.ID])
	return out
}

// ConnectionCount returns the number of connected peers.
func (n *Node) ConnectionCount() int {
	h := n.host()
	if h == nil {
		return 0
	}
	return len(h.Network().Peers())
}

// ourStatus describes our chain for the status exchange.
func (n *Node) ourStatus() Status {
	best := n.cfg.Chain.Best()
	return Status{
		Version: ProtocolVersion, Genesis: n.cfg.Params.GenesisHash,
		Tip: best.Hash, Height: best.Height, ChainWork: best.ChainWork,
	}
}

// protectTag protects configured peers in the connection manager.
const protectTag = "quarry-static"

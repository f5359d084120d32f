package stratum

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner"
)

// ChainView is the part of the chain the server reads. *chain.Chain
// satisfies it; it must be safe for concurrent use and Best cheap.
type ChainView interface {
	Params() *chain.Params
	Best() chain.Snapshot
}

// TemplateSource builds block templates; *miner.Miner satisfies it, so
// stratum jobs come from the same template code (transaction selection,
// time rules, coinbase layout) as the node's own miner. It must be safe
// for concurrent use.
type TemplateSource interface {
	BuildTemplateFor(now time.Time, payTo chain.Address) (*miner.Template, error)
}

// Defaults of Config.
const (
	DefaultShareInterval     = 5 * time.Second
	DefaultInitialDifficulty = 0.01
	DefaultMinDifficulty     = 1.0 / (1 << 16)
	DefaultMaxConns          = 1024
	DefaultMaxLineBytes      = 16 << 10
	DefaultHandshakeTimeout  = 30 * time.Second
	DefaultIdleTimeout       = 10 * time.Minute
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxSubmitRate     = 100
	DefaultRefreshInterval   = 5 * time.Second
	DefaultPollInterval      = 250 * time.Millisecond
	// DefaultMaxBadMessages malformed lines or unknown methods close a
	// connection; DefaultMaxInvalidShares invalid shares in a row too.
	DefaultMaxBadMessages   = 16
	DefaultMaxInvalidShares = 100
)

// Config configures a Server. Zero values select the defaults.
type Config struct {
	// ListenAddr is host:port (required). A non-loopback host needs
	// AllowRemote.
	ListenAddr  string
	AllowRemote bool
	// Password, if set, must be given by mining.authorize.
	Password string
	// PayTo is paid by workers whose name is not an address (zero: such
	// names are refused and workers must authorize as ADDRESS[.worker]).
	PayTo chain.Address

	// Chain, Templates and Submitter are required. The Submitter is the
	// same one the node's miner uses: blocks go through ProcessBlock and
	// are announced to peers; it must have processed the block when it
	// returns.
	Chain     ChainView
	Templates TemplateSource
	Submitter miner.Submitter

	// ShareInterval is the share rate vardiff aims at per connection.
	ShareInterval time.Duration
	// InitialDifficulty is a new connection's share difficulty (until
	// vardiff or mining.suggest_difficulty changes it); MinDifficulty is
	// the lowest vardiff goes. Share difficulty never exceeds the network
	// difficulty (a share that is a block is always a share), except on a
	// network easier than MinDifficulty (regtest), where connections start
	// at MinDifficulty and every share is a block.
	InitialDifficulty float64
	MinDifficulty     float64

	// MaxConns bounds open connections; more are closed at accept.
	MaxConns int
	// MaxLineBytes bounds a request line; a longer one closes the
	// connection.
	MaxLineBytes int
	// HandshakeTimeout: a connection must subscribe and authorize within
	// it. IdleTimeout: an authorized connection that sends nothing for
	// this long is closed (half-open connections). WriteTimeout bounds one
	// write; a client that does not read is closed.
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	// MaxSubmitRate is the submits per second one connection may make
	// (burst twice that); faster submitters are throttled (their reads
	// wait), never served at the others' expense.
	MaxSubmitRate float64
	// MaxBadMessages (malformed lines, unknown methods) and
	// MaxInvalidShares (in a row) close a connection.
	MaxBadMessages   int
	MaxInvalidShares int

	// RefreshInterval rebuilds the template on an unchanged tip (new
	// transactions, time); PollInterval polls Best as a fallback for a
	// missed TipChanged.
	RefreshInterval time.Duration
	PollInterval    time.Duration

	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (nil: discard) and Registerer (nil: metrics not registered).
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (cfg Config) normalize() (Config, error) {
	if cfg.Chain == nil || cfg.Templates == nil || cfg.Submitter == nil || cfg.Chain.Params() == nil {
		return cfg, newErr(ErrBadConfig, "Chain (with parameters), Templates and Submitter are required")
	}
	host, _, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return cfg, wrapErr(ErrBadConfig, err, "listen address %q", cfg.ListenAddr)
	}
	if ip := net.ParseIP(host); !cfg.AllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return cfg, newErr(ErrBadConfig, "listen address %s is not a loopback address (allow remote miners explicitly)", cfg.ListenAddr)
	}
	if cfg.ShareInterval < 0 || cfg.InitialDifficulty < 0 || cfg.MinDifficulty < 0 || cfg.MaxConns < 0 || cfg.MaxLineBytes < 0 ||
		cfg.HandshakeTimeout < 0 || cfg.IdleTimeout < 0 || cfg.WriteTimeout < 0 || cfg.MaxSubmitRate < 0 ||
		cfg.MaxBadMessages < 0 || cfg.MaxInvalidShares < 0 || cfg.RefreshInterval < 0 || cfg.PollInterval < 0 {
		return cfg, newErr(ErrBadConfig, "intervals, limits and difficulties must not be negative")
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.ShareInterval, DefaultShareInterval)
	def(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	def(&cfg.RefreshInterval, DefaultRefreshInterval)
	def(&cfg.PollInterval, DefaultPollInterval)
	if cfg.InitialDifficulty == 0 {
		cfg.InitialDifficulty = DefaultInitialDifficulty
	}
	if cfg.MinDifficulty == 0 {
		cfg.MinDifficulty = DefaultMinDifficulty
	}
	cfg.InitialDifficulty = max(cfg.InitialDifficulty, cfg.MinDifficulty)
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxLineBytes == 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	cfg.MaxLineBytes = max(cfg.MaxLineBytes, 512)
	if cfg.MaxSubmitRate == 0 {
		cfg.MaxSubmitRate = DefaultMaxSubmitRate
	}
	if cfg.MaxBadMessages == 0 {
		cfg.MaxBadMessages = DefaultMaxBadMessages
	}
	if cfg.MaxInvalidShares == 0 {
		cfg.MaxInvalidShares = DefaultMaxInvalidShares
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return cfg, nil
}

// placeholderPayTo is the recipient of the base template when no default
// payout is configured; every job re-points the coinbase to its worker's
// address (miner.Template.WithPayTo), so it is never paid.
var placeholderPayTo = chain.Address{19: 1}

// Server is a stratum v1 server. Create it with New and run it with Run;
// every method is safe for concurrent use.
type Server struct {
	cfg    Config
	params *chain.Params
	log    *slog.Logger
	met    *metrics

	epoch   atomic.Pointer[epoch] // current work (nil: none)
	tipCh   chan struct{}         // TipChanged signals (buffer 1, coalesced)
	noticed atomic.Int64          // UnixNano of the first unserved TipChanged
	ex1Next atomic.Uint32
	ready   chan struct{}

	mu      sync.Mutex
	started bool
	addr    string
	conns   map[*conn]struct{}

	accepted       atomic.Uint64
	acceptedDiffB  atomic.Uint64 // float64 bits
	rejected       atomic.Uint64
	stale          atomic.Uint64
	blocksFound    atomic.Uint64
	blocksRejected atomic.Uint64

	// onNotify is a benchmark hook, called after a connection was written
	// new work (set by in-package code before Run, never changed later).
	onNotify func()
}

// New validates cfg and returns a Server. It starts nothing; it registers
// the metrics with cfg.Registerer (when set).
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:    cfg,
		params: cfg.Chain.Params(),
		log:    cfg.Logger.With("component", "stratum"),
		tipCh:  make(chan struct{}, 1),
		ready:  make(chan struct{}),
		conns:  make(map[*conn]struct{}),
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	s.ex1Next.Store(binary.BigEndian.Uint32(b[:]))
	if s.met, err = newMetrics(s, cfg.Registerer); err != nil {
		return nil, err
	}
	return s, nil
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the listening address ("" before Ready).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens and serves until ctx ends, then closes the listener and
// every connection and returns nil after all its goroutines have exited.
// It returns ErrAlreadyRunning if called twice and ErrListen if the
// address cannot be bound.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return newErr(ErrAlreadyRunning, "Run called twice")
	}
	s.started = true
	s.mu.Unlock()

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.ListenAddr)
	if err != nil {
		return wrapErr(ErrListen, err, "listen on %s", s.cfg.ListenAddr)
	}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	s.log.Info("stratum server listening", "addr", s.addr, "share_interval", s.cfg.ShareInterval)
	close(s.ready)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.jobLoop(ctx)
	}()
	go func() {
		defer wg.Done()
		s.acceptLoop(ctx, ln, &wg)
	}()
	<-ctx.Done()
	_ = ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.close(dropShutdown)
	}
	s.mu.Unlock()
	wg.Wait()
	s.log.Info("stratum server stopped", "shares", s.accepted.Load(), "blocks", s.blocksFound.Load())
	return nil
}

func (s *Server) acceptLoop(ctx context.Context, ln net.Listener, wg *sync.WaitGroup) {
	backoff := 5 * time.Millisecond
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait a little and
			// retry rather than spin.
			s.log.Warn("stratum accept failed", "err", err)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		c := s.newConn(nc)
		cctx, cancel := context.WithCancel(ctx)
		c.cancel = cancel
		s.mu.Lock()
		if len(s.conns) >= s.cfg.MaxConns || ctx.Err() != nil {
			s.mu.Unlock()
			cancel()
			s.met.disconnects.WithLabelValues(dropFull).Inc()
			_ = nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer wg.Done()
			c.serve(cctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// TipChanged tells the server that the chain's tip changed: a new job
// (clean_jobs true) is built and sent to every connection at once. The
// node calls it on every new tip; calls coalesce and never block. Best is
// also polled every PollInterval as a fallback.
func (s *Server) TipChanged() {
	s.noticed.CompareAndSwap(0, s.cfg.Now().UnixNano())
	select {
	case s.tipCh <- struct{}{}:
	default:
	}
}

// jobLoop owns template building and publication.
func (s *Server) jobLoop(ctx context.Context) {
	refresh := time.NewTicker(s.cfg.RefreshInterval)
	defer refresh.Stop()
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	var seq uint64
	s.rebuild(&seq, true)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.tipCh:
			s.rebuild(&seq, false)
		case <-poll.C:
			if ep := s.epoch.Load(); ep == nil || ep.tmpl.PrevHash != s.cfg.Chain.Best().Hash {
				s.noticed.CompareAndSwap(0, s.cfg.Now().UnixNano())
				s.rebuild(&seq, false)
			}
		case <-refresh.C:
			s.rebuild(&seq, true)
		}
	}
}

// rebuild builds a template on the current tip and publishes it. Without
// force, a template on the tip already published is not replaced (a
// TipChanged for a tip the poll already served).
func (s *Server) rebuild(seq *uint64, force bool) {
	now := s.cfg.Now()
	noticed := now
	if ns := s.noticed.Swap(0); ns != 0 {
		noticed = time.Unix(0, ns)
	}
	prev := s.epoch.Load()
	if !force && prev != nil && prev.tmpl.PrevHash == s.cfg.Chain.Best().Hash {
		return
	}
	payTo := s.cfg.PayTo
	if payTo.IsZero() {
		payTo = placeholderPayTo
	}
	t, err := s.cfg.Templates.BuildTemplateFor(now, payTo)
	if err != nil {
		s.log.Warn("cannot build a stratum job", "err", err)
		if prev != nil && prev.tmpl.PrevHash != s.cfg.Chain.Best().Hash {
			s.epoch.Store(nil) // the old work is on a replaced tip
		}
		return
	}
	*seq++
	ep := &epoch{seq: *seq, tmpl: t, clean: prev == nil || prev.tmpl.PrevHash != t.PrevHash, noticed: noticed}
	s.epoch.Store(ep)
	if ep.clean {
		s.log.Debug("new stratum job", "height", t.Height, "parent", t.PrevHash, "txs", t.TxCount())
	}
	s.wakeAll()
}

// wakeAll makes every connection look at the current work.
func (s *Server) wakeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.wakeUp()
	}
}

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) addAcceptedDiff(d float64) {
	for {
		old := s.acceptedDiffB.Load()
		if s.acceptedDiffB.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

func (s *Server) acceptedDiff() float64 { return math.Float64frombits(s.acceptedDiffB.Load()) }

// Info returns the server's state for RPC getstratuminfo.
func (s *Server) Info() Info {
	now := s.cfg.Now()
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	info := Info{Listen: s.addr, Connections: len(s.conns)}
	s.mu.Unlock()
	for _, c := range conns {
		ws := c.workerInfo(now)
		for _, w := range ws {
			info.HashesPerSec += w.HashesPerSec
		}
		info.Workers = append(info.Workers, ws...)
	}
	sortWorkers(info.Workers)
	info.SharesAccepted = s.accepted.Load()
	info.SharesRejected = s.rejected.Load()
	info.SharesStale = s.stale.Load()
	info.BlocksFound = s.blocksFound.Load()
	info.BlocksRejected = s.blocksRejected.Load()
	return info
}

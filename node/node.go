package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/node/adversary"
	"github.com/quarrychain/quarry/node/buildinfo"
	"github.com/quarrychain/quarry/p2p"
)

// Node is a running Quarry node: the composition root that builds the chain,
// mempool, wallet, miner, p2p and RPC components, wires them together and
// owns their lifecycle and the metrics registry. Build it with New, run it
// with Run; accessors are safe for concurrent use once Ready is closed.
type Node struct {
	cfg   *resolved
	log   *slog.Logger
	ready chan struct{}

	mu          sync.Mutex
	rpcAddr     string
	metricsAddr string
	stratumAddr string
	started     time.Time
	c           *chain.Chain
	pool        *mempool.Pool
	tc          timedChain

	stopFn   context.CancelFunc
	gatherer prometheus.Gatherer
	ours     minedSet
	hub      notifyHub
	synced   *dispatchMark    // set before the dispatcher starts
	adv      *adversaryDriver // nil on an honest node
	net      *p2p.Node        // nil with NoP2P (tests reach peers through it)
}

// sigCacheSize bounds the shared signature cache (txids, ~50 bytes each).
const sigCacheSize = 200_000

// Version is the node software release (see package buildinfo for the
// version and commit of the running binary).
const Version = buildinfo.Release

// New validates cfg and returns a Node. It opens nothing and starts
// nothing: every value that can be checked without side effects (network,
// listen addresses, bootnodes, miner address, log level) is checked here,
// so a bad configuration never leaves files in the data directory.
func New(cfg Config) (*Node, error) {
	r, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	return &Node{cfg: r, log: r.Logger, ready: make(chan struct{})}, nil
}

// Ready is closed once every listener is up (RPC, metrics, p2p).
func (n *Node) Ready() <-chan struct{} { return n.ready }

// RPCAddr returns the address the RPC server listens on ("" before Ready or when off).
func (n *Node) RPCAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rpcAddr
}

// MetricsAddr returns the address of the metrics endpoint ("" when off).
func (n *Node) MetricsAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.metricsAddr
}

// Gatherer returns the node's own metrics registry (nil before Run or when
// Config.Registerer was given).
func (n *Node) Gatherer() prometheus.Gatherer {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.gatherer
}

// Chain returns the chain engine (nil before Run has opened it).
func (n *Node) Chain() *chain.Chain {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.c
}

// Run opens the data directory and runs every component until ctx ends or
// one of them fails; it then shuts everything down (RPC drained, miner
// stopped, libp2p closed, store closed) and returns the first error. On
// every path, Run returns only after every goroutine it started has
// exited; a listener that cannot open (RPC, metrics, p2p TCP or QUIC)
// fails Run with a one-line error naming it and its address.
func (n *Node) Run(ctx context.Context) (err error) {
	cfg := n.cfg
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.mu.Lock()
	n.stopFn = cancel
	n.mu.Unlock()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer lock.release()

	store, err := cfg.OpenStore(filepath.Join(cfg.DataDir, "chain"))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close chain database: %w", cerr)
		}
	}()

	reg := cfg.Registerer
	var gatherer prometheus.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gatherer = r, r
	}
	n.mu.Lock()
	n.gatherer = gatherer
	n.mu.Unlock()
	registerBuildInfo(reg, buildinfo.Read())

	sigs := chain.NewSigCache(sigCacheSize)
	c, err := chain.New(chain.Config{Params: cfg.params, Store: store, SigCache: sigs, Logger: n.log.With("component", "chain"), Now: cfg.now})
	if errors.Is(err, chain.ErrStoreCorrupted) {
		dbDir := filepath.Join(cfg.DataDir, "chain")
		return fmt.Errorf("%w\nThe chain database cannot be trusted, so the node will not serve from it. Move %s aside (keep it for a bug report) and restart: the node resyncs from its peers", err, dbDir)
	}
	if err != nil {
		return err
	}
	// Subscribe before anything can change the chain.
	events := c.Subscribe(4096)
	defer events.Close()
	n.synced = newDispatchMark(c.Best())
	cm := newChainMetrics(reg, c, func() float64 { return float64(events.Dropped()) })

	pool := mempool.New(mempool.Config{
		Params: cfg.params, State: c, SigCache: sigs, Logger: n.log.With("component", "mempool"), Registerer: reg,
	})

	n.mu.Lock()
	n.c, n.pool, n.started = c, pool, time.Now()
	n.tc = timedChain{Chain: c, m: cm, log: n.log}
	if cfg.Adversary != "" {
		wh := withholdConfig{depth: cfg.WithholdDepth, giveUp: cfg.WithholdGiveUp, spend: cfg.WithholdSpend}
		n.adv = newAdversaryDriver(adversary.Mode(cfg.Adversary), wh, c, n.log)
		n.log.Warn("running as an adversary: this node cheats (lab experiments only)", "mode", cfg.Adversary)
	}
	n.mu.Unlock()

	comps, err := n.build(c, pool, reg)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.net = comps.net
	n.mu.Unlock()

	// The node's own listener opens before any component starts, so a busy
	// port fails here with nothing to stop. The components open theirs in
	// their Run: a failure there cancels the group, and Run below returns
	// only after g.Wait, that is after every goroutine exited.
	metricsLn, err := n.listenMetrics()
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	if comps.net != nil {
		g.Go(func() error { return comps.net.Run(gctx) })
	}
	g.Go(func() error { return n.dispatch(gctx, events, cm, comps) })
	for _, run := range comps.runners {
		g.Go(func() error { return run(gctx) })
	}
	if metricsLn != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{Registry: reg}))
		metricsSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		g.Go(func() error {
			if err := metricsSrv.Serve(metricsLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return metricsSrv.Shutdown(sctx)
		})
	}
	g.Go(func() error { return n.announceReady(gctx, comps) })
	// A failed commit leaves the chain unable to vouch for its memory
	// matching the store: stop everything; the next start resumes from the
	// last durable commit.
	g.Go(func() error {
		select {
		case <-gctx.Done():
			return nil
		case <-c.Failed():
			return fmt.Errorf("stopping: %w", c.Err())
		}
	})

	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		err = nil
	}
	n.log.Info("node stopped", "height", c.Height(), "tip", c.Best().Hash)
	return err
}

// listenMetrics opens the metrics listener; it returns nil when metrics
// are off or served by the caller's Registerer.
func (n *Node) listenMetrics() (net.Listener, error) {
	if n.cfg.MetricsListen == "" || n.Gatherer() == nil {
		return nil, nil
	}
	ln, err := net.Listen("tcp", n.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	n.mu.Lock()
	n.metricsAddr = ln.Addr().String()
	n.mu.Unlock()
	return ln, nil
}

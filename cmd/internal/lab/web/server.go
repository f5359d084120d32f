package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/cmd/internal/lab"
)

//go:embed assets
var assets embed.FS

// Defaults of Config.
const (
	DefaultListen = "127.0.0.1:27780"
	DefaultWindow = 300
	maxReorgLines = 30
	// refreshEvery bounds how often node statuses are re-read while blocks
	// arrive (each refresh is a few RPC calls per node).
	refreshEvery = 500 * time.Millisecond
	// publishDelay coalesces a burst of notifications into one push.
	publishDelay = 20 * time.Millisecond
	clientQueue  = 16
)

// Config configures the lab page server.
type Config struct {
	// Dir is the lab directory (lab.json); Bin the directory of quarryd.
	Dir, Bin string
	// Listen is host:port (default DefaultListen). A non-loopback address
	// is refused unless AllowRemote: the page can split and heal the lab.
	Listen      string
	AllowRemote bool
	// Window is the number of heights drawn (default DefaultWindow).
	Window int
	Logger *slog.Logger
}

// Server serves the lab page. Build it with New and run it with Run; its
// methods are safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	addr  string

	mu      sync.Mutex // guards everything below
	tree    *Tree
	reorgs  []reorgLine
	nodes   []nodeLine
	state   labLine
	clients map[*browser]struct{}

	dirty     chan struct{} // something changed: push to browsers
	stale     chan struct{} // node statuses should be re-read
	actionsMu sync.Mutex    // one control action at a time
}

// reorgLine is one reorg a node announced.
type reorgLine struct {
	Node       string     `json:"node"`
	At         time.Time  `json:"at"`
	Depth      int        `json:"depth"`
	ForkHeight uint64     `json:"forkheight"`
	Fork       chain.Hash `json:"fork"`
	NewTip     chain.Hash `json:"newtip"`
}

// nodeLine is one node's row on the page.
type nodeLine struct {
	Name     string     `json:"name"`
	Index    int        `json:"index"`
	Running  bool       `json:"running"`
	Height   uint64     `json:"height"`
	Tip      chain.Hash `json:"tip"`
	Peers    int        `json:"peers"`
	Net      string     `json:"net"`
	Hashrate float64    `json:"hashrate"`
	Mempool  int        `json:"mempool"`
	// Role is the node's adversary mode and clock offset ("" when honest).
	Role string `json:"role,omitempty"`
	Err  string `json:"err,omitempty"`
}

// linkLine is one link of the topology as the page draws it.
type linkLine struct {
	Name       string `json:"name"`
	Conditions string `json:"conditions"`
	Down       bool   `json:"down"`
}

// labLine is the lab-wide part of the page: network, partition, heal
// report and the double spend.
type labLine struct {
	Network string  `json:"network"`
	Dir     string  `json:"dir"`
	Groups  [][]int `json:"groups,omitempty"` // current partition (nil: whole)
	// Topology names the lab's topology; Links are its links with their
	// conditions when the lab is shaped or not a full mesh.
	Topology string     `json:"topology,omitempty"`
	Links    []linkLine `json:"links,omitempty"`
	// Nodes is the number of nodes (the graph's vertices).
	Nodes       int        `json:"nodes"`
	Fork        chain.Hash `json:"fork"` // fork point of the last partition
	ForkHeight  uint64     `json:"forkheight"`
	Report      string     `json:"report,omitempty"`
	DoubleSpend []string   `json:"doublespend,omitempty"`
	healAt      time.Time
}

// snapshot is what a browser receives.
type snapshot struct {
	View   View        `json:"view"`
	Nodes  []nodeLine  `json:"nodes"`
	Lab    labLine     `json:"lab"`
	Reorgs []reorgLine `json:"reorgs"`
	Window int         `json:"window"`
}

// New validates cfg; it starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", cfg.Listen, err)
	}
	if ip := net.ParseIP(host); !cfg.AllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--listen %s is not a loopback address; the page controls the lab (add --allow-remote to serve it anyway)", cfg.Listen)
	}
	return &Server{
		cfg: cfg, log: cfg.Logger, ready: make(chan struct{}),
		tree:    NewTree(uint64(cfg.Window) * 4),
		clients: make(map[*browser]struct{}),
		dirty:   make(chan struct{}, 1),
		stale:   make(chan struct{}, 1),
	}, nil
}

// Ready is closed once the server listens.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the listening address (valid after Ready).
func (s *Server) Addr() string { return s.addr }

func (s *Server) openLab() (*lab.Lab, error) { return lab.OpenLab(s.cfg.Dir, s.cfg.Bin, nil) }

// Run listens, follows the lab's nodes and serves the page until ctx ends;
// it returns after every goroutine it started has exited.
func (s *Server) Run(ctx context.Context) error {
	if _, err := s.openLab(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("lab page: listen: %w", err)
	}
	s.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: s.handler(ctx), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}

	var wg sync.WaitGroup
	run := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("lab page", "err", err)
			}
		}()
	}
	run(s.collect)
	run(s.refresher)
	run(s.publisher)
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- srv.Serve(ln)
	}()
	close(s.ready)
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	cancel()
	s.closeClients()
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	_ = srv.Shutdown(sctx)
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) handler(ctx context.Context) http.Handler {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded directory is part of the binary
	}
	files := http.FileServerFS(sub)
	mux := http.NewServeMux()
	mux.Handle("GET /", files)
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("POST /api/{action}", func(w http.ResponseWriter, r *http.Request) { s.serveAction(ctx, w, r) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.AllowRemote && !loopbackHost(r.Host) {
			// A page on another origin that rebinds its name to 127.0.0.1
			// must not reach the controls.
			http.Error(w, "the lab page answers only to a loopback host name", http.StatusForbidden)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		mux.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// changed marks the page dirty; stale also asks for fresh node statuses.
func (s *Server) changed(stale bool) {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
	if stale {
		select {
		case s.stale <- struct{}{}:
		default:
		}
	}
}

// refresher re-reads node statuses and the lab state when asked, at most
// every refreshEvery, and when the lab's state file changes (a command
// run from the shell: a link change, a partition), which it checks every
// refreshEvery.
func (s *Server) refresher(ctx context.Context) error {
	state := filepath.Join(s.cfg.Dir, "lab.json")
	var seen time.Time
	if st, err := os.Stat(state); err == nil {
		seen = st.ModTime()
	}
	poll := time.NewTicker(refreshEvery)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stale:
		case <-poll.C:
			st, err := os.Stat(state)
			if err != nil || st.ModTime().Equal(seen) {
				continue
			}
			seen = st.ModTime()
		}
		s.refreshNodes(ctx)
		t := time.NewTimer(refreshEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// refreshNodes reads every node's status, the partition and heal records
// and, after a heal, the report and the double spend's fate.
func (s *Server) refreshNodes(ctx context.Context) {
	l, err := s.openLab()
	if err != nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nodes := make([]nodeLine, l.N())
	for i := range nodes {
		st := l.NodeStatus(rctx, i)
		n := nodeLine{Name: nodeName(i), Index: i, Running: st.Running, Height: st.Height, Tip: st.BestBlockHash,
			Peers: st.Peers, Hashrate: st.Hashrate, Mempool: st.Mempool}
		if r := l.State.Nodes[i].Role; !r.Honest() {
			n.Role = r.String()
		}
		switch {
		case !st.Running:
			n.Net = "down"
		case st.Err != nil:
			n.Net, n.Err = "?", st.Err.Error()
		case !st.Active:
			n.Net = "off"
		case st.Partitioned > 0:
			n.Net = fmt.Sprintf("split(%d)", st.Partitioned)
		default:
			n.Net = "on"
		}
		nodes[i] = n
	}
	ll := labLine{Network: l.State.Network, Dir: l.Dir, Topology: l.State.Topology, Nodes: l.N()}
	if l.State.Shaped || (l.State.Topology != "" && l.State.Topology != "mesh") {
		for _, k := range l.State.Links {
			ll.Links = append(ll.Links, linkLine{Name: k.Name(), Conditions: k.Conditions(), Down: k.Down})
		}
	}
	if p := l.State.Partition; p != nil && (l.State.Heal == nil || l.State.Heal.At.Before(p.At)) {
		ll.Groups = p.Groups
	}
	s.mu.Lock()
	prev := s.state
	s.mu.Unlock()
	if h := l.State.Heal; h != nil {
		ll.Fork, ll.ForkHeight, ll.healAt = h.Fork, h.ForkHeight, h.At
		ll.Report = prev.Report
		if prev.Report == "" || !prev.healAt.Equal(h.At) || h.Agreement == 0 {
			if r, err := l.BuildReport(rctx); err == nil {
				var buf bytes.Buffer
				r.Print(&buf)
				ll.Report = buf.String()
			}
		}
	}
	if ds := l.State.DoubleSpend; ds != nil {
		ll.DoubleSpend = doubleSpendFate(rctx, l, ds)
	}
	s.mu.Lock()
	s.nodes, s.state = nodes, ll
	if len(s.reorgs) == 0 && l.State.Heal != nil {
		// A page started after the last heal still lists the reorgs that
		// heal observed.
		for _, r := range l.State.Heal.Reorgs {
			if r.Observed {
				s.reorgs = append(s.reorgs, reorgLine{Node: nodeName(r.Node), At: r.At, Depth: r.Depth, ForkHeight: r.ForkHeight, Fork: r.Fork, NewTip: r.NewTip})
			}
		}
	}
	s.mu.Unlock()
	s.changed(false)
}

// doubleSpendFate says, per spend, on how many nodes it is confirmed or
// pending.
func doubleSpendFate(ctx context.Context, l *lab.Lab, ds *lab.DoubleSpendRecord) []string {
	var out []string
	for k := range 2 {
		id, err := chain.ParseHash(ds.TxIDs[k])
		if err != nil {
			continue
		}
		confirmed, pending, heights := 0, 0, map[uint64]bool{}
		for i := range l.N() {
			st, err := l.TxStatus(ctx, i, id)
			if err != nil {
				continue
			}
			if st.Block != nil {
				confirmed++
				heights[st.Height] = true
			} else if st.InMempool {
				pending++
			}
		}
		fate := fmt.Sprintf("spend %d %.16s -> sink%d (sent on node%d): ", k+1, ds.TxIDs[k], k, ds.Nodes[k])
		switch {
		case confirmed == l.N():
			fate += "CONFIRMED on every node"
		case confirmed > 0:
			fate += fmt.Sprintf("confirmed on %d of %d nodes", confirmed, l.N())
		case pending > 0:
			fate += fmt.Sprintf("in %d mempool(s)", pending)
		default:
			fate += "in no chain and no mempool (lost)"
		}
		out = append(out, fate)
	}
	return out
}

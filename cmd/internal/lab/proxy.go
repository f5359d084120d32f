package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/toxics"
	"github.com/rs/zerolog"
)

// ProxyState records a shaped lab's proxy daemon: its control address
// (loopback HTTP) and, when it runs as its own process (the CLI's
// `devnet proxy`), its pid.
type ProxyState struct {
	Control string `json:"control"`
	PID     int    `json:"pid,omitempty"`
}

// ProxyServer is the user-space network of a shaped lab: for every link
// A-B it runs two TCP proxies (toxiproxy, as a library), one where A dials
// B and one where B dials A, and applies the link's conditions to both
// directions of both: latency with jitter (toxiproxy's latency toxic on
// the upstream and downstream streams, so a round trip takes twice the
// delay), bandwidth (its bandwidth toxic) and cuts (the proxy stops: its
// listener and every connection through it close, and dials are
// refused until the link is up again).
//
// It serves a small control API on a loopback address: GET /links returns
// the links and their conditions, POST /links with a Link sets that
// link's conditions. ProxyServer's methods are safe for concurrent use.
type ProxyServer struct {
	listen string
	log    *slog.Logger
	ready  chan struct{}

	mu      sync.Mutex
	links   []Link
	proxies map[string]*[2]*toxiproxy.Proxy // by Link.Name
	addr    string
	api     *toxiproxy.ApiServer
}

// NewProxyServer returns a server for links between nodes whose p2p
// ports are p2pPorts; each link's Ports are its proxies' listen ports.
// listen is the control API's host:port (loopback). log may be nil.
func NewProxyServer(links []Link, p2pPorts []int, listen string, log *slog.Logger) (*ProxyServer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("proxy control address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("proxy control address %q: want a loopback address", listen)
	}
	s := &ProxyServer{listen: listen, log: log, ready: make(chan struct{}), links: append([]Link(nil), links...),
		proxies: map[string]*[2]*toxiproxy.Proxy{}}
	// toxiproxy's toxics log through zerolog's global logger (trace lines
	// when a connection closes); the lab logs link changes itself.
	zerolog.SetGlobalLevel(zerolog.Disabled)
	toxics.Register(drainToxicType, new(drainToxic)) // idempotent
	s.api = toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	for _, k := range s.links {
		if k.A < 0 || k.B < 0 || k.A >= len(p2pPorts) || k.B >= len(p2pPorts) || k.Ports[0] == 0 || k.Ports[1] == 0 {
			return nil, fmt.Errorf("link %s: no such nodes or no proxy ports", k.Name())
		}
		s.proxies[k.Name()] = &[2]*toxiproxy.Proxy{
			toxiproxy.NewProxy(s.api, k.Name()+">", loopback(k.Ports[0]), loopback(p2pPorts[k.B])),
			toxiproxy.NewProxy(s.api, k.Name()+"<", loopback(k.Ports[1]), loopback(p2pPorts[k.A])),
		}
	}
	return s, nil
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Ready is closed once the proxies and the control API listen.
func (s *ProxyServer) Ready() <-chan struct{} { return s.ready }

// Addr returns the control API's address once Ready is closed.
func (s *ProxyServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Links returns the links and their current conditions.
func (s *ProxyServer) Links() []Link {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Link(nil), s.links...)
}

// Run starts every proxy with its link's conditions and serves the
// control API until ctx ends; it then stops the proxies (closing their
// connections) and returns once its goroutines have exited.
func (s *ProxyServer) Run(ctx context.Context) error {
	s.mu.Lock()
	for i := range s.links {
		if err := s.applyLocked(s.links[i], true); err != nil {
			s.mu.Unlock()
			s.stopAll()
			return err
		}
	}
	s.mu.Unlock()
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		s.stopAll()
		return fmt.Errorf("proxy control: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /links", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Links())
	})
	mux.HandleFunc("POST /links", s.handleSet)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	s.mu.Lock()
	s.addr = ln.Addr().String()
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("proxies running", "links", len(s.links), "control", s.addr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if err == nil {
		err = <-errc
	}
	s.stopAll()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *ProxyServer) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.proxies {
		for _, p := range ps {
			p.Stop()
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// handleSet applies the conditions of the posted link.
func (s *ProxyServer) handleSet(w http.ResponseWriter, r *http.Request) {
	var k Link
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&k); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if k.Delay < 0 || k.Jitter < 0 || k.Bandwidth < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "negative delay, jitter or bandwidth"})
		return
	}
	s.mu.Lock()
	err := s.applyLocked(k, false)
	s.mu.Unlock()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.log.Info("link set", "link", k.Name(), "conditions", k.Conditions())
	writeJSON(w, http.StatusOK, k)
}

// applyLocked sets the conditions of link k (matched by A and B) on its
// two proxies: the toxics first, then the state, so a link that comes
// up carries its conditions from the first byte. Changing the conditions
// of a live link restarts its proxies (its connections are closed and
// redialled). start says the proxies
// have never run (Run). The caller holds s.mu.
func (s *ProxyServer) applyLocked(k Link, start bool) error {
	if k.A > k.B {
		k.A, k.B = k.B, k.A
	}
	idx := -1
	for i, l := range s.links {
		if l.A == k.A && l.B == k.B {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("no link %s in this lab's topology", k.Name())
	}
	k.Ports = s.links[idx].Ports
	old := s.links[idx]
	conditions := start || old.Delay != k.Delay || old.Jitter != k.Jitter || old.Bandwidth != k.Bandwidth
	pair := s.proxies[k.Name()]
	for i, p := range pair {
		if conditions {
			// toxiproxy v2.5.0 races when toxics are added to or removed
			// from a proxy with live (or closing) connections: it can
			// panic in ToxicLink.AddToxic. So a live link gets a fresh
			// proxy on the same addresses, with its toxics set before it
			// starts; the old one's connections close and the nodes
			// redial through the new one at once.
			if p.Enabled {
				p.Stop()
				p = toxiproxy.NewProxy(s.api, p.Name, p.Listen, p.Upstream)
				pair[i] = p
			}
			if err := setToxics(p, k); err != nil {
				return fmt.Errorf("link %s: %w", k.Name(), err)
			}
		}
		switch {
		case k.Down:
			p.Stop() // closes the listener and every connection
		case start || !p.Enabled:
			if err := p.Start(); err != nil {
				return fmt.Errorf("link %s: proxy on %s: %w", k.Name(), p.Listen, err)
			}
		}
	}
	s.links[idx] = k
	return nil
}

// toxic is toxiproxy's JSON form of a toxic.
type toxic struct {
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes"`
}

// setToxics replaces p's toxics by k's conditions on both streams.
func setToxics(p *toxiproxy.Proxy, k Link) error {
	ctx := context.Background()
	for _, stream := range []string{"upstream", "downstream"} {
		for _, kind := range []string{"latency", "bandwidth", drainToxicType} {
			name := kind + "_" + stream
			if p.Toxics.GetToxic(name) != nil {
				if err := p.Toxics.RemoveToxic(ctx, name); err != nil {
					return err
				}
			}
		}
		var add []toxic
		if k.Delay > 0 || k.Jitter > 0 {
			add = append(add, toxic{Name: "latency_" + stream, Type: "latency", Stream: stream, Toxicity: 1,
				Attributes: map[string]any{"latency": k.Delay.Milliseconds(), "jitter": k.Jitter.Milliseconds()}})
		}
		if k.Bandwidth > 0 {
			add = append(add, toxic{Name: "bandwidth_" + stream, Type: "bandwidth", Stream: stream, Toxicity: 1,
				Attributes: map[string]any{"rate": max(k.Bandwidth/8000, 1)}}) // KB/s
		}
		// Last in every stream's chain (see drainToxic).
		add = append(add, toxic{Name: drainToxicType + "_" + stream, Type: drainToxicType, Stream: stream, Toxicity: 1})
		for _, t := range add {
			raw, err := json.Marshal(t)
			if err != nil {
				return err
			}
			if _, err := p.Toxics.AddToxicJson(bytes.NewReader(raw)); err != nil {
				return fmt.Errorf("%s toxic: %w", t.Type, err)
			}
		}
	}
	return nil
}

// drainToxicType is the type name of drainToxic in toxiproxy's registry.
const drainToxicType = "quarry_drain"

// drainAfter is how long drainToxic waits for a destination that takes no
// data before it gives the stream up.
const drainAfter = 10 * time.Second

// drainToxic is the last toxic of every stream of the lab's proxies. It
// passes data on unchanged, and exists because of how toxiproxy (v2.5.0
// to v2.12.0) ends a connection: its writer goroutine returns at the
// first write error (the destination closed, or the proxy stopped), and
// then nothing reads the stream's last channel, so the toxic that holds
// a chunk for it (the latency toxic, most of the time) blocks forever
// with its queued data: goroutines and buffers leaked for every
// connection that closed with data in flight, which a process that runs
// lab after lab, or a proxy daemon that outlives many link changes,
// accumulates. drainToxic hands each chunk on with a deadline
// (drainAfter) and, once a destination has taken nothing for that long,
// discards the rest of the stream until it ends, so every toxic before
// it finishes. A live node reads its socket long before drainAfter;
// one that does not is treated as a dead link.
type drainToxic struct{}

// Pipe implements toxics.Toxic.
func (drainToxic) Pipe(stub *toxics.ToxicStub) {
	draining := false // the destination took nothing for drainAfter
	for {
		select {
		case <-stub.Interrupt:
			return
		case c := <-stub.Input:
			if c == nil {
				stub.Close()
				return
			}
			if !draining && stub.WriteOutput(c, drainAfter) != nil {
				draining = true
			}
		}
	}
}

// ProxyClient talks to a ProxyServer's control API. It is safe for
// concurrent use.
type ProxyClient struct {
	Addr string
	HTTP *http.Client
}

func (c ProxyClient) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Links returns the server's links.
func (c ProxyClient) Links(ctx context.Context) ([]Link, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.Addr+"/links", nil)
	if err != nil {
		return nil, err
	}
	var out []Link
	return out, c.do(req, &out)
}

// Set applies k's conditions to the link between k.A and k.B.
func (c ProxyClient) Set(ctx context.Context, k Link) error {
	raw, err := json.Marshal(k)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+c.Addr+"/links", bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, nil)
}

func (c ProxyClient) do(req *http.Request, out any) error {
	resp, err := c.client().Do(req)
	if err != nil {
		return fmt.Errorf("lab proxy daemon at %s: %w", c.Addr, err)
	}
	defer func() { _ = resp.Body.Close() }() // read or abandoned; nothing to report
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<22))
	if err != nil {
		return fmt.Errorf("lab proxy daemon: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(raw, &e)
		return fmt.Errorf("lab proxy daemon: %s: %s", resp.Status, e.Error)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

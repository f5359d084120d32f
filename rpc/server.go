package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Server is the JSON-RPC server: HTTP POST on "/", WebSocket on "/ws", on
// one listener. Create it with New and run it with Run. All methods are
// safe for concurrent use.
type Server struct {
	cfg      Config
	backend  Backend
	params   *chain.Params
	log      *slog.Logger
	started  time.Time
	methods  map[string]*method
	order    []*method // help listing order
	metrics  *metrics
	sem      chan struct{} // work slots: requests executing
	bodies   *bodyBudget   // bytes buffered for request bodies
	throttle *authThrottle
	hub      *hub

	creds   atomic.Pointer[credentials]
	addr    atomic.Pointer[net.TCPAddr]
	ready   chan struct{}
	running atomic.Bool
	handler http.Handler
}

// New validates cfg and builds a Server. It starts nothing: no listener,
// no goroutine, no file (the cookie is written by Run).
func New(cfg Config) (*Server, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		backend: cfg.Backend,
		params:  cfg.Backend.Params(),
		log:     cfg.Logger,
		started: cfg.Now(),
		metrics: newMetrics(cfg.Registerer),
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		ready:   make(chan struct{}),
	}
	s.throttle = newAuthThrottle(&cfg)
	s.bodies = &bodyBudget{max: cfg.MaxBodyBuffer, gauge: s.metrics.bodyBuffer}
	s.hub = newHub(s)
	s.methods, s.order = buildMethods()
	if cfg.Password != "" {
		s.creds.Store(newCredentials(cfg.User, cfg.Password))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", s.serveWS)
	mux.Handle("/explorer/", s.explorerHandler())
	mux.HandleFunc("/explorer/ws", s.serveExplorerWS)
	mux.Handle("/explorer", http.RedirectHandler("/explorer/", http.StatusMovedPermanently))
	mux.HandleFunc("/", s.serveRPC)
	s.handler = mux
	return s, nil
}

// Handler returns the server's HTTP handler (JSON-RPC on "/", WebSocket on
// "/ws"). Run serves it; tests and benchmarks may mount it themselves.
// WebSocket notifications and waitfornewblock wakeups need Run.
func (s *Server) Handler() http.Handler { return s.handler }

// Addr returns the address the server listens on, nil before it listens.
func (s *Server) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return a
	}
	return nil
}

// Ready is closed once the server listens (Addr is then set).
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Run writes the cookie (if configured), listens, serves until ctx ends,
// then stops accepting, closes WebSocket connections, waits for in-flight
// requests (at most ShutdownTimeout, then closes them), removes the cookie
// and returns. It returns nil after a clean shutdown. Run may be called
// once.
func (s *Server) Run(ctx context.Context) (err error) {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("rpc: Run called twice")
	}
	if s.cfg.Password == "" {
		user, pass, err := WriteCookie(s.cfg.CookieDir)
		if err != nil {
			return err
		}
		s.creds.Store(newCredentials(user, pass))
		defer func() {
			if rerr := RemoveCookie(s.cfg.CookieDir); rerr != nil {
				s.log.Warn("rpc: removing cookie", "err", rerr)
			}
		}()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("rpc: listen: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		s.addr.Store(a)
	}

	// Requests derive their context from runCtx: it ends when shutdown
	// starts, so long waits (waitfornewblock, generatetoaddress) return
	// and the drain completes.
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return runCtx },
		ConnContext:       withConnState,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}

	var wg sync.WaitGroup
	events, unsubscribe := s.backend.SubscribeEvents(s.cfg.EventBuffer)
	if events != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.hub.run(runCtx, events)
		}()
	}
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveErr <- srv.Serve(ln)
	}()
	close(s.ready)
	s.log.Info("rpc: listening", "addr", ln.Addr().String())

	select {
	case <-ctx.Done():
	case err = <-serveErr:
		// Serve failed on its own; fall through to clean up.
	}
	cancelRun()
	s.hub.closeAll("shutdown")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(shutCtx); serr != nil {
		s.log.Warn("rpc: shutdown timed out; closing connections", "err", serr)
		_ = srv.Close()
	}
	if unsubscribe != nil {
		unsubscribe()
	}
	s.hub.waitClients()
	wg.Wait()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("rpc: serve: %w", err)
	}
	s.log.Info("rpc: stopped")
	return nil
}

// authorize checks the Authorization header like Core's HTTPReq_JSONRPC:
// no header is an immediate 401; wrong credentials a 401 after the
// throttle's wait (at least AuthFailureDelay, and the failure's turn at the
// server-wide AuthFailureRate). While failures are queued beyond the
// throttle's backlog, a request on a connection that has not authenticated
// gets 503 without its credentials being checked. It reports whether the
// request may proceed.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	if h == "" {
		s.metrics.rejected.WithLabelValues(rejectUnauthorized).Inc()
		w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
		w.WriteHeader(http.StatusUnauthorized)
		return false
	}
	cs := connStateOf(r)
	now := time.Now()
	untrusted := cs == nil || !cs.authed.Load()
	if untrusted && !s.throttle.admit(now) {
		s.metrics.rejected.WithLabelValues(rejectAuthThrottle).Inc()
		http.Error(w, "Too many failed authentication attempts", http.StatusServiceUnavailable)
		return false
	}
	ok := s.creds.Load().check(h)
	wait := s.throttle.finish(now, untrusted, ok)
	if ok {
		if cs != nil {
			cs.authed.Store(true)
		}
		return true
	}
	s.metrics.rejected.WithLabelValues(rejectUnauthorized).Inc()
	s.log.Warn("rpc: incorrect password attempt", "remote", r.RemoteAddr)
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="jsonrpc"`)
	w.WriteHeader(http.StatusUnauthorized)
	return false
}

// serveRPC handles JSON-RPC over HTTP POST.
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("rpc: panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	}()
	if r.Method != http.MethodPost {
		s.metrics.rejected.WithLabelValues(rejectBadMethod).Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_, _ = io.WriteString(w, "JSONRPC server handles only POST requests")
		return
	}
	if !s.authorize(w, r) {
		return
	}
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.tooLarge(w)
		return
	}
	// The body is read before a work slot is taken: a slow upload must not
	// hold one (Core reads the body before queueing the work).
	body, held, err := s.readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooBig):
			s.tooLarge(w)
		case errors.Is(err, errBodyBudget):
			s.busy(w)
		case errors.As(err, &ne) && ne.Timeout():
			s.metrics.rejected.WithLabelValues(rejectBodyTimeout).Inc()
			http.Error(w, "request body not received in time", http.StatusRequestTimeout)
		default:
			http.Error(w, "error reading request body", http.StatusBadRequest)
		}
		return
	}
	defer s.bodies.release(held)
	select {
	case s.sem <- struct{}{}:
		s.metrics.inFlight.Inc()
		defer func() {
			s.metrics.inFlight.Dec()
			<-s.sem
		}()
	default:
		s.busy(w)
		return
	}
	rc := http.NewResponseController(w)
	lift := func() { _ = rc.SetWriteDeadline(time.Time{}) }
	status, reply := s.handleBody(r.Context(), body, lift)
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(reply)
}

// busy answers 503 "Work queue depth exceeded", as Core does when its work
// queue is full.
func (s *Server) busy(w http.ResponseWriter) {
	s.metrics.rejected.WithLabelValues(rejectBusy).Inc()
	http.Error(w, "Work queue depth exceeded", http.StatusServiceUnavailable)
}

// tooLarge answers 413 for a body beyond MaxBodyBytes and closes the
// connection after the reply, so the rest of the body is never read.
func (s *Server) tooLarge(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	s.metrics.rejected.WithLabelValues(rejectTooLarge).Inc()
	http.Error(w, fmt.Sprintf("request body exceeds %d bytes", s.cfg.MaxBodyBytes), http.StatusRequestEntityTooLarge)
}

// handleBody runs one HTTP request body (single request or batch) and
// returns the HTTP status and reply body, following Core's httprpc.cpp:
//
//   - unparsable JSON or a top level that is neither object nor array:
//     RPC_PARSE_ERROR, HTTP 500;
//   - a single request whose envelope is invalid: HTTP 400;
//   - a single 1.x request whose method fails: HTTP 500 (404 for an
//     unknown method, 400 for an invalid request);
//   - a single 2.0 request: HTTP 200 whatever the outcome; a 2.0
//     notification (no id) runs and gets 204 with no body;
//   - a batch: HTTP 200 with the replies in order, notifications left out;
//     204 if every element was a notification; an empty batch is "[]".
func (s *Server) handleBody(ctx context.Context, body []byte, lift func()) (int, []byte) {
	switch jsonKind(body) {
	case '{':
		if !json.Valid(body) {
			return parseErrorReply("Parse error")
		}
		return s.handleSingle(ctx, body, lift)
	case '[':
		if !json.Valid(body) {
			return parseErrorReply("Parse error")
		}
		elems, ok := arrayElements(body)
		if !ok {
			return parseErrorReply("Parse error")
		}
		return s.handleBatch(ctx, elems, lift)
	}
	if !json.Valid(body) {
		return parseErrorReply("Parse error")
	}
	return parseErrorReply("Top-level object parse error")
}

func parseErrorReply(msg string) (int, []byte) {
	e := newErr(rpcjson.CodeParseError, "%s", msg)
	return http.StatusInternalServerError, append(appendReply(nil, v1, true, nullJSON, nil, e), '\n')
}

func (s *Server) handleSingle(ctx context.Context, body []byte, lift func()) (int, []byte) {
	req, perr := parseRequest(body)
	if perr != nil {
		return httpStatusFor(perr), append(appendReply(nil, req.ver, req.hasID, req.id, nil, perr), '\n')
	}
	result, rerr := s.execute(ctx, &req, lift)
	if req.isNotification() {
		return http.StatusNoContent, nil
	}
	status := http.StatusOK
	if rerr != nil && req.ver == v1 {
		status = httpStatusFor(rerr)
	}
	return status, append(appendReply(nil, req.ver, req.hasID, req.id, result, rerr), '\n')
}

func (s *Server) handleBatch(ctx context.Context, elems []json.RawMessage, lift func()) (int, []byte) {
	if len(elems) > s.cfg.MaxBatch {
		e := newErr(rpcjson.CodeInvalidRequest, "Batch of %d requests exceeds the limit of %d", len(elems), s.cfg.MaxBatch)
		return http.StatusBadRequest, append(appendReply(nil, v1, true, nullJSON, nil, e), '\n')
	}
	out := []byte{'['}
	n := 0
	for _, raw := range elems {
		req, perr := parseRequest(raw)
		var result json.RawMessage
		rerr := perr
		if perr == nil {
			result, rerr = s.execute(ctx, &req, lift)
		}
		if req.isNotification() {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = appendReply(out, req.ver, req.hasID, req.id, result, rerr)
		n++
	}
	if n == 0 && len(elems) > 0 {
		return http.StatusNoContent, nil
	}
	return http.StatusOK, append(out, ']', '\n')
}

// execute runs one parsed request: method lookup, parameter binding, the
// handler (panics recovered as RPC_INTERNAL_ERROR) and the metrics.
func (s *Server) execute(ctx context.Context, req *request, lift func()) (result json.RawMessage, rerr *Error) {
	start := time.Now()
	m := s.methods[req.method]
	label := unknownMethod
	if m != nil {
		label = m.name
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("rpc: panic in method", "method", label, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, rerr = nil, newErr(rpcjson.CodeInternalError, "Internal error")
		}
		s.metrics.observe(label, rerr == nil, time.Since(start))
	}()
	if m == nil {
		return nil, newErr(rpcjson.CodeMethodNotFound, "Method not found")
	}
	params, berr := m.bind(req.params)
	if berr != nil {
		return nil, berr
	}
	c := &call{ctx: ctx, s: s, m: m, params: params, liftWriteDeadline: lift}
	res, err := m.run(c)
	if err != nil {
		return nil, mapError(err, m.sub)
	}
	return res, nil
}

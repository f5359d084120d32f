package rpc

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// WebSocket close codes the server uses (RFC 6455).
const (
	closeGoingAway       = websocket.CloseGoingAway       // 1001: server shutting down
	closePolicyViolation = websocket.ClosePolicyViolation // 1008: slow consumer
	closeTryAgainLater   = websocket.CloseTryAgainLater   // 1013: notifications lost upstream
)

// closeGrace bounds the write of the close frame.
const closeGrace = time.Second

// wsClient is one WebSocket connection. Its topics are guarded by hub.mu;
// the queue is written by the hub and the reader, drained by the writer.
type wsClient struct {
	conn   *websocket.Conn
	queue  chan []byte
	done   chan struct{}
	once   sync.Once
	code   int
	reason string
	topics [numTopics]bool
	// readOnly restricts the connection to explorerMethods (the explorer's
	// WebSocket).
	readOnly bool
}

func (c *wsClient) subscribed() bool {
	for _, on := range c.topics {
		if on {
			return true
		}
	}
	return false
}

// enqueue queues a message without blocking; false if the queue is full.
func (c *wsClient) enqueue(msg []byte) bool {
	select {
	case <-c.done:
		return true // closing anyway; nothing to report
	default:
	}
	select {
	case c.queue <- msg:
		return true
	default:
		return false
	}
}

// kill asks the writer to send a close frame with code and reason and to
// close the connection. Only the first call counts.
func (c *wsClient) kill(code int, reason string) {
	c.once.Do(func() {
		c.code, c.reason = code, reason
		close(c.done)
	})
}

// serveWS upgrades an authenticated GET to a WebSocket and serves it: a
// reader loop here, a writer goroutine draining the queue.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.authorize(w, r) {
		return
	}
	s.serveWSConn(w, r, false)
}

// serveWSConn serves one WebSocket connection of a request that was
// already authorised; readOnly limits it to explorerMethods.
func (s *Server) serveWSConn(w http.ResponseWriter, r *http.Request, readOnly bool) {
	c := &wsClient{queue: make(chan []byte, s.cfg.WSQueueSize), done: make(chan struct{}), readOnly: readOnly}
	if !s.hub.add(c) {
		s.metrics.rejected.WithLabelValues(rejectBusy).Inc()
		http.Error(w, "too many WebSocket clients", http.StatusServiceUnavailable)
		return
	}
	defer s.hub.remove(c)
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, HandshakeTimeout: s.cfg.ReadHeaderTimeout}
	conn, err := up.Upgrade(w, r, nil) // writes the HTTP error itself on failure
	if err != nil {
		return
	}
	c.conn = conn
	// The HTTP server's deadlines stay on a hijacked connection; replace them.
	_ = conn.NetConn().SetDeadline(time.Time{})
	conn.SetReadLimit(s.cfg.WSMaxMessageBytes)
	readWait := 2 * s.cfg.WSPingInterval
	_ = conn.SetReadDeadline(time.Now().Add(readWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(readWait)) })

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		s.wsWriter(c)
	}()
	s.wsReader(r, c, readWait)
	c.kill(websocket.CloseNormalClosure, "")
	<-writerDone
}

// wsWriter sends queued messages and pings until the client is killed,
// then sends the close frame and closes the connection.
func (s *Server) wsWriter(c *wsClient) {
	ping := time.NewTicker(s.cfg.WSPingInterval)
	defer ping.Stop()
	defer func() { _ = c.conn.Close() }() // the connection is done either way
	for {
		select {
		case <-c.done:
			msg := websocket.FormatCloseMessage(c.code, c.reason)
			if c.code == websocket.CloseNormalClosure && c.reason == "" {
				msg = websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			}
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
			return
		case msg := <-c.queue:
			_ = c.conn.SetWriteDeadline(time.Now().Add(s.cfg.WSWriteTimeout))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.kill(websocket.CloseAbnormalClosure, "write failed")
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WSWriteTimeout)); err != nil {
				c.kill(websocket.CloseAbnormalClosure, "ping failed")
				return
			}
		}
	}
}

// wsReader reads requests until the connection fails or is killed. Each
// request is a JSON-RPC object (1.0 or 2.0, like HTTP); "subscribe" and
// "unsubscribe" manage topics, any other method runs as over HTTP.
func (s *Server) wsReader(r *http.Request, c *wsClient, readWait time.Duration) {
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(readWait))
		reply := s.wsHandle(r, c, data)
		if reply == nil {
			continue
		}
		if !c.enqueue(reply) {
			s.metrics.wsDropped.WithLabelValues("slow").Inc()
			c.kill(closePolicyViolation, "slow consumer: queue full")
			return
		}
	}
}

// wsHandle runs one WebSocket request and returns the reply (nil for a
// notification).
func (s *Server) wsHandle(r *http.Request, c *wsClient, data []byte) []byte {
	if jsonKind(data) != '{' || !json.Valid(data) {
		e := newErr(rpcjson.CodeParseError, "Parse error")
		return appendReply(nil, v1, true, nullJSON, nil, e)
	}
	req, perr := parseRequest(data)
	if perr != nil {
		return appendReply(nil, req.ver, req.hasID, req.id, nil, perr)
	}
	var result json.RawMessage
	var rerr *Error
	switch req.method {
	case "subscribe", "unsubscribe":
		start := time.Now()
		result, rerr = s.wsSubscribe(c, &req)
		s.metrics.observe(req.method, rerr == nil, time.Since(start))
	default:
		if c.readOnly && !explorerMethods[req.method] {
			rerr = newErr(rpcjson.CodeMethodNotFound, "Method %q is not available to the read-only explorer", req.method)
			break
		}
		result, rerr = s.execute(r.Context(), &req, nil)
	}
	if req.isNotification() {
		return nil
	}
	return appendReply(nil, req.ver, req.hasID, req.id, result, rerr)
}

var subscribeMethod = &method{
	name: "subscribe",
	args: []arg{{name: "topic", typ: "string", required: true, desc: "blocks, reorgs or mempool"}},
}

func (s *Server) wsSubscribe(c *wsClient, req *request) (json.RawMessage, *Error) {
	params, berr := subscribeMethod.bind(req.params)
	if berr != nil {
		return nil, newErr(rpcjson.CodeInvalidParameter, "%s takes one topic: blocks, reorgs or mempool", req.method)
	}
	cl := &call{s: s, m: subscribeMethod, params: params}
	name, err := cl.reqStr(0)
	if err != nil {
		return nil, mapError(err, subEvents)
	}
	t, ok := parseTopic(name)
	if !ok {
		return nil, newErr(rpcjson.CodeInvalidParameter, "Unknown topic %q (want blocks, reorgs or mempool)", name)
	}
	seq, ok := s.hub.subscribe(c, t, req.method == "subscribe")
	if !ok {
		return nil, unavailable(subEvents)
	}
	if req.method == "unsubscribe" {
		return json.RawMessage("true"), nil
	}
	res, err := marshal(rpcjson.SubscribeResult{Topic: name, Seq: seq})
	if err != nil {
		return nil, mapError(err, subEvents)
	}
	return res, nil
}

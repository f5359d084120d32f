package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// browser is one page connected over /ws. The server pushes a snapshot
// whenever something changed; the page may send {"top": H} to page back
// (0 follows the tip).
type browser struct {
	conn  *websocket.Conn
	queue chan []byte
	done  chan struct{}
	top   uint64 // guarded by Server.mu
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{HandshakeTimeout: 5 * time.Second} // refuses a foreign Origin
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	b := &browser{conn: conn, queue: make(chan []byte, clientQueue), done: make(chan struct{})}
	s.mu.Lock()
	s.clients[b] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.clients, b)
		s.mu.Unlock()
	}()
	s.push(b)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer func() { _ = conn.Close() }() // the page is gone either way
		ping := time.NewTicker(20 * time.Second)
		defer ping.Stop()
		for {
			select {
			case <-b.done:
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
				return
			case msg := <-b.queue:
				_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
					return
				}
			case <-ping.C:
				if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
					return
				}
			}
		}
	}()
	conn.SetReadLimit(4096)
	for {
		var req struct {
			Top *uint64 `json:"top"`
		}
		if err := conn.ReadJSON(&req); err != nil {
			break
		}
		if req.Top != nil {
			s.mu.Lock()
			b.top = *req.Top
			need := b.top != 0 && b.top > uint64(s.cfg.Window) && !s.covered(b.top)
			s.mu.Unlock()
			if need {
				s.fillWindow(r.Context(), b.top)
			}
			s.push(b)
		}
	}
	s.stop(b)
	<-writerDone
}

func (s *Server) stop(b *browser) {
	select {
	case <-b.done:
	default:
		close(b.done)
	}
}

func (s *Server) closeClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for b := range s.clients {
		s.stop(b)
	}
}

// covered reports whether the tree holds the lowest height of the window
// ending at top. s.mu is held.
func (s *Server) covered(top uint64) bool {
	v := s.tree.View(s.cfg.Window, top)
	return len(v.Blocks) > 0 && v.Blocks[0].Height == v.Low
}

// fillWindow backfills the window ending at top from the nodes.
func (s *Server) fillWindow(ctx context.Context, top uint64) {
	l, err := s.openLab()
	if err != nil {
		return
	}
	if err := s.backfill(ctx, l, top); err != nil {
		s.log.Debug("lab page: backfill for paging", "err", err)
	}
}

// publisher pushes a snapshot to every page after a change, coalescing
// bursts.
func (s *Server) publisher(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
		}
		t := time.NewTimer(publishDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s.mu.Lock()
		bs := make([]*browser, 0, len(s.clients))
		for b := range s.clients {
			bs = append(bs, b)
		}
		s.mu.Unlock()
		for _, b := range bs {
			s.push(b)
		}
	}
}

// push queues a snapshot for b; a page that cannot keep up is closed (it
// reconnects and gets a fresh snapshot).
func (s *Server) push(b *browser) {
	s.mu.Lock()
	snap := snapshot{View: s.tree.View(s.cfg.Window, b.top), Nodes: s.nodes, Lab: s.state, Reorgs: s.reorgs, Window: s.cfg.Window}
	msg, err := json.Marshal(snap)
	s.mu.Unlock()
	if err != nil {
		return
	}
	select {
	case b.queue <- msg:
	default:
		s.stop(b)
	}
}

// actionRequest is the body of POST /api/{action}.
type actionRequest struct {
	Groups [][]int `json:"groups"` // partition
	Node   int     `json:"node"`   // isolate, reconnect
	A      int     `json:"a"`      // doublespend: spend 1 on node A
	B      int     `json:"b"`      // doublespend: spend 2 on node B
}

// serveAction runs a control through the same lab code as the CLI.
func (s *Server) serveAction(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	// A JSON body cannot be sent cross-origin without a CORS preflight,
	// which this server never answers: forms on other sites cannot act.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		http.Error(w, "send application/json", http.StatusUnsupportedMediaType)
		return
	}
	var req actionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeResult(w, http.StatusBadRequest, "", err)
		return
	}
	s.actionsMu.Lock()
	defer s.actionsMu.Unlock()
	actx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	l, err := s.openLab()
	if err != nil {
		writeResult(w, http.StatusInternalServerError, "", err)
		return
	}
	msg, err := s.act(actx, l, r.PathValue("action"), req)
	status := http.StatusOK
	var bad badRequest
	if errors.As(err, &bad) {
		status = http.StatusBadRequest
	} else if err != nil {
		status = http.StatusInternalServerError
	}
	writeResult(w, status, msg, err)
	s.changed(true)
}

type badRequest struct{ error }

func (s *Server) act(ctx context.Context, l *lab.Lab, action string, req actionRequest) (string, error) {
	switch action {
	case "partition":
		var args []string
		for _, g := range req.Groups {
			idx := make([]string, len(g))
			for k, i := range g {
				idx[k] = strconv.Itoa(i)
			}
			args = append(args, strings.Join(idx, ","))
		}
		groups, err := lab.ParseGroups(args, l.N())
		if err != nil {
			return "", badRequest{err}
		}
		if err := l.Partition(ctx, groups); err != nil {
			return "", err
		}
		names := make([]string, len(groups))
		for k, g := range groups {
			names[k] = lab.GroupName(g)
		}
		return "partitioned: " + strings.Join(names, " | "), nil
	case "heal":
		rec, err := l.Heal(ctx, lab.HealOptions{Wait: true})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("healed; all nodes agree after %s", lab.FormatDuration(rec.Agreement)), nil
	case "isolate", "reconnect":
		if _, err := l.Node(req.Node); err != nil {
			return "", badRequest{err}
		}
		if err := l.SetNetworkActive(ctx, req.Node, action == "reconnect"); err != nil {
			return "", err
		}
		return fmt.Sprintf("node%d networking %s", req.Node, map[bool]string{true: "on", false: "off"}[action == "reconnect"]), nil
	case "doublespend":
		for _, i := range []int{req.A, req.B} {
			if _, err := l.Node(i); err != nil {
				return "", badRequest{err}
			}
		}
		rec, err := l.DoubleSpend(ctx, lab.DoubleSpendOptions{A: req.A, B: req.B})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("double spend of nonce %d: %.16s on node%d, %.16s on node%d", rec.Nonce, rec.TxIDs[0], rec.Nodes[0], rec.TxIDs[1], rec.Nodes[1]), nil
	}
	return "", badRequest{fmt.Errorf("unknown action %q (partition, heal, isolate, reconnect, doublespend)", action)}
}

func writeResult(w http.ResponseWriter, status int, msg string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	res := map[string]string{"message": msg}
	if err != nil {
		res = map[string]string{"error": err.Error()}
	}
	_ = json.NewEncoder(w).Encode(res)
}

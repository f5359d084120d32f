package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Subscription is an open WebSocket subscription. Read notifications from
// C until it is closed, then Err says why. Close ends it. A consumer that
// stops reading stalls the socket, and the server then disconnects it
// (close code 1008); that is the contract, not a bug. C is for one
// consumer; Err and Close are safe to call from any goroutine.
type Subscription struct {
	// C delivers notifications in server order.
	C <-chan rpcjson.Notification
	// Seqs holds, per topic, the sequence number the server reported at
	// subscription: the first notification of the topic carries Seqs[t]+1.
	Seqs map[string]uint64

	conn *websocket.Conn
	done chan struct{}
	once sync.Once
	mu   sync.Mutex
	err  error
}

// Subscribe opens a WebSocket to the server's /ws endpoint and subscribes
// to the topics ("blocks", "reorgs", "mempool"). It starts one reader
// goroutine, which Close stops.
func (c *Client) Subscribe(ctx context.Context, topics ...string) (*Subscription, error) {
	wsURL := "ws" + strings.TrimPrefix(c.url, "http") + "ws"
	h := http.Header{}
	if c.user != "" || c.pass != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.user+":"+c.pass)))
	}
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, h)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, ErrUnauthorized
		}
		return nil, fmt.Errorf("rpc: websocket: %w", err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	var early []rpcjson.Notification
	seqs := make(map[string]uint64, len(topics))
	for i, t := range topics {
		req := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"subscribe","params":[%q]}`, i+1, t)
		if err := conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			_ = conn.Close() // the subscribe error is the one to report
			return nil, fmt.Errorf("rpc: subscribe %s: %w", t, err)
		}
		for {
			var m struct {
				rpcjson.Notification
				ID     json.RawMessage `json:"id"`
				Result json.RawMessage `json:"result"`
				Error  *rpcjson.Error  `json:"error"`
			}
			if err := conn.ReadJSON(&m); err != nil {
				_ = conn.Close() // the subscribe error is the one to report
				return nil, fmt.Errorf("rpc: subscribe %s: %w", t, err)
			}
			if m.ID == nil { // a notification of an earlier topic
				early = append(early, m.Notification)
				continue
			}
			if m.Error != nil {
				_ = conn.Close() // the subscribe error is the one to report
				return nil, m.Error
			}
			var r rpcjson.SubscribeResult
			if err := json.Unmarshal(m.Result, &r); err != nil {
				_ = conn.Close() // the subscribe error is the one to report
				return nil, fmt.Errorf("rpc: subscribe %s: %w", t, err)
			}
			seqs[t] = r.Seq
			break
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	ch := make(chan rpcjson.Notification, 64)
	s := &Subscription{C: ch, Seqs: seqs, conn: conn, done: make(chan struct{})}
	go s.read(ch, early)
	return s, nil
}

func (s *Subscription) read(ch chan<- rpcjson.Notification, early []rpcjson.Notification) {
	defer close(ch)
	for _, n := range early {
		select {
		case ch <- n:
		case <-s.done:
			return
		}
	}
	for {
		var n rpcjson.Notification
		if err := s.conn.ReadJSON(&n); err != nil {
			select {
			case <-s.done:
			default:
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
			}
			return
		}
		if n.Method == "" {
			continue // a reply; this client sends no calls after subscribing
		}
		select {
		case ch <- n:
		case <-s.done:
			return
		}
	}
}

// Err returns why C was closed: nil after Close, else the read error (a
// *websocket.CloseError with the server's code, e.g. 1008 for a slow
// consumer, 1001 for shutdown).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and waits for the reader to stop. It is
// safe to call more than once.
func (s *Subscription) Close() error {
	s.once.Do(func() {
		close(s.done)
		_ = s.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = s.conn.Close()
	})
	for range s.C { // drain until the reader exits
	}
	return nil
}

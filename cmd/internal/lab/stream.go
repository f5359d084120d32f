package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Event is one WebSocket notification of one node, stamped when the lab
// received it.
type Event struct {
	Node int
	At   time.Time
	rpcjson.Notification
}

// Stream merges the WebSocket notifications of every node of a lab into
// one channel, in the order the lab receives them (each node's own
// notifications stay in that node's order). C is for one consumer; Err and
// Close are safe to call from any goroutine.
//
// A consumer that stops reading stalls the nodes' sockets, and the nodes
// then close them as slow consumers: read C until Close.
type Stream struct {
	// C delivers the notifications; it is closed when every node's
	// subscription has ended (after Close, or when the nodes stopped).
	C <-chan Event

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	mu     sync.Mutex
	err    error // the first subscription that ended by itself
}

// streamBuffer is the capacity of a Stream's channel.
const streamBuffer = 1024

// Subscribe subscribes to topics (rpcjson.TopicBlocks, TopicReorgs,
// TopicMempool) on every node. Every notification a node sends after
// Subscribe returns is delivered. It starts one goroutine per node; Close
// stops them.
func (l *Lab) Subscribe(ctx context.Context, topics ...string) (*Stream, error) {
	sctx, cancel := context.WithCancel(ctx)
	c := make(chan Event, streamBuffer)
	s := &Stream{C: c, cancel: cancel}
	var subs []*client.Subscription
	for i := range l.N() {
		cl, err := l.Client(i)
		if err == nil {
			var sub *client.Subscription
			if sub, err = cl.Subscribe(sctx, topics...); err == nil {
				subs = append(subs, sub)
				continue
			}
		}
		cancel()
		for _, sub := range subs {
			_ = sub.Close()
		}
		return nil, fmt.Errorf("node%d: subscribe %v: %w", i, topics, err)
	}
	for i, sub := range subs {
		s.wg.Add(1)
		go s.forward(sctx, i, sub, c)
	}
	go func() {
		s.wg.Wait()
		close(c)
	}()
	return s, nil
}

// forward copies node i's notifications to c until ctx ends or the
// subscription does.
func (s *Stream) forward(ctx context.Context, i int, sub *client.Subscription, c chan<- Event) {
	defer s.wg.Done()
	defer func() { _ = sub.Close() }() // ended by ctx or by the node; nothing to report
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-sub.C:
			if !ok {
				if err := sub.Err(); err != nil && ctx.Err() == nil {
					s.mu.Lock()
					if s.err == nil {
						s.err = fmt.Errorf("node%d: websocket: %w", i, err)
					}
					s.mu.Unlock()
				}
				return
			}
			select {
			case c <- Event{Node: i, At: time.Now(), Notification: n}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Err returns why a node's subscription ended before Close (nil if none
// did).
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends every subscription and waits until the goroutines have
// exited and C is closed. It is safe to call more than once.
func (s *Stream) Close() {
	s.once.Do(s.cancel)
	for range s.C { // drain until the forwarders exit and C closes
	}
}

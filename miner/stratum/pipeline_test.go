package stratum

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// pipeWait bounds every wait of the pipe test.
const pipeWait = 20 * time.Second

// TestPipelinedSubmitsAreNotDroppedAsSlow reproduces cpuminer on a chain
// where shares come faster than its answers are read: its workio thread
// writes mining.submit lines (all with "id":4) while its stratum thread is
// still busy, so dozens of requests arrive before the first answer is
// read. The connection must throttle such a client (the reader waits for
// the writer), not close it as "slow" because more than outQueue answers
// were queued: cpuminer then pauses 30 s before it reconnects. Over
// net.Pipe every write blocks until the client reads, so the queue is
// certainly full before the client reads anything.
func TestPipelinedSubmitsAreNotDroppedAsSlow(t *testing.T) {
	const submits = 3 * outQueue
	s, _ := benchServer(t, 0x1d00ffff, func(c *Config) { c.PayTo = chain.Address{0: 3} })
	a, b := net.Pipe()
	defer b.Close()
	c := s.newConn(a)
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	served := make(chan struct{})
	go func() {
		defer close(served)
		c.serve(ctx)
	}()
	defer func() {
		c.close(dropShutdown)
		<-served
	}()

	// The miner's lines, byte for byte as cpuminer 2.5.0 formats them.
	var req strings.Builder
	req.WriteString(`{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.0"]}` + "\n")
	req.WriteString(`{"id": 2, "method": "mining.authorize", "params": ["rig1", "x"]}` + "\n")
	for i := 0; i < submits; i++ {
		fmt.Fprintf(&req, `{"method": "mining.submit", "params": ["rig1", "1", "00000000", "6b1526b7", "%02x000000"], "id":4}`+"\n", i)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := b.Write([]byte(req.String()))
		wrote <- err
	}()

	// Read nothing until the answer queue is full (the writer is blocked
	// on the pipe) or the connection was closed.
	deadline := time.Now().Add(pipeWait)
	for len(c.out) < outQueue {
		select {
		case <-c.done:
			t.Fatal("connection closed while the client had not read yet")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("answer queue holds %d, want %d", len(c.out), outQueue)
		}
		<-time.After(time.Millisecond)
	}

	br := bufio.NewReader(b)
	answers := 0
	for answers < submits+2 {
		_ = b.SetReadDeadline(time.Now().Add(pipeWait))
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("after %d answers: %v (connection dropped)", answers, err)
		}
		var m Message
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("answer %q: %v", line, err)
		}
		if len(m.ID) > 0 && string(m.ID) != "null" {
			answers++
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("client write: %v", err)
	}
	select {
	case <-c.done:
		t.Fatal("connection closed")
	default:
	}
}

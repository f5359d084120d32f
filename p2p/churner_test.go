package p2p

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Churned peers: raw libp2p hosts with fresh identities that speak
// gossipsub and the sync protocol to one node, the victim. A churner
// starts a wave of them and closes it; the local one runs them in the
// test process, the process one in a child process, so that the test
// process's heap is the victim's alone (the heap benchmark).

// churnKind is how a churned peer behaves.
type churnKind int

const (
	churnHonest    churnKind = iota // answers status, asks the node's status, gossips
	churnMalformed                  // answers status with a wrong message type: banned
	churnStaller                    // never answers: a stall (50 points), disconnected
)

func (k churnKind) String() string {
	return [...]string{"honest", "malformed", "staller"}[k]
}

// churnTarget is what a churned peer needs to know of the victim.
type churnTarget struct {
	Addr   peer.AddrInfo
	Proto  protocol.ID
	Status []byte // the victim's encoded status: the same chain, nothing to sync
	Topics []string
}

func targetOf(victim *testNode) churnTarget {
	p := victim.n.cfg.Params
	return churnTarget{
		Addr:   peer.AddrInfo{ID: victim.n.ID(), Addrs: victim.n.host().Addrs()},
		Proto:  victim.n.proto,
		Status: encodeStatus(victim.n.ourStatus()),
		Topics: []string{p.BlockTopic(), p.TxTopic()},
	}
}

// churner starts waves of churned peers against one victim.
type churner interface {
	// start creates one peer per kind, connects each to the victim and
	// has the honest ones ask its status; it returns their IDs in order.
	start(kinds []churnKind) ([]peer.ID, error)
	// stop closes the peers of the last wave.
	stop() error
}

// churnPeer is one churned peer; nothing retains it once closed.
type churnPeer struct {
	kind   churnKind
	h      host.Host
	cancel context.CancelFunc
	done   chan struct{} // closed by close: a staller's handlers return
	once   sync.Once
}

func newChurnPeer(tg churnTarget, kind churnKind) (*churnPeer, error) {
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &churnPeer{kind: kind, h: h, cancel: cancel, done: make(chan struct{})}
	h.SetStreamHandler(tg.Proto, func(s network.Stream) {
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := readFrame(s, 1<<20); err != nil {
			_ = s.Reset()
			return
		}
		switch kind {
		case churnHonest:
			_ = writeFrame(s, msgStatus, tg.Status)
			_ = s.Close()
		case churnMalformed:
			_ = writeFrame(s, msgNotFound, make([]byte, 32))
			_ = s.Close()
		case churnStaller:
			<-cp.done
			_ = s.Reset()
		}
	})
	_, topics, err := rawGossip(ctx, h, tg.Topics)
	for _, t := range topics {
		if err != nil {
			break
		}
		_, err = t.Subscribe()
	}
	if err != nil {
		cp.close()
		return nil, err
	}
	return cp, nil
}

// close stops the peer (idempotent).
func (cp *churnPeer) close() {
	cp.once.Do(func() {
		close(cp.done)
		cp.cancel()
		_ = cp.h.Close()
	})
}

// askStatus sends the victim a status request, as a peer does on
// connecting.
func (cp *churnPeer) askStatus(tg churnTarget) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := cp.h.NewStream(ctx, tg.Addr.ID, tg.Proto)
	if err != nil {
		return err
	}
	defer func() { _ = s.Close() }()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeFrame(s, msgStatus, tg.Status); err != nil {
		return err
	}
	_ = s.CloseWrite()
	_, err = expect(bufio.NewReader(s), msgStatus, maxStatusFrame)
	return err
}

// localChurner runs the churned peers in the test process.
type localChurner struct {
	tg    churnTarget
	peers []*churnPeer
}

func (l *localChurner) start(kinds []churnKind) ([]peer.ID, error) {
	var ids []peer.ID
	for _, k := range kinds {
		cp, err := newChurnPeer(l.tg, k)
		if err != nil {
			return nil, err
		}
		l.peers = append(l.peers, cp)
		ids = append(ids, cp.h.ID())
	}
	for _, cp := range l.peers {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cp.h.Connect(ctx, l.tg.Addr)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s peer: connect: %w", cp.kind, err)
		}
		if cp.kind == churnHonest {
			if err := cp.askStatus(l.tg); err != nil {
				return nil, fmt.Errorf("honest peer: status request: %w", err)
			}
		}
	}
	return ids, nil
}

func (l *localChurner) stop() error {
	for _, cp := range l.peers {
		cp.close()
	}
	l.peers = nil
	return nil
}

// churnerEnv, set in a child test process, makes TestChurnerProcess
// serve churn requests on its standard input.
const churnerEnv = "QUARRY_TEST_CHURNER"

// churnRequest is one line to the child: start a wave (Kinds) or stop it.
type churnRequest struct {
	Target *churnTarget `json:",omitempty"`
	Kinds  []churnKind  `json:",omitempty"`
	Stop   bool         `json:",omitempty"`
}

// churnReply is the child's answer to one request.
type churnReply struct {
	IDs   []peer.ID `json:",omitempty"`
	Error string    `json:",omitempty"`
}

// procChurner runs the churned peers in a child process (this test
// binary running TestChurnerProcess).
type procChurner struct {
	tg  churnTarget
	cmd *exec.Cmd
	in  io.WriteCloser
	enc *json.Encoder
	dec *json.Decoder
}

// newProcChurner starts the child; it exits when tb's cleanup closes its
// input.
func newProcChurner(tb testing.TB, tg churnTarget) *procChurner {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChurnerProcess$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), churnerEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	pc := &procChurner{tg: tg, cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(out)}
	tb.Cleanup(func() {
		_ = in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return pc
}

func (pc *procChurner) call(req churnRequest) ([]peer.ID, error) {
	if err := pc.enc.Encode(req); err != nil {
		return nil, err
	}
	var rep churnReply
	if err := pc.dec.Decode(&rep); err != nil {
		return nil, fmt.Errorf("churner process: %w", err)
	}
	if rep.Error != "" {
		return nil, errors.New(rep.Error)
	}
	return rep.IDs, nil
}

func (pc *procChurner) start(kinds []churnKind) ([]peer.ID, error) {
	return pc.call(churnRequest{Target: &pc.tg, Kinds: kinds})
}

func (pc *procChurner) stop() error {
	_, err := pc.call(churnRequest{Stop: true})
	return err
}

// TestChurnerProcess is the child side of procChurner; it is skipped
// unless churnerEnv is set. It answers one JSON line per request and
// returns when its input ends. The test framework's own output goes to
// stdout after the replies, when the parent no longer reads.
func TestChurnerProcess(t *testing.T) {
	if os.Getenv(churnerEnv) == "" {
		t.Skip("the child process of the churn heap benchmark")
	}
	dec, enc := json.NewDecoder(os.Stdin), json.NewEncoder(os.Stdout)
	var l *localChurner
	defer func() {
		if l != nil {
			_ = l.stop()
		}
	}()
	for {
		var req churnRequest
		if err := dec.Decode(&req); err != nil {
			return // the parent closed our input
		}
		var rep churnReply
		var err error
		switch {
		case req.Stop:
			if l != nil {
				err = l.stop()
			}
		default:
			if l == nil && req.Target != nil {
				l = &localChurner{tg: *req.Target}
			}
			if l == nil {
				err = errors.New("no target")
			} else {
				rep.IDs, err = l.start(req.Kinds)
			}
		}
		if err != nil {
			rep.Error = err.Error()
		}
		if err := enc.Encode(rep); err != nil {
			return
		}
	}
}

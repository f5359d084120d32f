package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// args returns node i's quarryd command line.
func (l *Lab) args(i int, logLevel string) []string {
	n := l.State.Nodes[i]
	var boots []string
	for _, j := range l.neighbours(i) {
		boots = append(boots, l.bootnode(i, j))
	}
	a := []string{
		"--network", l.State.Network, "--datadir", n.DataDir, "--no-mdns",
		"--p2p-listen", "127.0.0.1:" + strconv.Itoa(n.P2PPort),
		"--rpc-listen", n.RPCAddr(),
		"--metrics-listen", "127.0.0.1:" + strconv.Itoa(n.MetricsPort),
		"--miner-address", n.Address,
		"--log-level", logLevel,
	}
	if len(boots) > 0 {
		a = append(a, "--bootnodes", strings.Join(boots, ","))
	}
	if l.State.BlockTime > 0 {
		a = append(a, "--block-time", l.State.BlockTime.String())
	}
	if l.State.Shaped {
		// Every byte between two nodes passes through their link's proxy:
		// TCP only, and no address of its own for peers to learn.
		a = append(a, "--p2p-no-quic", "--p2p-announce", "none")
	}
	if n.Hashrate > 0 {
		a = append(a, "--mine", "--miner-threads", "1", "--miner-hashrate-limit", strconv.FormatFloat(n.Hashrate, 'f', 0, 64))
	}
	return append(a, n.Role.args()...)
}

// neighbours returns the nodes node i dials at start (--bootnodes): its
// neighbours in the lab's topology (State.Links), or every other node in
// a lab without links (a full mesh, as labs created before topologies).
func (l *Lab) neighbours(i int) []int {
	if l.State.Links != nil {
		return neighboursIn(l.State.Links, i)
	}
	var out []int
	for _, o := range l.State.Nodes {
		if o.Index != i {
			out = append(out, o.Index)
		}
	}
	return out
}

// liveDegree returns the number of node i's neighbours over links that
// are not down: the peers Up waits for.
func (l *Lab) liveDegree(i int) int {
	if l.State.Links == nil {
		return l.N() - 1
	}
	d := 0
	for _, k := range l.State.Links {
		if !k.Down && (k.A == i || k.B == i) {
			d++
		}
	}
	return d
}

// quarryd returns the path of the quarryd binary.
func (l *Lab) quarryd() (string, error) {
	if l.Bin != "" {
		p := filepath.Join(l.Bin, "quarryd")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("quarryd not found in %s (scripts/devnet builds it; or pass --bin DIR)", l.Bin)
		}
		return p, nil
	}
	p, err := exec.LookPath("quarryd")
	if err != nil {
		return "", errors.New("quarryd not found: pass --bin DIR or run through scripts/devnet, which builds it")
	}
	return p, nil
}

// Running reports whether node i's recorded process is alive.
func (l *Lab) Running(i int) bool {
	if p := l.procs[i]; p != nil {
		return !p.Exited()
	}
	n := l.State.Nodes[i]
	return n.PID > 0 && processAlive(n.PID, n.DataDir)
}

// Up starts every node that is not running and waits until all answer RPC
// and each is connected to every neighbour over a link that is up.
func (l *Lab) Up(ctx context.Context, opts UpOptions) error {
	bin, err := l.quarryd()
	if err != nil {
		return err
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
	}
	if l.State.Shaped {
		if err := l.startProxy(ctx, opts.Attached, opts.Devnet); err != nil {
			return err
		}
	}
	for i := range l.State.Nodes {
		if l.Running(i) {
			l.logf("node%d already running (pid %d)", i, l.State.Nodes[i].PID)
			continue
		}
		n := &l.State.Nodes[i]
		key, _, err := p2pKey(l.State.Seed, i)
		if err != nil {
			return err
		}
		if err := writeIdentity(n.DataDir, key); err != nil {
			return err
		}
		logf, err := os.OpenFile(n.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		// A stale cookie would authenticate against nothing; the node
		// writes a fresh one when its RPC server starts.
		_ = os.Remove(filepath.Join(n.DataDir, ".cookie"))
		if opts.Attached {
			var p *Process
			if p, err = StartProcess(bin, l.args(i, level), ProcessOptions{Output: logf}); err == nil {
				l.procs[i] = p
				n.PID = p.Pid()
			}
		} else {
			n.PID, err = startDetached(bin, l.args(i, level), logf)
		}
		_ = logf.Close() // the child process writes through its own descriptor
		if err != nil {
			return fmt.Errorf("starting node%d: %w", i, err)
		}
		l.logf("node%d: pid %d  p2p 127.0.0.1:%d  rpc %s  metrics %d  peer %s  mining %s%s",
			i, n.PID, n.P2PPort, n.RPCAddr(), n.MetricsPort, shortID(n.PeerID), FormatRate(n.Hashrate), roleNote(n.Role))
	}
	if err := l.Save(); err != nil {
		return err
	}
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := l.waitReady(ctx); err != nil {
		return err
	}
	return l.waitPeers(ctx, l.startDegree)
}

// startDegree is liveDegree without the links to lie-work and junk nodes:
// their peers ban them within seconds (the defence they demonstrate), so
// starting a lab does not wait for those connections.
func (l *Lab) startDegree(i int) int {
	if l.State.Nodes[i].Role.bannedByPeers() {
		return 0
	}
	d := l.liveDegree(i)
	for j := range l.State.Nodes {
		if j != i && l.State.Nodes[j].Role.bannedByPeers() && l.linked(i, j) {
			d--
		}
	}
	return d
}

// linked reports whether nodes i and j have a live link.
func (l *Lab) linked(i, j int) bool {
	if l.State.Links == nil {
		return true
	}
	for _, k := range l.State.Links {
		if !k.Down && (k.A == i && k.B == j || k.A == j && k.B == i) {
			return true
		}
	}
	return false
}

// waitReady waits until every node answers RPC; a node that exits is an
// error quoting the end of its log.
func (l *Lab) waitReady(ctx context.Context) error {
	for i := range l.State.Nodes {
		err := Poll(ctx, 50*time.Millisecond, func() (bool, error) {
			if !l.Running(i) {
				return false, fmt.Errorf("node%d exited; end of %s:\n%s", i, l.State.Nodes[i].LogFile, TailFile(l.State.Nodes[i].LogFile, 15))
			}
			c, err := l.Client(i)
			if err != nil {
				return false, nil // no cookie yet
			}
			_, err = c.GetNetworkInfo(ctx)
			return err == nil, nil
		})
		if err != nil {
			return fmt.Errorf("waiting for node%d's RPC: %w", i, err)
		}
	}
	return nil
}

// halfOpenGrace is how long a connection may be known to one end only
// before WaitPeers repairs it.
const halfOpenGrace = 2 * time.Second

// WaitPeers waits until every node has at least want peers.
//
// It also checks for half-open connections, a defence kept from when
// quarryd's p2p layer missed connections opened while its host was still
// starting (fixed in p2p.Node.Run, which now adopts them): if one end lists
// the other in getpeerinfo and the other does not, after halfOpenGrace the
// lab asks the end that
// lists the peer to disconnect it (RPC disconnectnode); both redial and
// get a proper connection. Each repair is logged.
func (l *Lab) WaitPeers(ctx context.Context, want int) error {
	return l.waitPeers(ctx, func(int) int { return want })
}

// waitPeers is WaitPeers with a peer count per node.
func (l *Lab) waitPeers(ctx context.Context, want func(i int) int) error {
	first := time.Now()
	repaired := map[[2]int]bool{}
	var last string
	err := Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		sees := make([]map[int]bool, l.N())
		done := true
		for i := range l.State.Nodes {
			peers, err := call[[]rpcjson.PeerInfo](ctx, l, i, "getpeerinfo")
			if err != nil {
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return false, err
				}
				return false, nil // restarting or busy: poll again
			}
			sees[i] = map[int]bool{}
			for _, p := range peers {
				if j := l.nodeByPeerID(p.PeerID); j >= 0 {
					sees[i][j] = true
				}
			}
			if len(peers) < want(i) {
				done = false
				last = fmt.Sprintf("node%d has %d peers", i, len(peers))
			}
		}
		if done || time.Since(first) < halfOpenGrace {
			return done, nil
		}
		for i := range sees {
			for j := range sees[i] {
				if sees[j][i] || repaired[[2]int{i, j}] {
					continue
				}
				repaired[[2]int{i, j}] = true
				l.logf("WARNING: node%d lists node%d as a peer but node%d does not list node%d (p2p startup race); disconnecting to repair", i, j, j, i)
				if _, err := call[json.RawMessage](ctx, l, i, "disconnectnode", "", l.State.Nodes[j].PeerID); err != nil {
					l.logf("disconnectnode: %v", err)
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for every node to have its peers (%s): %w", last, err)
	}
	return nil
}

// stopDetached stops a detached process: SIGTERM, then SIGKILL if alive
// still reports it after grace. It then reaps the process if this
// program started it (reapChild). The process may belong to an earlier
// command, so its exit can only be polled.
func stopDetached(pid int, grace time.Duration, alive func() bool) error {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	_ = proc.Signal(syscall.SIGTERM)
	gctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if Poll(gctx, 50*time.Millisecond, func() (bool, error) { return !alive(), nil }) != nil {
		_ = proc.Kill()
		// SIGKILL cannot be ignored; the kernel ends the process at once.
		kctx, kcancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = Poll(kctx, 10*time.Millisecond, func() (bool, error) { return !pidAlive(pid), nil })
		kcancel()
	}
	reapChild(pid)
	return nil
}

// Down stops every node: SIGTERM, then SIGKILL after grace. It only
// signals processes that are the lab's own quarryd (checked by data
// directory on Linux).
func (l *Lab) Down(grace time.Duration) error {
	var errs []error
	for i := range l.State.Nodes {
		n := &l.State.Nodes[i]
		if p := l.procs[i]; p != nil {
			p.Stop(grace)
			delete(l.procs, i)
			n.PID = 0
			continue
		}
		if n.PID == 0 {
			continue
		}
		if !processAlive(n.PID, n.DataDir) {
			reapChild(n.PID) // it may have died on its own, a zombie of ours
			n.PID = 0
			continue
		}
		pid, dataDir := n.PID, n.DataDir
		if err := stopDetached(pid, grace, func() bool { return processAlive(pid, dataDir) }); err != nil {
			errs = append(errs, err)
			continue
		}
		l.logf("node%d stopped (pid %d)", i, n.PID)
		n.PID = 0
	}
	if err := l.stopProxy(grace); err != nil {
		errs = append(errs, err)
	}
	if err := l.Save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// UpOptions configure a new lab (up).
type UpOptions struct {
	N       int
	Seed    string
	Network string
	// Shares are the nodes' percentages of TotalHashrate (nil: equal).
	Shares        []float64
	TotalHashrate float64
	// Mine starts the nodes with --mine (each with its share of
	// TotalHashrate); a node with share 0 does not mine.
	Mine bool
	// BasePort 0 picks free ports; otherwise node i uses BasePort+10i
	// (p2p, TCP and UDP), +1 (RPC) and +2 (metrics).
	BasePort int
	LogLevel string
	// ReadyTimeout bounds the wait for RPC and peers (default 60s).
	ReadyTimeout time.Duration
	// Attached keeps the processes tied to this program (tests): they are
	// killed if it dies (Linux) and Down reaps them. Otherwise they run
	// in their own session and outlive the command.
	Attached bool
}

// CreateLab writes a new lab into dir (identities, keys, ports, state
// file) or reopens the one there if it matches opts.
func CreateLab(dir, bin string, opts UpOptions) (*Lab, error) {
	if opts.N < 1 || opts.N > 64 {
		return nil, fmt.Errorf("-n %d: want 1..64 nodes", opts.N)
	}
	if opts.Network == "" {
		opts.Network = "dev"
	}
	p, err := chain.ParamsByName(opts.Network)
	if err != nil {
		return nil, err
	}
	if opts.Seed == "" {
		opts.Seed = "quarry"
	}
	shares := opts.Shares
	if shares == nil {
		shares = make([]float64, opts.N)
		for i := range shares {
			shares[i] = 100 / float64(opts.N)
		}
	}
	if len(shares) != opts.N {
		return nil, fmt.Errorf("--hashrate lists %d shares for %d nodes", len(shares), opts.N)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if l, err := OpenLab(abs, bin, nil); err == nil {
		st := l.State
		if st.Network != p.Name || st.Seed != opts.Seed || len(st.Nodes) != opts.N {
			return nil, fmt.Errorf("%s holds a lab with %d %s nodes and seed %q; run `scripts/devnet clean` first or use --dir",
				abs, len(st.Nodes), st.Network, st.Seed)
		}
		return l, nil
	} else if !errors.Is(err, errNoLab) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, "keys"), 0o700); err != nil {
		return nil, err
	}
	ports, err := allocatePorts(opts.N, opts.BasePort)
	if err != nil {
		return nil, err
	}
	st := State{Version: stateVersion, Network: p.Name, Seed: opts.Seed, Created: time.Now().UTC(), TotalHashrate: opts.TotalHashrate}
	for i := 0; i < opts.N; i++ {
		key, id, err := p2pKey(opts.Seed, i)
		if err != nil {
			return nil, err
		}
		name := "node" + strconv.Itoa(i)
		n := NodeState{
			Index: i, DataDir: filepath.Join(abs, name), LogFile: filepath.Join(abs, name+".log"),
			P2PPort: ports[i][0], RPCPort: ports[i][1], MetricsPort: ports[i][2], PeerID: id.String(),
			KeyFile: filepath.Join(abs, "keys", name+".key"),
		}
		if opts.Mine {
			n.Hashrate = opts.TotalHashrate * shares[i] / 100
		}
		mk := minerKey(opts.Seed, i)
		n.Address = mk.Address.Encode(p)
		if err := writeIdentity(n.DataDir, key); err != nil {
			return nil, err
		}
		if err := writeKeyFile(n.KeyFile, mk, p); err != nil {
			return nil, err
		}
		st.Nodes = append(st.Nodes, n)
	}
	for j := 0; j < 2; j++ {
		st.Sinks = append(st.Sinks, sinkKey(opts.Seed, j).Address.Encode(p))
	}
	l := &Lab{Dir: abs, State: st, Bin: bin, params: p, procs: map[int]*proc{}}
	return l, l.Save()
}

// allocatePorts returns p2p, RPC and metrics ports per node. With base 0
// it asks the kernel for free ports (the p2p port free for TCP and UDP,
// since QUIC shares it) and holds them until all are chosen.
func allocatePorts(n, base int) ([][3]int, error) {
	out := make([][3]int, n)
	if base != 0 {
		if base < 1024 || base+10*n > 65535 {
			return nil, fmt.Errorf("--base-port %d: want 1024..%d", base, 65535-10*n)
		}
		for i := range out {
			out[i] = [3]int{base + 10*i, base + 10*i + 1, base + 10*i + 2}
		}
		return out, nil
	}
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	tcpPort := func() (int, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		closers = append(closers, func() { ln.Close() })
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	for i := range out {
		for attempt := 0; ; attempt++ {
			if attempt == 50 {
				return nil, errors.New("no free TCP+UDP port pair found")
			}
			port, err := tcpPort()
			if err != nil {
				return nil, err
			}
			uc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				continue // keep the TCP one held so it is not offered again
			}
			closers = append(closers, func() { uc.Close() })
			out[i][0] = port
			break
		}
		for k := 1; k < 3; k++ {
			port, err := tcpPort()
			if err != nil {
				return nil, err
			}
			out[i][k] = port
		}
	}
	return out, nil
}

// proc is a quarryd process started by this program in attached mode.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// args returns node i's quarryd command line.
func (l *Lab) args(i int, logLevel string) []string {
	n := l.State.Nodes[i]
	var boots []string
	for _, o := range l.State.Nodes {
		if o.Index != i {
			boots = append(boots, o.Bootnode())
		}
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
	if n.Hashrate > 0 {
		a = append(a, "--mine", "--miner-threads", "1", "--miner-hashrate-limit", strconv.FormatFloat(n.Hashrate, 'f', 0, 64))
	}
	return a
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
		select {
		case <-p.done:
			return false
		default:
			return true
		}
	}
	n := l.State.Nodes[i]
	return n.PID > 0 && processAlive(n.PID, n.DataDir)
}

// Up starts every node that is not running and waits until all answer RPC
// and each has a peer (every other node, once connected).
func (l *Lab) Up(ctx context.Context, opts UpOptions) error {
	bin, err := l.quarryd()
	if err != nil {
		return err
	}
	level := opts.LogLevel
	if level == "" {
		level = "info"
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
		cmd := exec.Command(bin, l.args(i, level)...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = sysProcAttr(opts.Attached)
		err = cmd.Start()
		logf.Close()
		if err != nil {
			return fmt.Errorf("starting node%d: %w", i, err)
		}
		n.PID = cmd.Process.Pid
		if opts.Attached {
			p := &proc{cmd: cmd, done: make(chan struct{})}
			go func() { p.err = cmd.Wait(); close(p.done) }()
			l.procs[i] = p
		} else {
			_ = cmd.Process.Release()
		}
		l.logf("node%d: pid %d  p2p 127.0.0.1:%d  rpc %s  metrics %d  peer %s  mining %s",
			i, n.PID, n.P2PPort, n.RPCAddr(), n.MetricsPort, shortID(n.PeerID), fmtRate(n.Hashrate))
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
	if err := l.WaitReady(ctx); err != nil {
		return err
	}
	return l.WaitPeers(ctx, l.N()-1)
}

// WaitReady waits until every node answers RPC; a node that exits is an
// error quoting the end of its log.
func (l *Lab) WaitReady(ctx context.Context) error {
	for i := range l.State.Nodes {
		err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
			if !l.Running(i) {
				return false, fmt.Errorf("node%d exited; end of %s:\n%s", i, l.State.Nodes[i].LogFile, tailFile(l.State.Nodes[i].LogFile, 15))
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
	first := time.Now()
	repaired := map[[2]int]bool{}
	var last string
	err := poll(ctx, 50*time.Millisecond, func() (bool, error) {
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
			if len(peers) < want {
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
		return fmt.Errorf("waiting for every node to have %d peers (%s): %w", want, last, err)
	}
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
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(grace):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			delete(l.procs, i)
			n.PID = 0
			continue
		}
		if n.PID == 0 {
			continue
		}
		if !processAlive(n.PID, n.DataDir) {
			n.PID = 0
			continue
		}
		proc, err := os.FindProcess(n.PID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = proc.Signal(syscall.SIGTERM)
		// Not our child: its exit can only be polled.
		gctx, cancel := context.WithTimeout(context.Background(), grace)
		if poll(gctx, 50*time.Millisecond, func() (bool, error) { return !processAlive(n.PID, n.DataDir), nil }) != nil {
			_ = proc.Kill()
		}
		cancel()
		l.logf("node%d stopped (pid %d)", i, n.PID)
		n.PID = 0
	}
	if err := l.Save(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Kill stops node i at once (SIGKILL), as a crash would.
func (l *Lab) Kill(i int) error {
	if p := l.procs[i]; p != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
		delete(l.procs, i)
		l.State.Nodes[i].PID = 0
		return nil
	}
	return errors.New("kill: only for nodes started by this process")
}

// poll calls cond every interval until it reports true, fails, or ctx ends.
func poll(ctx context.Context, interval time.Duration, cond func() (bool, error)) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// tailFile returns the last n lines of a file ("" if unreadable).
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

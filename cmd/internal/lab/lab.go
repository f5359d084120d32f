package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
	"github.com/quarrychain/quarry/rpc/client"
)

// Lab is a devnet on this machine: a directory with the state file, the
// nodes' data directories, their key files and logs. A Lab is not safe for
// concurrent use; the methods that talk to nodes may be called while nodes
// run.
type Lab struct {
	Dir   string
	State State
	// Bin is the directory holding quarryd.
	Bin string
	// Out receives progress messages (nil: discarded).
	Out io.Writer

	params *chain.Params
	procs  map[int]*Process   // processes started by this Lab value (attached mode)
	live   map[int]ReorgEvent // the latest reorg per node seen by Watch
	proxy  *runningProxy      // the proxies, when this Lab value runs them (attached mode)
}

// ErrNoLab is returned by OpenLab when the lab directory has no state file.
var ErrNoLab = errors.New("no devnet here (run: scripts/devnet up -n 4)")

// OpenLab loads the lab in dir.
func OpenLab(dir, bin string, out io.Writer) (*Lab, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(abs, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", abs, ErrNoLab)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("%s: corrupt state file: %w", filepath.Join(abs, stateFile), err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("%s: state version %d, this program reads %d (run: scripts/devnet clean)", abs, st.Version, stateVersion)
	}
	p, err := labParams(st.Network, st.BlockTime)
	if err != nil {
		return nil, err
	}
	return &Lab{Dir: abs, State: st, Bin: bin, Out: out, params: p, procs: map[int]*Process{}}, nil
}

// Save writes the state file atomically.
func (l *Lab) Save() error {
	raw, err := json.MarshalIndent(l.State, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(l.Dir, stateFile), append(raw, '\n'), 0o600)
}

// Params returns the lab network's parameters.
func (l *Lab) Params() *chain.Params { return l.params }

// N returns the number of nodes.
func (l *Lab) N() int { return len(l.State.Nodes) }

// Node returns node i or an error naming the valid range.
func (l *Lab) Node(i int) (NodeState, error) {
	if i < 0 || i >= len(l.State.Nodes) {
		return NodeState{}, fmt.Errorf("no node %d (the lab has nodes 0..%d)", i, len(l.State.Nodes)-1)
	}
	return l.State.Nodes[i], nil
}

// Client returns an RPC client for node i, authenticated with the
// cookie the node wrote at its last start.
func (l *Lab) Client(i int) (*client.Client, error) {
	n, err := l.Node(i)
	if err != nil {
		return nil, err
	}
	user, pass, err := client.ReadCookie(n.DataDir)
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", i, err)
	}
	return client.New(n.RPCAddr(), user, pass), nil
}

// logf prints a progress line.
func (l *Lab) logf(format string, args ...any) {
	if l.Out != nil {
		fmt.Fprintf(l.Out, format+"\n", args...)
	}
}

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
	// Roles are the dishonest nodes (--adversary, --clock-offset), by
	// index; they apply to a new lab and replace the roles of an
	// existing one.
	Roles map[int]Role
	// Attached keeps the processes tied to this program (tests): they are
	// killed if it dies (Linux) and Down reaps them. Otherwise they run
	// in their own session and outlive the command.
	Attached bool

	// Topology is mesh (default), ring, line, star, random:K or the path
	// of an edge-list file (ParseTopology); random graphs are drawn from
	// Seed.
	Topology string
	// Shaped routes every link through a proxy (and runs the nodes on TCP
	// only, announcing no address of their own). Any link condition below
	// or in the topology file implies it.
	Shaped bool
	// LinkDelay, LinkJitter and LinkBandwidth (bits/s) apply to every link
	// whose topology file entry does not set its own.
	LinkDelay, LinkJitter time.Duration
	LinkBandwidth         int64
	// BlockTime runs a dev-derived network with this block interval
	// (chain.DevParamsWithBlockTime; quarryd --block-time). Dev only.
	BlockTime time.Duration
	// Devnet is the devnet program, which runs a detached lab's proxies
	// (`devnet proxy`); attached labs run them in this program.
	Devnet string
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
	p, err := labParams(opts.Network, opts.BlockTime)
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
	links, err := ParseTopology(opts.Topology, opts.N, opts.Seed)
	if err != nil {
		return nil, err
	}
	shaped := opts.Shaped || opts.LinkDelay > 0 || opts.LinkJitter > 0 || opts.LinkBandwidth > 0
	for i := range links {
		k := &links[i]
		if k.Delay == 0 && k.Jitter == 0 {
			k.Delay, k.Jitter = opts.LinkDelay, opts.LinkJitter
		}
		if k.Bandwidth == 0 {
			k.Bandwidth = opts.LinkBandwidth
		}
		shaped = shaped || k.Shaped()
	}
	topo := opts.Topology
	if topo == "" {
		topo = "mesh"
	}
	if l, err := OpenLab(abs, bin, nil); err == nil {
		st := l.State
		if st.Topology == "" {
			st.Topology = "mesh"
		}
		if st.Network != p.Name || st.Seed != opts.Seed || len(st.Nodes) != opts.N || st.Topology != topo || st.Shaped != shaped || st.BlockTime != opts.BlockTime {
			return nil, fmt.Errorf("%s holds a lab with %d %s nodes, seed %q and topology %s (shaped: %v); run `scripts/devnet clean` first or use --dir",
				abs, len(st.Nodes), st.Network, st.Seed, st.Topology, st.Shaped)
		}
		if opts.Roles != nil {
			for i := range l.State.Nodes {
				l.State.Nodes[i].Role = opts.Roles[i]
			}
			if err := l.Save(); err != nil {
				return nil, err
			}
		}
		return l, nil
	} else if !errors.Is(err, ErrNoLab) {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, "keys"), 0o700); err != nil {
		return nil, err
	}
	// A shaped lab's proxies need two ports per link (one per dialling
	// direction) and the control API's.
	extra := 0
	if shaped {
		extra = 2*len(links) + 1
	}
	ports, free, err := allocatePorts(opts.N, opts.BasePort, extra)
	if err != nil {
		return nil, err
	}
	st := State{Version: stateVersion, Network: p.Name, Seed: opts.Seed, Created: time.Now().UTC(), TotalHashrate: opts.TotalHashrate,
		Topology: topo, Links: links, Shaped: shaped, BlockTime: opts.BlockTime}
	if shaped {
		for i := range st.Links {
			st.Links[i].Ports = [2]int{free[2*i], free[2*i+1]}
		}
		st.Proxy = &ProxyState{Control: loopback(free[len(free)-1])}
	}
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
		n.Role = opts.Roles[i]
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
	l := &Lab{Dir: abs, State: st, Bin: bin, params: p, procs: map[int]*Process{}}
	return l, l.Save()
}

// labParams returns the parameters of a lab network: the named one, or
// with a block time the dev-derived network of that interval.
func labParams(network string, blockTime time.Duration) (*chain.Params, error) {
	p, err := chain.ParamsByName(network)
	if err != nil || blockTime == 0 {
		return p, err
	}
	if p.Name != "dev" {
		return nil, fmt.Errorf("--block-time: only a dev lab takes a block interval (the %s network's is fixed)", p.Name)
	}
	return chain.DevParamsWithBlockTime(blockTime)
}

// startLab creates a lab in dir for a benchmark or an experiment, starts
// it, and returns it with the function that ends it: it stops the nodes
// (a failure to stop is reported on warn, or l.Out when warn is nil) and,
// with fresh, deletes dir, which fresh also empties first. If the start
// fails, the lab is ended before startLab returns.
func startLab(ctx context.Context, dir, bin string, opts UpOptions, fresh bool, warn io.Writer) (*Lab, func(), error) {
	if fresh {
		_ = os.RemoveAll(dir) // a previous run's leftovers; CreateLab reports what matters
	}
	l, err := CreateLab(dir, bin, opts)
	if err != nil {
		return nil, nil, err
	}
	end := func() {
		if err := l.Down(10 * time.Second); err != nil {
			if warn != nil {
				fmt.Fprintf(warn, "stopping the lab in %s: %v\n", dir, err)
			} else {
				l.logf("stopping the lab in %s: %v", dir, err)
			}
		}
		if fresh {
			_ = os.RemoveAll(dir) // temporary lab; best effort
		}
	}
	if err := l.Up(ctx, opts); err != nil {
		end()
		return nil, nil, err
	}
	return l, end, nil
}

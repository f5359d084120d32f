package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/cmd/internal/lab/web"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `Usage: scripts/devnet [--dir DIR] [--bin DIR] <command> [flags] [args]

A local Quarry devnet: N quarryd processes on 127.0.0.1 with deterministic
identities, partitions, heals, double spends and reports.

Commands:
  up -n N [--seed S] [--hashrate 70,10,10,10] [--total-hashrate H] [--network dev]
     [--topology mesh|ring|line|star|random:K|FILE] [--shaped]
     [--link-delay 100ms[±20ms]] [--link-bandwidth 1mbit] [--block-time 1s]
                          start N nodes (each mining its share of H H/s) and wait for peers;
                          nodes dial only their topology neighbours; with link conditions
                          (or --shaped) every link runs through a proxy (TCP only)
  link A B [--delay D] [--jitter J] [--bandwidth B] [--down|--up]
                          change the conditions of the link between nodes A and B
  links                   list the links and their conditions
  experiment stale-rate [--delays 0,100ms,250ms,500ms] [--block-time 2s] [--blocks 300] [-n 4]
     [--json] [--plot out.png] [--keep]
                          measure the fraction of mined blocks that end off the main chain per
                          link delay (one fresh shaped mesh lab each) beside 1 - e^(-d/T)
  run FILE [--keep]       run a scenario file (TOML or YAML; see scripts/scenarios) in a fresh lab
                          directory; exits 1 when an assertion fails
  status                  one table row per node, then whether all nodes agree
  watch [--once] [--interval 1s]
                          live table of tips and forks (Ctrl-C ends)
  web [--listen 127.0.0.1:27780] [--window 300]
                          serve the live lab page: the block tree of every node, partition,
                          reorgs, double spend, heal report, and controls (Ctrl-C ends)
  partition 0,1 2,3 [--at gater|links]
                          split the nodes into groups: in every node's gater (RPC partition,
                          default) or by cutting the links between the groups in the proxies
  heal [--report] [--timeout 2m]
                          lift the partition; --report waits for agreement and reports
  report                  report on the last heal (fork, branches, reorgs, double spend)
  tx FROM TO AMOUNT [--fee F]
                          send AMOUNT coins from node FROM's key to node TO's address via FROM
  doublespend A B [--from N] [--amount X]
                          same sender nonce, two recipients: one spend on node A, one on node B
  isolate NODE | reconnect NODE
                          switch a node's networking off/on (RPC setnetworkactive)
  generate NODE N         mine N blocks on NODE to its address (regtest: instant)
  logs NODE [-n 50] [-f]  print (and follow) a node's log
  down                    stop every node (state and chains are kept)
  clean                   stop every node and delete the lab directory
  bench [--divergence 10,100] [--runs 3] [--blocks 60]
                          measure heal-to-agreement and block propagation (fresh labs)
  experiment NAME [--json] [--plot out.png] [--short]
                          adversary experiments: selfish, double-spend, clock-skew, equivocation
  identities [-n 4] [--seed S] [--network dev] [--out DIR] [--dns node%d:27733]
                          print (and write DIR/node<i>/p2p.key) the deterministic peer IDs,
                          miner addresses and bootnode multiaddrs (docker-compose uses them)
  k8s [-n 4] [--seed S] [--image quarry:devnet] [--network dev] [--name quarry]
      [--total-hashrate H] [--storage 1Gi]
                          print Kubernetes manifests of the devnet: a headless Service and a
                          StatefulSet whose pod <name>-i is node i of the seed

Global flags (also accepted after the command):
  --dir DIR   lab directory (default ./.devnet, or $QUARRY_DEVNET_DIR)
  --bin DIR   directory with quarryd (default: next to this program, or $QUARRY_BIN, or $PATH)
`

// globals are the flags every command accepts.
type globals struct {
	dir string
	bin string
}

func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.dir, "dir", g.dir, "lab directory")
	fs.StringVar(&g.bin, "bin", g.bin, "directory with quarryd")
}

// parse parses flags and positionals in any order.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func defaultBin() string {
	if b := os.Getenv("QUARRY_BIN"); b != "" {
		return b
	}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		if _, err := os.Stat(filepath.Join(dir, "quarryd")); err == nil {
			return dir
		}
	}
	return ""
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{dir: ".devnet", bin: defaultBin()}
	if d := os.Getenv("QUARRY_DEVNET_DIR"); d != "" {
		g.dir = d
	}
	top := flag.NewFlagSet("devnet", flag.ContinueOnError)
	top.SetOutput(stderr)
	top.Usage = func() { _, _ = io.WriteString(stderr, usage) }
	g.register(top)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if top.NArg() == 0 {
		io.WriteString(stderr, usage)
		return 2
	}
	cmd, rest := top.Arg(0), top.Args()[1:]
	fs := flag.NewFlagSet("devnet "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	g.register(fs)
	c := &command{g: g, fs: fs, stdout: stdout, stderr: stderr}
	var err error
	switch cmd {
	case "up":
		err = c.up(ctx, rest)
	case "status":
		err = c.status(ctx, rest)
	case "link":
		err = c.link(ctx, rest)
	case "links":
		err = c.links(ctx, rest)
	case "run":
		err = c.runScenario(ctx, rest)
	case "experiment":
		err = c.experiment(ctx, rest)
	case "proxy":
		err = c.proxy(ctx, rest)
	case "watch":
		err = c.watch(ctx, rest)
	case "web":
		err = c.web(ctx, rest)
	case "partition":
		err = c.partition(ctx, rest)
	case "heal":
		err = c.heal(ctx, rest)
	case "report":
		err = c.report(ctx, rest)
	case "tx":
		err = c.tx(ctx, rest)
	case "doublespend":
		err = c.doublespend(ctx, rest)
	case "isolate", "reconnect":
		err = c.network(ctx, cmd == "reconnect", rest)
	case "generate":
		err = c.generate(ctx, rest)
	case "logs":
		err = c.logs(ctx, rest)
	case "down":
		err = c.down(rest)
	case "clean":
		err = c.clean(rest)
	case "bench":
		err = c.bench(ctx, rest)
	case "identities":
		err = c.identities(rest)
	case "k8s":
		err = c.k8s(rest)
	case "help", "-h", "--help":
		io.WriteString(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "devnet: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "devnet %s: %v\n", cmd, err)
		return 2
	default:
		fmt.Fprintf(stderr, "devnet %s: %v\n", cmd, err)
		return 1
	}
}

// usageError is a wrong invocation (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// command carries one invocation's flags and outputs.
type command struct {
	g      *globals
	fs     *flag.FlagSet
	stdout io.Writer
	stderr io.Writer
}

// args parses the flags and checks the positional count.
func (c *command) args(rest []string, want int, names string) ([]string, error) {
	pos, err := parse(c.fs, rest)
	if err != nil {
		return nil, err
	}
	if want >= 0 && len(pos) != want {
		return nil, usagef("want %s, got %d argument(s)", names, len(pos))
	}
	return pos, nil
}

func (c *command) open() (*lab.Lab, error) { return lab.OpenLab(c.g.dir, c.g.bin, c.stderr) }

// labNodes parses want positional arguments, opens the lab and reads the
// first k arguments as node indices.
func (c *command) labNodes(rest []string, want int, names string, k int) (*lab.Lab, []int, []string, error) {
	pos, err := c.args(rest, want, names)
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := c.open()
	if err != nil {
		return nil, nil, nil, err
	}
	nodes := make([]int, k)
	for j := range nodes {
		if nodes[j], err = c.nodeArg(l, pos[j]); err != nil {
			return nil, nil, nil, err
		}
	}
	return l, nodes, pos, nil
}

func (c *command) nodeArg(l *lab.Lab, s string) (int, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(s, "node"))
	if err != nil {
		return 0, usagef("%q is not a node index", s)
	}
	if _, err := l.Node(i); err != nil {
		return 0, err
	}
	return i, nil
}

// parseShares parses "70,10,10,10".
func parseShares(s string, n int) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, usagef("--hashrate %q lists %d shares for %d nodes", s, len(parts), n)
	}
	out := make([]float64, n)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || v < 0 {
			return nil, usagef("--hashrate: %q is not a percentage", p)
		}
		out[i] = v
	}
	return out, nil
}

func (c *command) up(ctx context.Context, rest []string) error {
	n := c.fs.Int("n", 4, "number of nodes")
	seed := c.fs.String("seed", "quarry", "seed of the deterministic identities and keys")
	shares := c.fs.String("hashrate", "", "percent shares of the total hash rate per node, e.g. 70,10,10,10 (default: equal)")
	total := c.fs.Float64("total-hashrate", 2e6, "total hash rate of the devnet in H/s, shared by --hashrate")
	network := c.fs.String("network", "dev", "network: dev or regtest (regtest does not mine unless --mine)")
	mine := c.fs.Bool("mine", true, "mine (default true on dev, false on regtest)")
	base := c.fs.Int("base-port", 0, "node i uses ports BASE+10i (p2p), +1 (rpc), +2 (metrics); 0 picks free ports")
	level := c.fs.String("log-level", "info", "quarryd log level")
	timeout := c.fs.Duration("timeout", 60*time.Second, "how long to wait for RPC and peers")
	topology := c.fs.String("topology", "mesh", "mesh, ring, line, star, random:K (seeded by --seed) or a TOML/YAML edge-list file")
	shaped := c.fs.Bool("shaped", false, "route every link through a proxy even without link conditions (for link and partition --at links)")
	delay := c.fs.String("link-delay", "", "one-way delay of every link, e.g. 100ms or 100ms±20ms")
	bandwidth := c.fs.String("link-bandwidth", "", "bandwidth of every link per direction, e.g. 1mbit")
	blockTime := c.fs.Duration("block-time", 0, "run a dev-derived network with this block interval (own chain id and genesis), e.g. 1s")
	var advs, clocks specList
	c.fs.Var(&advs, "adversary", "NODE=MODE: run node NODE as an adversary (selfish, withhold[:DEPTH], equivocate, stall, lie-work, junk; repeatable)")
	c.fs.Var(&clocks, "clock-offset", "NODE=DURATION: run node NODE's clock ahead (3h) or behind (-3h) (repeatable)")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	var d, j time.Duration
	var bw int64
	roles, err := parseRoles(advs, clocks, *n)
	if err != nil {
		return err
	}
	if *delay != "" {
		if d, j, err = lab.ParseDelay(*delay); err != nil {
			return usagef("--link-delay: %v", err)
		}
	}
	if *bandwidth != "" {
		if bw, err = lab.ParseBandwidth(*bandwidth); err != nil {
			return usagef("--link-bandwidth: %v", err)
		}
	}
	devnet, _ := os.Executable()
	mineSet := false
	c.fs.Visit(func(f *flag.Flag) { mineSet = mineSet || f.Name == "mine" })
	if !mineSet && *network == "regtest" {
		*mine = false
	}
	sh, err := parseShares(*shares, *n)
	if err != nil {
		return err
	}
	opts := lab.UpOptions{N: *n, Seed: *seed, Network: *network, Shares: sh, TotalHashrate: *total, Mine: *mine,
		BasePort: *base, LogLevel: *level, ReadyTimeout: *timeout,
		BlockTime: *blockTime, Topology: *topology, Shaped: *shaped, LinkDelay: d, LinkJitter: j, LinkBandwidth: bw, Devnet: devnet, Roles: roles}
	l, err := lab.CreateLab(c.g.dir, c.g.bin, opts)
	if err != nil {
		return err
	}
	l.Out = c.stdout // one line per node started: what `up` did
	start := time.Now()
	if err := l.Up(ctx, opts); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "devnet up: %d %s nodes (%s, %d links%s) in %s, all connected (%s)\n", l.N(), l.State.Network,
		l.State.Topology, len(l.State.Links), map[bool]string{true: ", shaped", false: ""}[l.State.Shaped], l.Dir, time.Since(start).Round(time.Millisecond))
	return nil
}

func (c *command) status(ctx context.Context, rest []string) error {
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	l.PrintStatus(ctx, c.stdout, time.Now())
	return nil
}

func (c *command) watch(ctx context.Context, rest []string) error {
	once := c.fs.Bool("once", false, "print one frame and exit")
	interval := c.fs.Duration("interval", time.Second, "refresh interval")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	return l.Watch(ctx, c.stdout, *interval, *once)
}

func (c *command) web(ctx context.Context, rest []string) error {
	listen := c.fs.String("listen", web.DefaultListen, "host:port of the page (loopback unless --allow-remote)")
	remote := c.fs.Bool("allow-remote", false, "serve the page (and its controls) on a non-loopback address")
	window := c.fs.Int("window", web.DefaultWindow, "number of heights drawn")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	if _, err := c.open(); err != nil {
		return err
	}
	srv, err := web.New(web.Config{Dir: c.g.dir, Bin: c.g.bin, Listen: *listen, AllowRemote: *remote, Window: *window})
	if err != nil {
		return usageError{err.Error()}
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
		fmt.Fprintf(c.stdout, "lab page: http://%s/ (Ctrl-C stops)\n", srv.Addr())
		return <-errc
	case err := <-errc:
		return err
	}
}

func (c *command) partition(ctx context.Context, rest []string) error {
	at := c.fs.String("at", lab.PartitionGater, "where to split: gater (each node's RPC partition) or links (cut the links in the proxies)")
	pos, err := c.args(rest, -1, "groups")
	if err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	groups, err := lab.ParseGroups(pos, l.N())
	if err != nil {
		return usagef("%v", err)
	}
	if *at != lab.PartitionGater && *at != lab.PartitionLinks {
		return usagef("--at %q: want gater or links", *at)
	}
	if err := l.PartitionAt(ctx, groups, *at); err != nil {
		return err
	}
	var names []string
	for _, g := range groups {
		names = append(names, lab.GroupName(g))
	}
	fmt.Fprintf(c.stdout, "partitioned at the %s: %s\n", *at, strings.Join(names, " | "))
	if cut := l.State.Partition.Cut; len(cut) > 0 {
		fmt.Fprintf(c.stdout, "links cut: %s\n", strings.Join(cut, " "))
	}
	return nil
}

func (c *command) heal(ctx context.Context, rest []string) error {
	report := c.fs.Bool("report", false, "wait for agreement, then print the heal report")
	timeout := c.fs.Duration("timeout", 2*time.Minute, "how long --report waits for agreement")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	rec, err := l.Heal(ctx, lab.HealOptions{Wait: *report, Timeout: *timeout})
	if err != nil {
		return err
	}
	if !*report {
		fmt.Fprintln(c.stdout, "healed")
		return nil
	}
	fmt.Fprintf(c.stdout, "healed; all nodes agree after %s\n", rec.Agreement.Round(time.Millisecond))
	r, err := l.BuildReport(ctx)
	if err != nil {
		return err
	}
	r.Print(c.stdout)
	return nil
}

func (c *command) report(ctx context.Context, rest []string) error {
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	r, err := l.BuildReport(ctx)
	if err != nil {
		return err
	}
	r.Print(c.stdout)
	return nil
}

func (c *command) tx(ctx context.Context, rest []string) error {
	fee := c.fs.String("fee", "0.0001", "fee in coins")
	l, nodes, pos, err := c.labNodes(rest, 3, "FROM TO AMOUNT", 2)
	if err != nil {
		return err
	}
	from, to := nodes[0], nodes[1]
	amt, err := rpcjson.ParseAmount(pos[2])
	if err != nil || amt <= 0 {
		return usagef("AMOUNT %q: want a positive number of coins", pos[2])
	}
	f, err := rpcjson.ParseAmount(*fee)
	if err != nil || f <= 0 {
		return usagef("--fee %q: want a positive number of coins", *fee)
	}
	tx, err := l.Send(ctx, lab.Transfer{From: from, To: l.State.Nodes[to].Address, Amount: uint64(amt), Fee: uint64(f), Via: from})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s  node%d -> node%d  %s coins, fee %s, nonce %d\n", tx.TxID(), from, to, amt, f, tx.Nonce)
	return nil
}

func (c *command) doublespend(ctx context.Context, rest []string) error {
	from := c.fs.Int("from", -1, "node whose key spends (default: A)")
	amount := c.fs.String("amount", "1", "amount of the first spend in coins (the second pays twice as much)")
	l, nodes, _, err := c.labNodes(rest, 2, "A B", 2)
	if err != nil {
		return err
	}
	a, b := nodes[0], nodes[1]
	amt, err := rpcjson.ParseAmount(*amount)
	if err != nil || amt <= 0 {
		return usagef("--amount %q: want a positive number of coins", *amount)
	}
	opts := lab.DoubleSpendOptions{A: a, B: b, Amount: uint64(amt)}
	if *from >= 0 {
		opts.Sender = from
	}
	rec, err := l.DoubleSpend(ctx, opts)
	if err != nil {
		return err
	}
	for k := 0; k < 2; k++ {
		fmt.Fprintf(c.stdout, "spend %d: %s  %s coins -> sink%d (%s) via node%d\n", k+1, rec.TxIDs[k], lab.FormatCoins(rec.Amounts[k]), k, rec.To[k], rec.Nodes[k])
	}
	fmt.Fprintf(c.stdout, "both spend nonce %d of node%d's key %s\n", rec.Nonce, rec.Sender, l.State.Nodes[rec.Sender].Address)
	return nil
}

func (c *command) network(ctx context.Context, on bool, rest []string) error {
	l, nodes, _, err := c.labNodes(rest, 1, "NODE", 1)
	if err != nil {
		return err
	}
	i := nodes[0]
	if err := l.SetNetworkActive(ctx, i, on); err != nil {
		return err
	}
	state := "off"
	if on {
		state = "on"
	}
	fmt.Fprintf(c.stdout, "node%d networking %s\n", i, state)
	return nil
}

func (c *command) generate(ctx context.Context, rest []string) error {
	l, nodes, pos, err := c.labNodes(rest, 2, "NODE N", 1)
	if err != nil {
		return err
	}
	i := nodes[0]
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 {
		return usagef("N %q: want a positive number of blocks", pos[1])
	}
	hashes, err := l.Generate(ctx, i, n)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "node%d mined %d blocks, last %s\n", i, len(hashes), hashes[len(hashes)-1])
	return nil
}

func (c *command) logs(ctx context.Context, rest []string) error {
	n := c.fs.Int("n", 0, "print only the last n lines (0: all)")
	follow := c.fs.Bool("f", false, "follow the log until Ctrl-C")
	l, nodes, _, err := c.labNodes(rest, 1, "NODE", 1)
	if err != nil {
		return err
	}
	return l.Logs(ctx, nodes[0], *n, *follow, c.stdout)
}

func (c *command) down(rest []string) error {
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if err != nil {
		return err
	}
	l.Out = c.stdout // one line per node stopped
	if err := l.Down(15 * time.Second); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "devnet down")
	return nil
}

func (c *command) clean(rest []string) error {
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	l, err := c.open()
	if errors.Is(err, lab.ErrNoLab) {
		fmt.Fprintln(c.stdout, "nothing to clean")
		return nil
	}
	if err != nil {
		return err
	}
	l.Out = c.stdout // one line per node stopped
	if err := l.Down(15 * time.Second); err != nil {
		return err
	}
	if err := os.RemoveAll(l.Dir); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed %s\n", l.Dir)
	return nil
}

func (c *command) identities(rest []string) error {
	n := c.fs.Int("n", 4, "number of nodes")
	seed := c.fs.String("seed", "quarry", "seed of the deterministic identities")
	network := c.fs.String("network", "dev", "network (address prefix)")
	out := c.fs.String("out", "", "write OUT/node<i>/p2p.key (mode 0600) for each node")
	dns := c.fs.String("dns", "", `bootnode host:port pattern, e.g. "node%d:27733" for /dns4/node0/tcp/27733/p2p/<id>`)
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	ids, err := lab.Identities(*seed, *network, *n)
	if err != nil {
		return err
	}
	for _, id := range ids {
		line := fmt.Sprintf("node%d  peer %s  miner %s", id.Index, id.PeerID, id.Address)
		if *dns != "" {
			hp := fmt.Sprintf(*dns, id.Index)
			host, port, ok := strings.Cut(hp, ":")
			if !ok {
				return usagef("--dns %q: want host:port with %%d for the node index", *dns)
			}
			line += fmt.Sprintf("  bootnode /dns4/%s/tcp/%s/p2p/%s", host, port, id.PeerID)
		}
		fmt.Fprintln(c.stdout, line)
		if *out != "" {
			if err := lab.WriteIdentity(filepath.Join(*out, "node"+strconv.Itoa(id.Index)), *seed, id.Index); err != nil {
				return err
			}
		}
	}
	return nil
}

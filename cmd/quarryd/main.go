// Command quarryd runs a Quarry node: it keeps the chain, talks to peers over
// libp2p, mines if asked, and serves JSON-RPC and Prometheus metrics.
//
//	quarryd                       # a dev-network node in ~/.quarry/dev
//	quarryd --mine                # ... that also mines on every core
//	quarryd --network regtest     # blocks on demand via generatetoaddress
//	quarryd bench --duration 10s  # miner benchmark
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
	"github.com/quarrychain/quarry/node"
	"github.com/quarrychain/quarry/node/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "bench" {
		return runBench(args[1:], stdout, stderr)
	}
	// The usage goes to stdout: it is what --help asked for.
	cfg, err := parseConfig(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintln(stdout, buildinfo.Read().String("quarryd"))
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "quarryd: %v (see quarryd --help)\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	node.ReserveRPCProc()
	n, err := node.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "quarryd: %v\n", err)
		return 1
	}
	if err := n.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "quarryd: %v\n", err)
		return 1
	}
	return 0
}

// listFlag is a repeatable, comma-separable flag bound to a []string. The
// first Set replaces the bound value (a list from the config file), later
// ones append; an empty value gives an empty list.
type listFlag struct {
	p   *[]string
	set bool
}

func (l *listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		*l.p, l.set = nil, true
	}
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l.p = append(*l.p, part)
		}
	}
	return nil
}

// errVersion is parseConfig's answer to --version.
var errVersion = errors.New("version requested")

// bindFlags defines the node's flags on fs, each bound to the node.Config
// field with the same TOML key, and stores each flag's default in c. A new
// setting is a field of node.Config (with its toml tag) and one line here;
// parseConfig layers it without further code.
func bindFlags(fs *flag.FlagSet, c *node.Config) {
	fs.StringVar(&c.Network, "network", "dev", "network: main, test, dev or regtest")
	fs.DurationVar(&c.BlockTime, "block-time", 0, "run a dev-derived network with this target block interval (own chain id and genesis; dev only, e.g. 1s for lab experiments)")
	fs.StringVar(&c.DataDir, "datadir", "", "data directory (default ~/.quarry/<network>)")
	fs.StringVar(&c.P2PListen, "p2p-listen", "", "p2p host:port, TCP and QUIC (default 0.0.0.0:<network p2p port>)")
	fs.Var(&listFlag{p: &c.Bootnodes}, "bootnodes", "comma-separated libp2p multiaddrs ending in /p2p/<peer-id> (repeatable)")
	fs.BoolVar(&c.P2PNoQUIC, "p2p-no-quic", false, "listen and dial on TCP only (no QUIC)")
	fs.Var(&listFlag{p: &c.P2PAnnounce}, "p2p-announce", `announce only these multiaddrs to peers (comma-separated; "none" announces no address)`)
	fs.BoolVar(&c.NoMDNS, "no-mdns", false, "disable mDNS discovery on the LAN")
	fs.BoolVar(&c.NoP2P, "no-p2p", false, "run without any networking")
	fs.BoolVar(&c.NoRebroadcast, "no-rebroadcast", false, "do not republish the node's own unconfirmed transactions (wallet payments, sendrawtransaction) while they wait in the mempool; each is gossiped once")
	fs.StringVar(&c.RPCListen, "rpc-listen", "", `JSON-RPC host:port (default 127.0.0.1:<network rpc port>; "off" disables)`)
	fs.BoolVar(&c.RPCAllowRemote, "rpc-allow-remote", false, "allow --rpc-listen on a non-loopback address (authentication still applies: the cookie, or --rpc-user/--rpc-password)")
	fs.StringVar(&c.RPCUser, "rpc-user", "", "RPC user name (default: cookie file auth)")
	fs.StringVar(&c.RPCPassword, "rpc-password", "", "RPC password")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "", "Prometheus metrics host:port (default off)")
	fs.BoolVar(&c.Mine, "mine", false, "mine blocks")
	fs.IntVar(&c.MinerThreads, "miner-threads", 0, "mining threads (0 = one per core)")
	fs.StringVar(&c.MinerAddress, "miner-address", "", "address paid by mined blocks (default: the node wallet)")
	fs.Float64Var(&c.MinerHashrateLimit, "miner-hashrate-limit", 0, "cap the node's hash rate in H/s (0 = unlimited; devnets use it to share one machine)")
	fs.StringVar(&c.StratumListen, "stratum-listen", "", "stratum v1 mining server host:port for external miners (default off; loopback only without --stratum-allow-remote)")
	fs.BoolVar(&c.StratumAllowRemote, "stratum-allow-remote", false, "allow --stratum-listen on a non-loopback address (other machines mine for this node)")
	fs.StringVar(&c.StratumPassword, "stratum-password", "", "password every stratum worker must give (default: none)")
	fs.StringVar(&c.StratumDefaultAddress, "stratum-default-address", "", `address paid when a stratum worker name is not ADDRESS[.worker] (default: the miner address; "none" refuses such names)`)
	fs.DurationVar(&c.ClockOffset, "clock-offset", 0, "run the node's clock this far ahead (e.g. 3h) or behind (-3h): lab experiments, dev and regtest only")
	fs.StringVar(&c.Adversary, "adversary", "", "dishonest behaviour for lab experiments: selfish, withhold, equivocate (withheld or twin blocks, each twin to half of the peers), stall, lie-work, junk (hostile peer); dev and regtest only")
	fs.IntVar(&c.WithholdDepth, "withhold-depth", 0, "with --adversary withhold: release the private branch once it is this long and longer than the public one (default 6)")
	fs.IntVar(&c.WithholdGiveUp, "withhold-give-up", 0, "with --adversary withhold: abandon the private branch when the public chain leads by this many blocks (default 10)")
	fs.BoolVar(&c.WithholdSpend, "withhold-spend", false, "with --adversary withhold: mine honestly until the wallet pays someone (sendtoaddress), then race a private branch carrying a conflicting spend (the whitepaper's double spend)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&c.LogSummaryInterval, "log-summary-interval", node.DefaultSummaryInterval, "period of the one-line status log (height, peers, hash rate, mempool, sync ETA); negative turns it off")
}

// newFlagSet returns quarryd's flag set bound to c, configPath and
// version. It prints nothing itself: parseConfig writes the usage for
// --help only, and the caller prints an error once.
func newFlagSet(c *node.Config, configPath *string, version *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("quarryd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(configPath, "config", "", "TOML config file with the same keys as these flags")
	fs.BoolVar(version, "version", false, "print the version and commit, and exit")
	bindFlags(fs, c)
	return fs
}

// printUsage writes quarryd's --help text.
func printUsage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `Usage: quarryd [flags]
       quarryd bench [--duration 10s] [--threads N] [--json]

quarryd runs a Quarry proof-of-work node. With no flags it joins the dev
network (blocks every few seconds) with its data in ~/.quarry/dev, JSON-RPC on
127.0.0.1 only (auth by the cookie file in the data dir) and LAN discovery on.

Flags (a TOML file given with --config sets the same keys; flags win):
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, `
Examples:
  quarryd --mine                              mine on every core (dev network)
  quarryd --network regtest --no-mdns         private chain, blocks on demand
  quarryctl --network regtest generatetoaddress 10 <address>
`)
}

// parseConfig reads flags and the optional TOML file (--config). Values are
// layered: the flags' defaults, then the file, then the flags given on the
// command line, wherever --config appears among them. The usage is written
// to usageOut for --help (flag.ErrHelp); other errors are returned, for the
// caller to print once.
//
// The arguments are parsed twice: first on their own, to find --config and
// to report flag errors, --help and --version; then onto the config that
// holds the defaults and the file's values, where only the flags given are
// set.
func parseConfig(args []string, usageOut io.Writer) (node.Config, error) {
	var configPath string
	var version bool
	fs := newFlagSet(new(node.Config), &configPath, &version)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(fs, usageOut)
		}
		return node.Config{}, err
	}
	if version {
		return node.Config{}, errVersion
	}
	if fs.NArg() > 0 {
		return node.Config{}, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}

	var cfg node.Config
	layered := newFlagSet(&cfg, new(string), new(bool)) // stores the defaults in cfg
	if configPath != "" {
		md, err := toml.DecodeFile(configPath, &cfg)
		if err != nil {
			return node.Config{}, fmt.Errorf("config file %s: %w", configPath, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return node.Config{}, fmt.Errorf("config file %s: unknown key %q", configPath, undec[0].String())
		}
	}
	if err := layered.Parse(args); err != nil {
		return node.Config{}, err // not reached: the first pass accepted args
	}
	return cfg, nil
}

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

// stringList is a repeatable, comma-separable flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*s = append(*s, part)
		}
	}
	return nil
}

// errVersion is parseConfig's answer to --version.
var errVersion = errors.New("version requested")

// parseConfig reads flags and the optional TOML file (--config). Values are
// layered: built-in defaults, then the file, then flags that were given.
// The usage is written to stderr only for --help (flag.ErrHelp); other
// flag errors are returned, for the caller to print once.
func parseConfig(args []string, stderr io.Writer) (node.Config, error) {
	var flags node.Config
	var version bool
	var configPath string
	var bootnodes stringList
	fs := flag.NewFlagSet("quarryd", flag.ContinueOnError)
	// The flag package would print the usage on every error; it is
	// printed here for --help only, and errors once by the caller.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	usage := func() {
		fs.SetOutput(stderr)
		defer fs.SetOutput(io.Discard)
		fmt.Fprint(stderr, `Usage: quarryd [flags]
       quarryd bench [--duration 10s] [--threads N] [--json]

quarryd runs a Quarry proof-of-work node. With no flags it joins the dev
network (blocks every few seconds) with its data in ~/.quarry/dev, JSON-RPC on
127.0.0.1 only (auth by the cookie file in the data dir) and LAN discovery on.

Flags (a TOML file given with --config sets the same keys; flags win):
`)
		fs.PrintDefaults()
		fmt.Fprint(stderr, `
Examples:
  quarryd --mine                              mine on every core (dev network)
  quarryd --network regtest --no-mdns         private chain, blocks on demand
  quarryd --stratum-listen 127.0.0.1:3333     serve stratum v1 miners (cpuminer -a sha256d)
  quarryctl --network regtest generatetoaddress 10 <address>
`)
	}
	fs.StringVar(&configPath, "config", "", "TOML config file with the same keys as these flags")
	fs.StringVar(&flags.Network, "network", "dev", "network: main, test, dev or regtest")
	fs.StringVar(&flags.DataDir, "datadir", "", "data directory (default ~/.quarry/<network>)")
	fs.StringVar(&flags.P2PListen, "p2p-listen", "", "p2p host:port, TCP and QUIC (default 0.0.0.0:<network p2p port>)")
	fs.Var(&bootnodes, "bootnodes", "comma-separated libp2p multiaddrs ending in /p2p/<peer-id> (repeatable)")
	fs.BoolVar(&flags.NoMDNS, "no-mdns", false, "disable mDNS discovery on the LAN")
	fs.BoolVar(&flags.NoP2P, "no-p2p", false, "run without any networking")
	fs.StringVar(&flags.RPCListen, "rpc-listen", "", `JSON-RPC host:port (default 127.0.0.1:<network rpc port>; "off" disables)`)
	fs.BoolVar(&flags.RPCAllowRemote, "rpc-allow-remote", false, "allow --rpc-listen on a non-loopback address (authentication still applies: the cookie, or --rpc-user/--rpc-password)")
	fs.StringVar(&flags.RPCUser, "rpc-user", "", "RPC user name (default: cookie file auth)")
	fs.StringVar(&flags.RPCPassword, "rpc-password", "", "RPC password")
	fs.StringVar(&flags.MetricsListen, "metrics-listen", "", "Prometheus metrics host:port (default off)")
	fs.BoolVar(&flags.Mine, "mine", false, "mine blocks")
	fs.IntVar(&flags.MinerThreads, "miner-threads", 0, "mining threads (0 = one per core)")
	fs.StringVar(&flags.MinerAddress, "miner-address", "", "address paid by mined blocks (default: the node wallet)")
	fs.Float64Var(&flags.MinerHashrateLimit, "miner-hashrate-limit", 0, "cap the node's hash rate in H/s (0 = unlimited; devnets use it to share one machine)")
	fs.StringVar(&flags.StratumListen, "stratum-listen", "", "stratum v1 mining server host:port for external miners (default off; loopback only without --stratum-allow-remote)")
	fs.BoolVar(&flags.StratumAllowRemote, "stratum-allow-remote", false, "allow --stratum-listen on a non-loopback address (other machines mine for this node)")
	fs.StringVar(&flags.StratumPassword, "stratum-password", "", "password every stratum worker must give (default: none)")
	fs.StringVar(&flags.StratumDefaultAddress, "stratum-default-address", "", `address paid when a stratum worker name is not ADDRESS[.worker] (default: the miner address; "none" refuses such names)`)
	fs.StringVar(&flags.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.DurationVar(&flags.LogSummaryInterval, "log-summary-interval", node.DefaultSummaryInterval, "period of the one-line status log (height, peers, hash rate, mempool, sync ETA); negative turns it off")
	fs.BoolVar(&version, "version", false, "print the version and commit, and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return node.Config{}, err
	}
	if version {
		return node.Config{}, errVersion
	}
	if fs.NArg() > 0 {
		return node.Config{}, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	flags.Bootnodes = bootnodes

	var cfg node.Config
	if configPath != "" {
		md, err := toml.DecodeFile(configPath, &cfg)
		if err != nil {
			return node.Config{}, fmt.Errorf("config file %s: %w", configPath, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return node.Config{}, fmt.Errorf("config file %s: unknown key %q", configPath, undec[0].String())
		}
	}
	// Flags given on the command line override the file.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "network":
			cfg.Network = flags.Network
		case "datadir":
			cfg.DataDir = flags.DataDir
		case "p2p-listen":
			cfg.P2PListen = flags.P2PListen
		case "bootnodes":
			cfg.Bootnodes = flags.Bootnodes
		case "no-mdns":
			cfg.NoMDNS = flags.NoMDNS
		case "no-p2p":
			cfg.NoP2P = flags.NoP2P
		case "rpc-listen":
			cfg.RPCListen = flags.RPCListen
		case "rpc-allow-remote":
			cfg.RPCAllowRemote = flags.RPCAllowRemote
		case "rpc-user":
			cfg.RPCUser = flags.RPCUser
		case "rpc-password":
			cfg.RPCPassword = flags.RPCPassword
		case "metrics-listen":
			cfg.MetricsListen = flags.MetricsListen
		case "mine":
			cfg.Mine = flags.Mine
		case "miner-threads":
			cfg.MinerThreads = flags.MinerThreads
		case "miner-address":
			cfg.MinerAddress = flags.MinerAddress
		case "miner-hashrate-limit":
			cfg.MinerHashrateLimit = flags.MinerHashrateLimit
		case "stratum-listen":
			cfg.StratumListen = flags.StratumListen
		case "stratum-allow-remote":
			cfg.StratumAllowRemote = flags.StratumAllowRemote
		case "stratum-password":
			cfg.StratumPassword = flags.StratumPassword
		case "stratum-default-address":
			cfg.StratumDefaultAddress = flags.StratumDefaultAddress
		case "log-level":
			cfg.LogLevel = flags.LogLevel
		case "log-summary-interval":
			cfg.LogSummaryInterval = flags.LogSummaryInterval
		}
	})
	return cfg, nil
}

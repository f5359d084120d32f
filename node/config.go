package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/leveldbstore"
	"github.com/quarrychain/quarry/p2p"
)

// Config is everything a node needs. quarryd fills it from flags and a TOML
// file (same keys, flags win); tests fill it directly. The zero value of an
// optional field means "the network's default".
type Config struct {
	// Network is main, test, dev or regtest (default dev).
	Network string `toml:"network"`
	// BlockTime, when set, runs a dev-derived network with this target
	// block interval (chain.DevParamsWithBlockTime: its own chain id and
	// genesis). Only with network dev.
	BlockTime time.Duration `toml:"block-time"`
	// DataDir holds the chain database, p2p identity, wallet and RPC cookie
	// (default ~/.quarry/<network>).
	DataDir string `toml:"datadir"`

	// P2PListen is host:port for TCP and QUIC (default 0.0.0.0:<network port>).
	P2PListen string `toml:"p2p-listen"`
	// Bootnodes are libp2p multiaddrs ending in /p2p/<peer-id>.
	Bootnodes []string `toml:"bootnodes"`
	// NoMDNS turns LAN discovery off.
	NoMDNS bool `toml:"no-mdns"`
	// P2PNoQUIC listens and dials on TCP only (the devnet lab's shaped
	// links pass every connection through a TCP proxy).
	P2PNoQUIC bool `toml:"p2p-no-quic"`
	// P2PAnnounce, when set, are the only addresses the node announces to
	// peers (multiaddrs); the single value "none" announces none, so
	// peers reach the node only at the addresses they were given.
	P2PAnnounce []string `toml:"p2p-announce"`
	// NoP2P runs without networking at all (tests, offline regtest).
	NoP2P bool `toml:"no-p2p"`
	// NoRebroadcast turns off the periodic republication of the node's
	// own unconfirmed transactions (wallet payments and
	// sendrawtransaction; see rebroadcast.go): each is then gossiped
	// once, when it is submitted.
	NoRebroadcast bool `toml:"no-rebroadcast"`

	// RPCListen is host:port of the JSON-RPC server (default 127.0.0.1:<network port>; "" keeps the default, "off" disables).
	RPCListen string `toml:"rpc-listen"`
	// RPCAllowRemote must be set to bind RPC to a non-loopback address.
	RPCAllowRemote bool   `toml:"rpc-allow-remote"`
	RPCUser        string `toml:"rpc-user"`
	RPCPassword    string `toml:"rpc-password"`

	// MetricsListen is host:port of the Prometheus endpoint ("" = off).
	MetricsListen string `toml:"metrics-listen"`

	// Mine starts mining at startup.
	Mine bool `toml:"mine"`
	// MinerThreads is the number of mining workers (0 = one per core).
	MinerThreads int `toml:"miner-threads"`
	// MinerAddress receives block rewards (default: the node wallet's address).
	MinerAddress string `toml:"miner-address"`
	// MinerHashrateLimit caps the node's total hash rate in H/s (0 = no cap).
	MinerHashrateLimit float64 `toml:"miner-hashrate-limit"`

	// StratumListen is host:port of the stratum v1 mining server ("" = off).
	StratumListen string `toml:"stratum-listen"`
	// StratumAllowRemote must be set to bind stratum to a non-loopback address.
	StratumAllowRemote bool `toml:"stratum-allow-remote"`
	// StratumPassword, if set, must be given by every mining.authorize.
	StratumPassword string `toml:"stratum-password"`
	// StratumDefaultAddress pays workers whose name is not an address:
	// "" = the miner address (--miner-address or the wallet's), "none" =
	// such names are refused (workers must authorize as ADDRESS[.worker]),
	// or an address.
	StratumDefaultAddress string `toml:"stratum-default-address"`

	// ClockOffset shifts the node's clock: every reading of local time that
	// matters to consensus (template timestamps, the chain's future-time
	// limit) is time.Now()+ClockOffset. It simulates a skewed clock in a
	// lab and is refused on the main and test networks.
	ClockOffset time.Duration `toml:"clock-offset"`
	// Adversary selects a dishonest behaviour for lab experiments (see
	// package node/adversary): "" (honest), selfish, withhold or
	// equivocate. Refused on the main and test networks.
	Adversary string `toml:"adversary"`
	// WithholdDepth is the length at which the withhold adversary releases
	// its private branch (it also releases as soon as the branch has more
	// work than the public chain and is at least this long).
	WithholdDepth int `toml:"withhold-depth"`
	// WithholdSpend makes the withhold adversary race only to reverse its
	// wallet's payments: it mines honestly until sendtoaddress pays
	// someone, then mines a private branch carrying a conflicting spend
	// from that moment's tip (the whitepaper's section 11 double spend).
	WithholdSpend bool `toml:"withhold-spend"`
	// WithholdGiveUp is how far the public chain may lead before the
	// withhold adversary abandons its branch (0: 10 blocks).
	WithholdGiveUp int `toml:"withhold-give-up"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log-level"`
	// LogSummaryInterval is the period of the one-line status summary
	// (height, peers, hash rate, mempool; progress and ETA while syncing).
	// 0 means DefaultSummaryInterval; a negative value turns it off.
	LogSummaryInterval time.Duration `toml:"log-summary-interval"`

	// Logger overrides the logger built from LogLevel (tests).
	Logger *slog.Logger `toml:"-"`
	// Registerer overrides the node's own metrics registry (tests).
	Registerer prometheus.Registerer `toml:"-"`
	// OpenStore opens the chain database in the given directory (default:
	// leveldbstore.Open). Tests inject an in-memory or fault-injecting
	// store; Run closes the store it returns.
	OpenStore func(dir string) (chain.Store, error) `toml:"-"`
}

// DefaultDataDir returns ~/.quarry/<network>.
func DefaultDataDir(network string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "."
	}
	return filepath.Join(home, ".quarry", network)
}

// resolved is a validated Config with defaults applied. resolve checks
// every value that can be checked without side effects, so that New
// rejects a bad configuration before Run creates anything in the data
// directory.
type resolved struct {
	Config
	params *chain.Params
	rpcOn  bool
	// now is the node's clock: time.Now shifted by ClockOffset.
	now func() time.Time
	// junkEvery, when positive, replaces the junk mode's period (tests).
	junkEvery time.Duration
	// rebroadcastNow and rebroadcastTick, when set, replace the
	// rebroadcaster's clock and round ticker; wrapTxPublisher, when set,
	// wraps the p2p node for every transaction publication (tests).
	rebroadcastNow  func() time.Time
	rebroadcastTick <-chan time.Time
	wrapTxPublisher func(txPublisher) txPublisher
}

func (c Config) resolve() (*resolved, error) {
	if c.Network == "" {
		c.Network = "dev"
	}
	p, err := chain.ParamsByName(c.Network)
	if err != nil {
		return nil, err
	}
	c.Network = p.Name
	if c.BlockTime != 0 {
		if p.Name != "dev" {
			return nil, fmt.Errorf("--block-time: only the dev network takes a block interval (the %s network's is fixed by consensus)", p.Name)
		}
		if p, err = chain.DevParamsWithBlockTime(c.BlockTime); err != nil {
			return nil, fmt.Errorf("--block-time: %w", err)
		}
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir(p.Name)
		if c.BlockTime != 0 {
			c.DataDir = DefaultDataDir(p.Name + "-" + c.BlockTime.String())
		}
	}
	if c.P2PListen == "" {
		c.P2PListen = net.JoinHostPort("0.0.0.0", strconv.Itoa(p.DefaultP2PPort))
	}
	r := &resolved{params: p, rpcOn: c.RPCListen != "off"}
	if c.RPCListen == "" || c.RPCListen == "off" {
		c.RPCListen = net.JoinHostPort("127.0.0.1", strconv.Itoa(p.DefaultRPCPort))
	}
	for name, addr := range map[string]string{"--p2p-listen": c.P2PListen, "--rpc-listen": c.RPCListen, "--metrics-listen": c.MetricsListen, "--stratum-listen": c.StratumListen} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("%s %q: want host:port (%v)", name, addr, err)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil, fmt.Errorf("%s %q: bad port", name, addr)
		}
	}
	// p2p.New would find these only after the data directory, its lock,
	// the database and the wallet exist; check them first.
	if err := p2p.CheckListenAddr(c.P2PListen); err != nil {
		return nil, fmt.Errorf("--p2p-listen: %w", err)
	}
	if err := p2p.CheckAnnounceAddrs(c.p2pAnnounce()); err != nil {
		return nil, fmt.Errorf("--p2p-announce: %w", err)
	}
	for _, b := range c.Bootnodes {
		if err := p2p.CheckPeerAddr(b); err != nil {
			return nil, fmt.Errorf("--bootnodes: %w", err)
		}
	}
	if r.rpcOn && !c.RPCAllowRemote {
		host, _, _ := net.SplitHostPort(c.RPCListen)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("--rpc-listen %s is not a loopback address: add --rpc-allow-remote (and set --rpc-user/--rpc-password) to expose RPC", c.RPCListen)
		}
	}
	if err := c.resolveAdversary(p, r); err != nil {
		return nil, err
	}
	if err := c.resolveStratum(p); err != nil {
		return nil, err
	}
	if (c.RPCUser == "") != (c.RPCPassword == "") {
		return nil, errors.New("--rpc-user and --rpc-password must be given together")
	}
	if c.MinerThreads < 0 {
		return nil, fmt.Errorf("--miner-threads %d: must be >= 0 (0 = one per core)", c.MinerThreads)
	}
	if c.MinerHashrateLimit < 0 {
		return nil, fmt.Errorf("--miner-hashrate-limit %v: must be >= 0", c.MinerHashrateLimit)
	}
	if c.MinerAddress != "" {
		if _, err := chain.DecodeAddress(c.MinerAddress, p); err != nil {
			return nil, fmt.Errorf("--miner-address: %w", err)
		}
	}
	if c.Logger == nil {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(orDefault(c.LogLevel, "info"))); err != nil {
			return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel)
		}
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	if c.OpenStore == nil {
		c.OpenStore = func(dir string) (chain.Store, error) { return leveldbstore.Open(dir) }
	}
	r.Config = c
	return r, nil
}

// p2pAnnounce returns P2PAnnounce as p2p.Config.Announce: nil when
// unset, empty for "none".
func (c Config) p2pAnnounce() []string {
	if len(c.P2PAnnounce) == 1 && c.P2PAnnounce[0] == "none" {
		return []string{}
	}
	return c.P2PAnnounce
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

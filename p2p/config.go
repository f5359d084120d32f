package p2p

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
)

// Chain is the part of the chain engine the networking layer uses. The real
// *chain.Chain satisfies it directly. Implementations must be safe for
// concurrent use: gossip validators and the sync loop call it concurrently.
type Chain interface {
	Params() *chain.Params
	Best() chain.Snapshot
	HaveBlock(chain.Hash) bool
	IsKnownInvalid(chain.Hash) bool
	ProcessBlock(*chain.Block) (chain.ProcessResult, error)
	// CheckBlock runs chain.CheckBlockSanity with the chain's parameters;
	// a block that passes is not checked again by ProcessBlock or
	// ProcessUnrequestedBlock (the chain keeps the record, see
	// chain.Chain.CheckBlock), so the sync checks blocks as they arrive,
	// off the goroutine that connects them.
	CheckBlock(*chain.Block) error
	// ProcessHeaders validates headers and keeps them as headers-only
	// entries (headers-first sync); BlockInfo then describes them with
	// HaveData false.
	ProcessHeaders([]chain.Header) error
	// ProcessUnrequestedBlock is ProcessBlock for gossip: a block whose
	// branch would have less work than the tip is refused (ErrLowWork).
	ProcessUnrequestedBlock(*chain.Block) (chain.ProcessResult, error)
	// BlockInfo describes an indexed block (its cumulative work decides
	// whether a peer's headers prove more work than our tip).
	BlockInfo(chain.Hash) (chain.BlockInfo, bool)
	// BlockBytes returns a stored block's canonical encoding after the
	// chain's integrity checks (blocks are served without re-encoding).
	BlockBytes(chain.Hash) ([]byte, error)
	Locator() []chain.Hash
	HeadersAfter(locator []chain.Hash, stop chain.Hash, max int) []chain.Header
}

// Mempool is the part of the transaction pool the networking layer uses to
// hand over gossiped transactions. AcceptTx returns nil when the transaction
// was added. Its errors are classified as follows:
//
//   - an error matching ErrTxKnown (errors.Is): a duplicate, ignored;
//   - an error matching ErrTxInvalid, or a *chain.RuleError of a context-free
//     kind (bad signature, wrong chain id, malformed ...): provably invalid,
//     rejected, and the relaying peer is penalised;
//   - anything else (nonce gap, balance, fee policy, pool full): ignored
//     without penalty, because it depends on this node's state.
//
// Implementations must be safe for concurrent use.
type Mempool interface {
	AcceptTx(tx *chain.Tx) error
}

// Config configures a Node. The zero value of every optional field selects
// the default documented next to it.
type Config struct {
	// Params are the network's parameters. Nil means Chain.Params().
	Params *chain.Params
	// Chain is the chain engine. Required.
	Chain Chain
	// Mempool receives gossiped transactions. Nil relays transactions that
	// pass the context-free checks without keeping them.
	Mempool Mempool

	// DataDir holds the node identity key (file "p2p.key", mode 0600).
	// Empty means an ephemeral key (tests).
	DataDir string
	// ListenAddr is "host:port" with an IP literal as host (empty host:
	// all IPv4 interfaces); TCP and QUIC-v1 listen on the same port.
	// Port 0 picks free ports (Addrs reports them). Empty means
	// "0.0.0.0:<Params.DefaultP2PPort>".
	ListenAddr string
	// Bootnodes are multiaddrs ending in /p2p/<peer-id>; they are dialled at
	// start, redialled with backoff whenever disconnected and protected in
	// the connection manager.
	Bootnodes []string
	// MDNS enables LAN discovery by multicast DNS.
	MDNS bool
	// NoQUIC listens and dials on TCP only (no QUIC transport), so that
	// every connection can pass through a TCP proxy (the devnet lab's
	// shaped links).
	NoQUIC bool
	// Announce, when not nil, are the only addresses the host announces
	// (identify, Addrs): multiaddrs such as /ip4/1.2.3.4/tcp/7733. An
	// empty non-nil list announces none, so peers learn no direct
	// address and reach the node only through the addresses they were
	// given (the lab's proxies). Nil announces the listen addresses.
	Announce []string

	// BanDuration is how long a misbehaving peer stays banned. Default 1h.
	BanDuration time.Duration
	// StatusInterval is how often the status of every peer is requested.
	// Default 5s.
	StatusInterval time.Duration
	// RequestTimeout bounds every request/response stream. Default 20s.
	RequestTimeout time.Duration
	// RedialMin and RedialMax bound the backoff between redials of a known
	// peer. Defaults 1s and 1m.
	RedialMin, RedialMax time.Duration
	// LowPeers and HighPeers are the connection manager's watermarks.
	// Defaults 32 and 96.
	LowPeers, HighPeers int

	// Logger receives one line per event. Nil discards.
	Logger *slog.Logger
	// Registerer receives the package's metrics. Nil leaves them unregistered.
	Registerer prometheus.Registerer
	// Now is the clock (ban expiry, backoff, peer info). Nil means time.Now.
	Now func() time.Time
}

// Defaults.
const (
	DefaultBanDuration    = time.Hour
	DefaultStatusInterval = 5 * time.Second
	DefaultRequestTimeout = 20 * time.Second
	DefaultRedialMin      = time.Second
	DefaultRedialMax      = time.Minute
	DefaultLowPeers       = 32
	DefaultHighPeers      = 96
)

// withDefaults returns a copy of c with defaults filled in, or an error.
func (c Config) withDefaults() (Config, error) {
	if c.Chain == nil {
		return c, newErr(ErrBadConfig, "Chain is required")
	}
	if c.Params == nil {
		c.Params = c.Chain.Params()
	}
	if c.Params == nil || c.Params.GenesisBlock == nil {
		return c, newErr(ErrBadConfig, "Params without a genesis block")
	}
	if c.BanDuration <= 0 {
		c.BanDuration = DefaultBanDuration
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = DefaultStatusInterval
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.RedialMin <= 0 {
		c.RedialMin = DefaultRedialMin
	}
	if c.RedialMax < c.RedialMin {
		c.RedialMax = max(DefaultRedialMax, c.RedialMin)
	}
	if c.LowPeers <= 0 {
		c.LowPeers = DefaultLowPeers
	}
	if c.HighPeers <= c.LowPeers {
		c.HighPeers = max(DefaultHighPeers, c.LowPeers+1)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

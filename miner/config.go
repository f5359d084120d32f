package miner

import (
	"io"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner/kernel"
)

// ChainView is the view of the chain the miner builds on. *chain.Chain
// satisfies it. Implementations must be safe for concurrent use and Best
// must be cheap (it is read once per batch by GenerateBlocks and on every
// poll).
type ChainView interface {
	// Params returns the network's consensus parameters.
	Params() *chain.Params
	// Best returns the current tip: hash, height, median time past and the
	// bits its child must carry (NextBits).
	Best() chain.Snapshot
}

// TxSource supplies the transactions of a template, usually the mempool
// (through an adaptor in node). Implementations must be safe for concurrent
// use.
type TxSource interface {
	// SelectForBlock returns transactions, in block order, that are valid
	// on top of the state after block parent, at most maxBytes serialized
	// bytes in total. A source whose own view is not yet at parent (it has
	// not processed the new tip) returns nil: the miner then mines a
	// coinbase-only block and rebuilds when TipChanged is called again.
	SelectForBlock(parent chain.Hash, maxBytes int) []*chain.Tx
}

// TxSourceFunc adapts a function to TxSource.
type TxSourceFunc func(parent chain.Hash, maxBytes int) []*chain.Tx

// SelectForBlock calls f.
func (f TxSourceFunc) SelectForBlock(parent chain.Hash, maxBytes int) []*chain.Tx {
	return f(parent, maxBytes)
}

// Submitter receives mined blocks. The node routes them through the same
// ProcessBlock path as a peer's block and announces them over p2p.
// SubmitBlock must have processed the block when it returns (so that
// ChainView.Best reflects a connected block); it must be safe for
// concurrent use. A non-nil error means the block was not accepted.
type Submitter interface {
	SubmitBlock(b *chain.Block) error
}

// SubmitterFunc adapts a function to Submitter.
type SubmitterFunc func(b *chain.Block) error

// SubmitBlock calls f.
func (f SubmitterFunc) SubmitBlock(b *chain.Block) error { return f(b) }

// Defaults of Config.
const (
	DefaultBatchSize       = 1 << 14
	DefaultRefreshInterval = 5 * time.Second
	DefaultPollInterval    = 250 * time.Millisecond
	// MaxThreads bounds the number of mining workers (and so the number of
	// values of the worker metric label).
	MaxThreads = 1024
	// MinPacedBatch is the smallest batch used under a hash-rate limit.
	MinPacedBatch = 16
	// pacedBatchPeriod is the hashing time one paced batch stands for.
	pacedBatchPeriod = 5 * time.Millisecond
	// sampleInterval and rateSamples define the sliding window of the hash
	// rate: rateSamples-1 intervals.
	sampleInterval = time.Second
	rateSamples    = 11
)

// Config configures a Miner. Zero values select the defaults.
type Config struct {
	// Chain is the chain to mine on (required).
	Chain ChainView
	// Txs supplies transactions (nil: coinbase-only blocks).
	Txs TxSource
	// Submitter receives mined blocks (required).
	Submitter Submitter

	// PayTo receives subsidy and fees. The node passes --miner-address or
	// its wallet's default address. The zero address means "not set":
	// background mining and BuildTemplate then fail with ErrNoAddress
	// (GenerateBlocks takes its own address).
	PayTo chain.Address
	// CoinbaseMemo is copied into every coinbase (at most chain.MaxMemoSize
	// bytes); devnets use it to tag which node mined a block.
	CoinbaseMemo []byte

	// Generate starts background mining when Run starts (quarryd --mine).
	Generate bool
	// Threads is the number of workers (default runtime.NumCPU(), at most
	// MaxThreads).
	Threads int
	// Kernel is the nonce-search kernel (default kernel.Best()).
	Kernel kernel.Kernel
	// HashrateLimit caps the total hashes per second of background mining
	// (0: unlimited). GenerateBlocks is never paced.
	HashrateLimit float64
	// BatchSize is the number of nonces a worker hashes between two checks
	// for new work (default 16 Ki, about a millisecond). Under a hash-rate
	// limit batches are made smaller (about 5 ms of the limit, at least
	// MinPacedBatch) so pacing is smooth.
	BatchSize int
	// RefreshInterval is how often a template on an unchanged tip is
	// rebuilt to pick up new transactions and roll the time (default 5 s).
	RefreshInterval time.Duration
	// PollInterval is how often Chain.Best is polled as a fallback for a
	// missed TipChanged call (default 250 ms).
	PollInterval time.Duration
	// ExtraNonceSalt fills bytes 2..3 of every extra-nonce so that two
	// miners paying the same address never search the same space (0:
	// random).
	ExtraNonceSalt uint16

	// Now is the clock (default time.Now). Template times, template age,
	// pacing and switch latencies read it.
	Now func() time.Time
	// Logger receives one line per notable event (nil: discard).
	Logger *slog.Logger
	// Registerer receives the miner's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// normalize validates cfg and fills in defaults.
func (cfg Config) normalize() (Config, error) {
	if cfg.Chain == nil || cfg.Submitter == nil {
		return cfg, newErr(ErrBadConfig, "Chain and Submitter are required")
	}
	if cfg.Chain.Params() == nil {
		return cfg, newErr(ErrBadConfig, "chain has no network parameters")
	}
	if cfg.Generate && cfg.PayTo.IsZero() {
		return cfg, newErr(ErrNoAddress, "--mine needs --miner-address or a wallet key")
	}
	if len(cfg.CoinbaseMemo) > chain.MaxMemoSize {
		return cfg, newErr(ErrBadConfig, "coinbase memo is %d bytes, limit %d", len(cfg.CoinbaseMemo), chain.MaxMemoSize)
	}
	if cfg.Threads < 0 || cfg.BatchSize < 0 || cfg.HashrateLimit < 0 || cfg.RefreshInterval < 0 || cfg.PollInterval < 0 {
		return cfg, newErr(ErrBadConfig, "threads, batch size, hash-rate limit and intervals must not be negative")
	}
	if cfg.Threads == 0 {
		cfg.Threads = runtime.NumCPU()
	}
	cfg.Threads = min(cfg.Threads, MaxThreads)
	if cfg.Kernel == nil {
		cfg.Kernel = kernel.Best()
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cfg.CoinbaseMemo = append([]byte(nil), cfg.CoinbaseMemo...)
	return cfg, nil
}

// pacedBatch returns the batch size under a hash-rate limit: about
// pacedBatchPeriod worth of the limit, at least MinPacedBatch, at most batch.
func pacedBatch(limit float64, batch uint64) uint64 {
	n := uint64(limit * pacedBatchPeriod.Seconds())
	return min(batch, max(MinPacedBatch, n))
}

package mempool

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
)

// StateReader is the view of the chain the pool validates against. It must
// be safe for concurrent use; *chain.Chain satisfies it. The pool calls it
// while holding its own lock, so an implementation must never call back into
// the pool.
type StateReader interface {
	// Account returns the confirmed state of an address at the current tip
	// (the zero Account for an unknown address). Nonce is the next nonce
	// the chain expects from the address.
	Account(a chain.Address) chain.Account
	// Best returns the current tip.
	Best() chain.Snapshot
}

// Default limits (see Config).
const (
	DefaultMaxBytes        = 32 << 20
	DefaultMaxCount        = 50_000
	DefaultMaxPerSender    = 64
	DefaultMaxNonceGap     = 16
	DefaultMinFeeRate      = 1
	DefaultExpiry          = 24 * time.Hour
	DefaultReplaceBumpPct  = 10
	DefaultReplaceBumpRate = 1
	DefaultMaxReorgReadd   = 20_000
)

// Config configures a Pool. Zero values select the defaults; a negative
// MaxNonceGap is invalid (use DisableNonceGap for strictly contiguous nonces).
type Config struct {
	// Params are the network's parameters (required).
	Params *chain.Params
	// State is the chain state transactions are validated against (required).
	State StateReader
	// Now is the clock used for entry times and expiry (default time.Now).
	Now func() time.Time
	// Logger receives one line per notable event (nil: discard).
	Logger *slog.Logger
	// Registerer receives the pool's metrics (nil: metrics are kept but not
	// registered).
	Registerer prometheus.Registerer

	// SigCache is shared with the chain: signatures verified on admission
	// are not verified again when the block connects (nil: no cache).
	SigCache *chain.SigCache

	// MaxBytes bounds the total serialized size of pending transactions
	// (default 32 MiB).
	MaxBytes int
	// MaxCount bounds the number of pending transactions (default 50,000).
	MaxCount int
	// MaxPerSender bounds the pending transactions of one sender, ready and
	// queued together (default 64).
	MaxPerSender int
	// MaxNonceGap is how far beyond the sender's next pending nonce a nonce
	// may be: nonces in [next, next+MaxNonceGap] are accepted, those above
	// next are held as queued (not selectable) until the gap fills.
	// Default 16; DisableNonceGap (or any negative value) accepts only the
	// next nonce (strictly contiguous sequences).
	MaxNonceGap int
	// MinFeeRate is the minimum fee in base units per serialized byte
	// (default 1). Use a negative value for zero (accept fee-less transactions).
	MinFeeRate int64
	// Expiry is how long a transaction may stay pending (default 24h).
	Expiry time.Duration
	// ReplaceBumpPercent is the minimum fee increase, in percent of the
	// old fee, for a same-sender same-nonce replacement (default 10).
	ReplaceBumpPercent int
	// ReplaceBumpRate is the minimum fee increase of a replacement in base
	// units per byte of the new transaction (default 1). A replacement must
	// satisfy both bumps.
	ReplaceBumpRate uint64
	// MaxReorgReadd bounds how many transactions of disconnected blocks are
	// put back after a reorg (default 20,000; the oldest blocks' first).
	MaxReorgReadd int
}

// DisableNonceGap as Config.MaxNonceGap accepts only contiguous nonces.
const DisableNonceGap = -1

// withDefaults returns cfg with defaults applied, or an error for a missing
// required field.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Params == nil {
		return cfg, errors.New("mempool: Config.Params is required")
	}
	if cfg.State == nil {
		return cfg, errors.New("mempool: Config.State is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxCount <= 0 {
		cfg.MaxCount = DefaultMaxCount
	}
	if cfg.MaxPerSender <= 0 {
		cfg.MaxPerSender = DefaultMaxPerSender
	}
	switch {
	case cfg.MaxNonceGap == 0:
		cfg.MaxNonceGap = DefaultMaxNonceGap
	case cfg.MaxNonceGap < 0:
		cfg.MaxNonceGap = 0
	}
	switch {
	case cfg.MinFeeRate == 0:
		cfg.MinFeeRate = DefaultMinFeeRate
	case cfg.MinFeeRate < 0:
		cfg.MinFeeRate = 0
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.ReplaceBumpPercent <= 0 {
		cfg.ReplaceBumpPercent = DefaultReplaceBumpPct
	}
	if cfg.ReplaceBumpRate == 0 {
		cfg.ReplaceBumpRate = DefaultReplaceBumpRate
	}
	if cfg.MaxReorgReadd <= 0 {
		cfg.MaxReorgReadd = DefaultMaxReorgReadd
	}
	return cfg, nil
}

package chaintest

import "github.com/quarrychain/quarry/chain"

// Option changes how Next builds one block, usually to break exactly one rule.
type Option func(*blockSpec)

type blockSpec struct {
	timestamp  *uint32
	bits       *uint32
	version    *uint32
	cbAmount   *uint64
	cbHeight   *uint64
	cbTo       *chain.Address
	cbMemo     []byte
	cbChainID  *uint32
	extraNonce *[chain.ExtraNonceSize]byte
	txs        []*chain.Tx
	noQueued   bool
	mutate     []func(*chain.Block)
	keepMerkle bool
	noSolve    bool
	highHash   bool
}

// Timestamp sets the header time (default: parent time + target spacing, but
// after the parent's median time past).
func Timestamp(ts uint32) Option { return func(s *blockSpec) { s.timestamp = &ts } }

// Bits sets the header bits (default: what the chain requires).
func Bits(bits uint32) Option { return func(s *blockSpec) { s.bits = &bits } }

// Version sets the header version (default 1).
func Version(v uint32) Option { return func(s *blockSpec) { s.version = &v } }

// CoinbaseAmount sets the coinbase amount (default: subsidy + fees).
func CoinbaseAmount(a uint64) Option { return func(s *blockSpec) { s.cbAmount = &a } }

// CoinbaseHeight sets the height the coinbase carries (default: the block's).
func CoinbaseHeight(h uint64) Option { return func(s *blockSpec) { s.cbHeight = &h } }

// CoinbaseTo sets the coinbase recipient (default Addr(0)).
func CoinbaseTo(a chain.Address) Option { return func(s *blockSpec) { s.cbTo = &a } }

// CoinbaseMemo sets the coinbase memo (default empty).
func CoinbaseMemo(m []byte) Option { return func(s *blockSpec) { s.cbMemo = m } }

// CoinbaseChainID sets the coinbase chain ID (default the network's).
func CoinbaseChainID(id uint32) Option { return func(s *blockSpec) { s.cbChainID = &id } }

// ExtraNonce sets the coinbase extra-nonce (little-endian). By default it is
// 2^63 plus the number of blocks the generator has built, so that siblings
// built with the same options differ.
func ExtraNonce(n uint64) Option {
	return func(s *blockSpec) {
		var e [chain.ExtraNonceSize]byte
		for i := range e {
			e[i] = byte(n >> (8 * i))
		}
		s.extraNonce = &e
	}
}

// Txs appends transactions after the queued transfers (their fees count
// towards the default coinbase amount).
func Txs(txs ...*chain.Tx) Option {
	return func(s *blockSpec) { s.txs = append(s.txs, txs...) }
}

// NoQueued leaves the transfers queued by Transfer for this parent out of
// the block (they stay queued for the next block built on it).
func NoQueued() Option { return func(s *blockSpec) { s.noQueued = true } }

// Mutate runs fn on the assembled block (header without merkle root and
// nonce) before the merkle root is computed and the proof of work solved.
func Mutate(fn func(*chain.Block)) Option {
	return func(s *blockSpec) { s.mutate = append(s.mutate, fn) }
}

// KeepMerkle computes the merkle root before the Mutate hooks run, so the
// header commits to the transactions as they were before mutation.
func KeepMerkle() Option { return func(s *blockSpec) { s.keepMerkle = true } }

// NoSolve leaves the header nonce at zero (the hash may or may not meet the
// target; use HighHash for a hash that certainly does not).
func NoSolve() Option { return func(s *blockSpec) { s.noSolve = true } }

// HighHash searches for a nonce whose hash is above the target.
func HighHash() Option { return func(s *blockSpec) { s.highHash = true } }

package chain

import (
	"errors"
	"fmt"
	"sync"

	"github.com/quarrychain/quarry/chain/kv"
)

// Store is the key-value storage the chain keeps its blocks, index and state
// in. The chain defines it; implementations live in their own packages
// (leveldbstore for the node, memstore for tests, faultstore to inject
// faults) and depend only on package kv. Implementations must be safe for
// concurrent use.
type Store interface {
	// Get returns the value of key, an error matching kv.ErrNotFound if it
	// is absent, or one matching kv.ErrCorrupt (ErrStoreCorrupted) if the
	// stored bytes failed the engine's integrity check.
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for every key with the given prefix in key order.
	// The slices passed to fn are only valid during the call.
	Iterate(prefix []byte, fn func(key, value []byte) error) error
	// Commit applies the batch atomically (all of it or none) and durably
	// (synced before it returns). After an error the caller cannot know
	// whether the batch is durable.
	Commit(b *Batch) error
	// Close releases the store.
	Close() error
}

// Batch is the list of writes one Commit applies atomically: a plain value
// (kv.Batch) that any Store can read. It is not safe for concurrent use.
type Batch = kv.Batch

// ErrStoreCorrupted marks data in the store that cannot be trusted. It is
// kv.ErrCorrupt, so a store's own corruption reports match it too.
var ErrStoreCorrupted = kv.ErrCorrupt

// ErrWriteFailed marks a failed commit. The store may or may not hold the
// batch (an fsync can fail after the write), so the chain's memory can no
// longer be trusted to match it: the chain refuses every later write with
// the same error and closes Failed; the node stops, and at the next start
// the chain is rebuilt from what the store durably holds (each batch is all
// or nothing).
var ErrWriteFailed = errors.New("chain database write failed")

// haltState is the first storage failure that stopped the chain. It is set
// by commits (under Chain.mu) and by reads that cannot report their error
// (without it) and read from any goroutine, so it has its own mutex; done is
// closed when it is set.
type haltState struct {
	mu   sync.Mutex
	err  error
	done chan struct{}
}

func (h *haltState) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// set records err unless a failure is already recorded and reports whether
// it did.
func (h *haltState) set(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return false
	}
	h.err = err
	close(h.done)
	return true
}

// commit writes b through the store, unless an earlier commit failed. It is
// called with Chain.mu held (or from New, before the chain is shared).
func (c *Chain) commit(b *Batch) error {
	if err := c.halt.get(); err != nil {
		return err
	}
	err := c.store.Commit(b)
	if err == nil {
		return nil
	}
	werr := fmt.Errorf("%w: %w (the node must stop; at restart the chain resumes from the last durable commit)", ErrWriteFailed, err)
	if c.halt.set(werr) {
		c.log.Error("chain database write failed; the chain takes no more writes", "err", err)
	}
	return werr
}

// Failed is closed when the chain has met a storage failure it cannot
// recover from: a failed commit, or a read whose failure it cannot report
// (Account). Err then says why. The chain still answers reads but accepts
// no more blocks; its owner must stop. Safe for concurrent use.
func (c *Chain) Failed() <-chan struct{} { return c.halt.done }

// Err returns the storage failure that halted the chain (matching
// ErrWriteFailed for a failed commit), or nil. Safe for concurrent use.
func (c *Chain) Err() error { return c.halt.get() }

// Key layout. Every key starts with a one-byte table prefix.
const (
	prefixIndex   = 'h' // 'h' | hash -> header(80) | height u64 | status u8
	prefixBlock   = 'b' // 'b' | hash -> canonical block bytes
	prefixUndo    = 'u' // 'u' | hash -> undo record of a connected block
	prefixAccount = 'a' // 'a' | address -> balance u64 | nonce u64
	prefixTxIndex = 't' // 't' | txid -> block hash (main chain only)
	prefixHeight  = 'n' // 'n' | height u64 big-endian -> hash (main chain only)
	keyTip        = "T" // tip hash | state digest sum(32) | account count u64
	keyMeta       = "M" // schema version u32 | network name
)

func hashKey(prefix byte, h Hash) []byte {
	k := make([]byte, 1+HashSize)
	k[0] = prefix
	copy(k[1:], h[:])
	return k
}

func accountKey(a Address) []byte {
	k := make([]byte, 1+AddressSize)
	k[0] = prefixAccount
	copy(k[1:], a[:])
	return k
}

func heightKey(h uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixHeight
	for i := 0; i < 8; i++ {
		k[8-i] = byte(h >> (8 * i))
	}
	return k
}

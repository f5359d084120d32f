package chain

import "sync"

// SigCache remembers transactions whose signature verified, keyed by txid,
// so a transaction checked on mempool admission is not verified again when
// its block connects, nor when a reorg reconnects it. A txid commits to the
// public key, the signature and every signed field, so a hit is exactly as
// good as a verification. The cache is bounded; when full, an arbitrary
// entry is evicted. Safe for concurrent use; a nil *SigCache verifies
// every time.
type SigCache struct {
	mu  sync.RWMutex
	max int
	ids map[Hash]struct{}
}

// NewSigCache returns a cache holding at most max txids.
func NewSigCache(max int) *SigCache {
	return &SigCache{max: max, ids: make(map[Hash]struct{}, min(max, 1<<16))}
}

// Verify checks tx's signature, consulting and filling the cache.
func (c *SigCache) Verify(tx *Tx) error {
	if c == nil {
		return tx.VerifySignature()
	}
	return c.verify(tx, tx.TxID())
}

// verify is Verify for a caller that already has the txid.
func (c *SigCache) verify(tx *Tx, id Hash) error {
	if c == nil {
		return tx.VerifySignature()
	}
	c.mu.RLock()
	_, ok := c.ids[id]
	c.mu.RUnlock()
	if ok {
		return nil
	}
	if err := tx.VerifySignature(); err != nil {
		return err
	}
	c.mu.Lock()
	if len(c.ids) >= c.max {
		for k := range c.ids { // map order is random: an arbitrary victim
			delete(c.ids, k)
			break
		}
	}
	c.ids[id] = struct{}{}
	c.mu.Unlock()
	return nil
}

// Len returns the number of cached txids.
func (c *SigCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.ids)
}

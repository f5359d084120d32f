package chain

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/quarrychain/quarry/chain/kv"
)

func (c *Chain) readAccount(a Address) (Account, error) {
	raw, err := c.store.Get(accountKey(a))
	if errors.Is(err, kv.ErrNotFound) {
		return Account{}, nil
	}
	if err != nil {
		return Account{}, err
	}
	return decodeAccount(raw)
}

// Block returns the stored block with hash h (main chain or side branch).
// A block the chain does not have is an ErrNotFound error; stored data that
// fails its integrity check is an ErrCorruptData error (see CorruptBlocks
// and RepairBlock). Safe for concurrent use.
func (c *Chain) Block(h Hash) (*Block, error) {
	b, _, err := c.readBlock(h)
	return b, err
}

// BlockBytes returns the canonical encoding of the stored block with hash
// h, after the same integrity checks as Block (so that peers are served
// what Block would return without encoding it again). The caller must not
// modify the slice. Errors are those of Block. Safe for concurrent use.
func (c *Chain) BlockBytes(h Hash) ([]byte, error) {
	raw, _, _, err := c.readBlockRaw(h)
	return raw, err
}

// HaveBlock reports whether the block is stored (valid or not) or waiting as
// an orphan.
func (c *Chain) HaveBlock(h Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.index[h] != nil || c.orphans.has(h)
}

// IsKnownInvalid reports whether h is recorded as invalid (a stored block
// or a headers-only entry).
func (c *Chain) IsKnownInvalid(h Hash) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := c.index[h]; n != nil {
		return n.status.invalid()
	}
	n := c.hdrs.nodes[h]
	return n != nil && c.headerInvalidLocked(n, false)
}

// BlockInfo describes an indexed block.
type BlockInfo struct {
	Hash          Hash
	Header        Header
	Height        uint64
	ChainWork     *big.Int
	InMainChain   bool
	Invalid       bool
	Confirmations uint64 // 0 when not on the main chain
	NextHash      Hash   // main-chain successor, zero if none
	TxCount       int
	Size          int
	MedianTime    int64
	// ChainTxCount is the number of transactions in the chain from genesis
	// up to and including this block.
	ChainTxCount uint64
	// HaveData is false for a headers-only entry (the header was validated
	// by ProcessHeaders, the block is not downloaded); TxCount and Size are
	// then zero.
	HaveData bool
}

// BlockInfo returns index information about h, a stored block or a
// headers-only entry (HaveData false).
func (c *Chain) BlockInfo(h Hash) (BlockInfo, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.index[h]
	if n == nil {
		if hn := c.hdrs.nodes[h]; hn != nil {
			return BlockInfo{
				Hash: hn.hash, Header: hn.header, Height: hn.height, ChainWork: new(big.Int).Set(hn.chainWork),
				Invalid: c.headerInvalidLocked(hn, false), MedianTime: hn.medianTimePast(),
			}, true
		}
		return BlockInfo{}, false
	}
	info := BlockInfo{
		Hash: n.hash, Header: n.header, Height: n.height, ChainWork: new(big.Int).Set(n.chainWork),
		Invalid: n.status.invalid(), TxCount: n.txCount, Size: n.size, MedianTime: n.medianTimePast(),
		ChainTxCount: n.chainTxCount,
		HaveData:     true,
	}
	if c.inMain(n) {
		info.InMainChain = true
		info.Confirmations = uint64(len(c.main)) - n.height
		if n.height+1 < uint64(len(c.main)) {
			info.NextHash = c.main[n.height+1].hash
		}
	}
	return info, true
}

// HashAtHeight returns the main-chain block hash at height.
func (c *Chain) HashAtHeight(height uint64) (Hash, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if height >= uint64(len(c.main)) {
		return Hash{}, false
	}
	return c.main[height].hash, true
}

// Locator returns a Bitcoin-style block locator of the main chain: the tip,
// then going back one block at a time for ten entries, then doubling the
// step, always ending with the genesis block.
func (c *Chain) Locator() []Hash {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var loc []Hash
	step := uint64(1)
	h := uint64(len(c.main) - 1)
	for {
		loc = append(loc, c.main[h].hash)
		if h == 0 {
			return loc
		}
		if len(loc) >= 10 {
			step *= 2
		}
		if h < step {
			h = 0
		} else {
			h -= step
		}
	}
}

// HeadersAfter returns up to max main-chain headers following the first
// locator hash that is on the main chain (genesis if none is), stopping after
// stop if it is reached.
func (c *Chain) HeadersAfter(locator []Hash, stop Hash, max int) []Header {
	c.mu.RLock()
	defer c.mu.RUnlock()
	start := uint64(0)
	for _, h := range locator {
		if n := c.index[h]; n != nil && c.inMain(n) {
			start = n.height
			break
		}
	}
	var out []Header
	for ht := start + 1; ht < uint64(len(c.main)) && len(out) < max; ht++ {
		n := c.main[ht]
		out = append(out, n.header)
		if n.hash == stop {
			break
		}
	}
	return out
}

// Account returns the state of address a at the tip. It has no error to
// report a failed read with, and a zero balance would be wrong data, so a
// failed read halts the chain (see Failed) and the node stops. Safe for
// concurrent use.
func (c *Chain) Account(a Address) Account {
	acc, err := c.readAccount(a)
	if err != nil {
		herr := fmt.Errorf("reading the state of account %x: %w (the node must stop)", a[:], err)
		if c.halt.set(herr) {
			c.log.Error("chain state unreadable; the chain takes no more writes", "err", err)
		}
		return Account{}
	}
	return acc
}

// Transaction finds a main-chain transaction by id.
func (c *Chain) Transaction(id Hash) (*Tx, Hash, uint64, error) {
	raw, err := c.store.Get(hashKey(prefixTxIndex, id))
	if err != nil {
		if errors.Is(err, kv.ErrNotFound) {
			return nil, Hash{}, 0, ruleErr(ErrNotFound, "transaction %s is not in the main chain", id)
		}
		return nil, Hash{}, 0, err
	}
	var bh Hash
	copy(bh[:], raw)
	info, ok := c.BlockInfo(bh)
	if !ok {
		return nil, Hash{}, 0, fmt.Errorf("%w: tx index points at unknown block %s", ErrStoreCorrupted, bh)
	}
	b, ids, err := c.readBlock(bh)
	if err != nil {
		return nil, Hash{}, 0, err
	}
	for i, tx := range b.Txs {
		if ids[i] == id {
			return tx, bh, info.Height, nil
		}
	}
	return nil, Hash{}, 0, fmt.Errorf("%w: tx index points at block %s without the transaction", ErrStoreCorrupted, bh)
}

// TipInfo describes one chain tip, as Bitcoin Core's getchaintips.
type TipInfo struct {
	Hash      Hash
	Height    uint64
	BranchLen uint64
	// Status is "active", "valid-fork" (fully validated, not active),
	// "valid-headers" (stored, not validated), "headers-only" (the header
	// was validated, the block is not downloaded) or "invalid".
	Status string
}

// Tips returns every block or headers-only entry with no child, the main
// tip first.
func (c *Chain) Tips() []TipInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	hasChild := make(map[*blockNode]bool, len(c.index))
	for _, n := range c.index {
		if n.parent != nil {
			hasChild[n.parent] = true
		}
	}
	for _, n := range c.hdrs.nodes {
		if p := c.index[n.header.PrevBlock]; p != nil {
			hasChild[p] = true
		}
	}
	tip := c.tipNode()
	out := []TipInfo{{Hash: tip.hash, Height: tip.height, Status: "active"}}
	for _, n := range c.index {
		if hasChild[n] || n == tip {
			continue
		}
		fork := findFork(n, tip)
		t := TipInfo{Hash: n.hash, Height: n.height, BranchLen: n.height - fork.height}
		switch {
		case n.status.invalid():
			t.Status = "invalid"
		case n.status&statusValid != 0:
			t.Status = "valid-fork"
		default:
			t.Status = "valid-headers"
		}
		out = append(out, t)
	}
	return append(out, c.headerTipsLocked(tip)...)
}

// NextBits returns the bits a child of parent must carry.
func (c *Chain) NextBits(parent Hash) (uint32, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.index[parent]
	if n == nil {
		return 0, ruleErr(ErrNotFound, "block %s not found", parent)
	}
	return c.nextBits(n), nil
}

// MedianTimePast returns the median time of h and its 10 ancestors.
func (c *Chain) MedianTimePast(h Hash) (int64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := c.index[h]
	if n == nil {
		return 0, ruleErr(ErrNotFound, "block %s not found", h)
	}
	return n.medianTimePast(), nil
}

// OrphanCount returns the number of blocks waiting for their parent.
func (c *Chain) OrphanCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.orphans.len()
}

// nextBits computes the required bits of a child of parent. Regtest keeps
// the PoW limit; block 1 carries InitialBits and anchors ASERT; later blocks
// follow aserti3-2d from that anchor, whose reference time is the anchor's
// own timestamp minus one target spacing (so the schedule starts when the
// network first mines, not at the genesis date).
func (c *Chain) nextBits(parent *blockNode) uint32 {
	p := c.params
	if p.NoRetarget {
		return p.PowLimitBits
	}
	if parent.height == 0 {
		return p.InitialBits
	}
	anchor := parent.anchor
	spacing := int64(p.TargetSpacing.Seconds())
	return AsertNextBits(AsertAnchor{
		Height:     1,
		Bits:       anchor.header.Bits,
		ParentTime: int64(anchor.header.Timestamp) - spacing,
	}, parent.height, int64(parent.header.Timestamp), spacing, int64(p.AsertHalfLife.Seconds()), p.PowLimit)
}

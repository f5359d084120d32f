package chain

import (
	"sync"
	"weak"
)

// CheckBlock runs CheckBlockSanity on b with the chain's parameters and, if
// b passes, remembers that it did, so that ProcessBlock or
// ProcessUnrequestedBlock given this same *Block does not run the
// context-free checks again. A caller that checks blocks as they arrive
// (the sync protocol checks each downloaded block in the goroutine that
// received it, to judge the peer at once) thus keeps the checks off the
// goroutine that connects blocks one at a time.
//
// The record is kept by the chain, never by the block, so only a block
// that really passed can skip the checks: it is found by pointer, and used
// only if the header and the transaction slice are still those that were
// checked (else the block is checked again). As everywhere, a block must
// not be modified once handed to the chain, here from the call to
// CheckBlock on. Records are bounded (the oldest go first) and do not keep
// blocks alive; a block that is never processed costs nothing. Safe for
// concurrent use.
func (c *Chain) CheckBlock(b *Block) error {
	h := b.Hash()
	if err := checkBlockSanity(b, h, c.params); err != nil {
		return err
	}
	c.checked.add(b, h)
	return nil
}

// checkedBlocksMax bounds the records of checked blocks: more than the
// sync protocol holds between receiving a block and connecting it.
const checkedBlocksMax = 8192

// checkedBlocks records the blocks that passed CheckBlock until
// ProcessBlock takes them. Keys are weak pointers, so a record never keeps
// a block in memory, and a block collected and a new one allocated at its
// address never share a record. Safe for concurrent use.
type checkedBlocks struct {
	mu   sync.Mutex
	m    map[weak.Pointer[Block]]checkedBlock
	ring []weak.Pointer[Block] // insertion order, for eviction
	next int
}

// checkedBlock is what was checked: the header (so the hash is still
// right) and the transaction slice, by its first element and length.
type checkedBlock struct {
	header Header
	hash   Hash
	first  *Tx
	ntx    int
}

func (s *checkedBlocks) add(b *Block, h Hash) {
	k := weak.Make(b) // b passed checkBlockSanity: it has a coinbase
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[weak.Pointer[Block]]checkedBlock, 1024) // no regrowth in a sync's steady state
		s.ring = make([]weak.Pointer[Block], checkedBlocksMax)
	}
	// Evicting the oldest slot may drop a newer record of the same block
	// (added twice): that only costs a second check.
	delete(s.m, s.ring[s.next])
	s.ring[s.next] = k
	s.next = (s.next + 1) % len(s.ring)
	s.m[k] = checkedBlock{header: b.Header, hash: h, first: b.Txs[0], ntx: len(b.Txs)}
}

// take returns b's hash and true, and forgets the record, if b passed
// CheckBlock and is unchanged since; else the zero hash and false.
func (s *checkedBlocks) take(b *Block) (Hash, bool) {
	s.mu.Lock()
	if len(s.m) == 0 {
		// Nothing recorded (CheckBlock unused): no weak handle is made
		// for a block that ProcessBlock checks itself.
		s.mu.Unlock()
		return Hash{}, false
	}
	k := weak.Make(b)
	r, ok := s.m[k]
	if ok {
		delete(s.m, k)
	}
	s.mu.Unlock()
	if !ok || r.header != b.Header || len(b.Txs) != r.ntx || b.Txs[0] != r.first {
		return Hash{}, false
	}
	return r.hash, true
}

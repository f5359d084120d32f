package chain

import (
	"encoding/binary"
	"fmt"
	"math/big"
)

// blockStatus holds the validation state bits of an index node.
type blockStatus uint8

const (
	// statusValid: the block was fully validated and connected at least once.
	statusValid blockStatus = 1 << iota
	// statusFailed: the block itself broke a rule (or was invalidated by hand).
	statusFailed
	// statusFailedAncestor: an ancestor is invalid.
	statusFailedAncestor
)

func (s blockStatus) invalid() bool { return s&(statusFailed|statusFailedAncestor) != 0 }

// blockNode is the in-memory index entry of a stored block: every block whose
// data the chain has (main chain and side branches) has one. Fields other
// than status are immutable; status, like the index maps, is guarded by
// Chain.mu.
type blockNode struct {
	hash      Hash
	parent    *blockNode
	header    Header
	height    uint64
	chainWork *big.Int // cumulative work up to and including this block
	status    blockStatus
	seq       uint64     // order first seen, for the first-seen tie-break
	anchor    *blockNode // this branch's block at height 1 (the ASERT anchor); nil for genesis
	txCount   int
	size      int
	// chainTxCount is the number of transactions in the chain up to and
	// including this block (Core's nChainTx); set by setParent.
	chainTxCount uint64
	validGen     uint64 // headers-only entries: cached validity (headers.go); written under the write lock only
}

// medianTimePast returns the median timestamp of n and up to 10 ancestors.
func (n *blockNode) medianTimePast() int64 {
	var ts [MedianTimeBlocks]int64
	k := 0
	for it := n; it != nil && k < MedianTimeBlocks; it = it.parent {
		ts[k] = int64(it.header.Timestamp)
		k++
	}
	s := ts[:k]
	for i := 1; i < len(s); i++ { // insertion sort: at most 11 values
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// findFork returns the last common ancestor of a and b.
func findFork(a, b *blockNode) *blockNode {
	for a != nil && b != nil && a.height > b.height {
		a = a.parent
	}
	for a != nil && b != nil && b.height > a.height {
		b = b.parent
	}
	for a != nil && b != nil && a != b {
		a, b = a.parent, b.parent
	}
	if a == nil || b == nil {
		return nil
	}
	return a
}

// candidateBefore orders tip candidates: more work first, then first seen.
func candidateBefore(a, b *blockNode) bool {
	c := a.chainWork.Cmp(b.chainWork)
	if c != 0 {
		return c > 0
	}
	return a.seq < b.seq
}

func encodeIndexRecord(n *blockNode) []byte {
	b := make([]byte, 0, HeaderSize+8+1+8)
	hb := n.header.Bytes()
	b = append(b, hb[:]...)
	b = binary.LittleEndian.AppendUint64(b, n.height)
	b = append(b, byte(n.status))
	b = binary.LittleEndian.AppendUint32(b, uint32(n.txCount))
	b = binary.LittleEndian.AppendUint32(b, uint32(n.size))
	return b
}

type indexRecord struct {
	header  Header
	height  uint64
	status  blockStatus
	txCount int
	size    int
}

func decodeIndexRecord(b []byte) (indexRecord, error) {
	var r indexRecord
	if len(b) != HeaderSize+8+1+8 {
		return r, fmt.Errorf("%w: index record is %d bytes", ErrStoreCorrupted, len(b))
	}
	r.header, _ = DecodeHeader(b[:HeaderSize])
	r.height = binary.LittleEndian.Uint64(b[HeaderSize:])
	r.status = blockStatus(b[HeaderSize+8])
	r.txCount = int(binary.LittleEndian.Uint32(b[HeaderSize+9:]))
	r.size = int(binary.LittleEndian.Uint32(b[HeaderSize+13:]))
	return r, nil
}

// setParent links n to parent and inherits the branch's ASERT anchor.
func (n *blockNode) setParent(parent *blockNode) {
	n.parent = parent
	n.chainTxCount = uint64(n.txCount)
	if parent != nil {
		n.chainTxCount += parent.chainTxCount
	}
	switch {
	case parent == nil:
		n.anchor = nil
	case parent.height == 0:
		n.anchor = n
	default:
		n.anchor = parent.anchor
	}
}

// descendants returns every indexed block that descends from n (not n itself).
func descendants(index map[Hash]*blockNode, n *blockNode) []*blockNode {
	children := make(map[*blockNode][]*blockNode)
	for _, d := range index {
		if d.parent != nil && d.height > n.height {
			children[d.parent] = append(children[d.parent], d)
		}
	}
	var out []*blockNode
	queue := children[n]
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		out = append(out, d)
		queue = append(queue, children[d]...)
	}
	return out
}

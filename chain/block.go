package chain

import "fmt"

// Block is a header and its transactions, the first of which is the
// coinbase. Blocks are immutable once handed to the chain; reads are then
// safe for concurrent use.
type Block struct {
	Header Header
	Txs    []*Tx
}

// Hash returns the block hash (the header's SHA-256d).
func (b *Block) Hash() Hash { return b.Header.BlockHash() }

// SerializeSize returns the length of the canonical encoding.
func (b *Block) SerializeSize() int {
	n := HeaderSize + compactSizeLen(uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		n += tx.SerializeSize()
	}
	return n
}

// Bytes returns the canonical encoding: 80-byte header | CompactSize tx count | transactions.
func (b *Block) Bytes() []byte {
	out := make([]byte, 0, b.SerializeSize())
	hb := b.Header.Bytes()
	out = append(out, hb[:]...)
	out = appendCompactSize(out, uint64(len(b.Txs)))
	for _, tx := range b.Txs {
		out = tx.AppendTo(out)
	}
	return out
}

// TxIDs returns the transaction ids in block order.
func (b *Block) TxIDs() []Hash {
	ids := make([]Hash, len(b.Txs))
	for i, tx := range b.Txs {
		ids[i] = tx.TxID()
	}
	return ids
}

// MaxBlockSizeLimit bounds any network's MaxBlockSize; decoders use it as a
// hard cap before the network's own limit is applied by validation.
const MaxBlockSizeLimit = 4 << 20

// DecodeBlock decodes exactly one canonical block from b. It checks the
// encoding only (sizes, counts, minimal integers, no trailing bytes), not
// consensus rules.
func DecodeBlock(b []byte) (*Block, error) {
	if len(b) > MaxBlockSizeLimit {
		return nil, ruleErr(ErrBlockTooBig, "block is %d bytes, hard limit %d", len(b), MaxBlockSizeLimit)
	}
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("%w: block is %d bytes, shorter than a header", ErrMalformed, len(b))
	}
	hdr, _ := DecodeHeader(b[:HeaderSize])
	r := &reader{b: b, off: HeaderSize}
	n := r.compactSize(uint64((len(b)-HeaderSize)/MinTxSize), "transaction count")
	blk := &Block{Header: hdr, Txs: make([]*Tx, 0, n)}
	for i := uint64(0); i < n && r.err == nil; i++ {
		tx := decodeTx(r)
		if r.err == nil {
			blk.Txs = append(blk.Txs, tx)
		}
	}
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	return blk, nil
}

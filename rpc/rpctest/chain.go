package rpctest

import (
	"crypto/sha256"
	"math/big"
	"sort"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
)

// blockEntry is one block of the fake index.
type blockEntry struct {
	block   *chain.Block
	hash    chain.Hash
	height  uint64
	work    *big.Int
	main    bool
	invalid bool
	mtp     int64
	chainTx uint64 // transactions from genesis up to and including this block
}

// Key returns the deterministic private key number i (1-based) of the fake.
func Key(i int) *secp256k1.PrivateKey {
	seed := sha256.Sum256([]byte{'q', 'u', 'a', 'r', 'r', 'y', '-', 'r', 'p', 'c', 't', 'e', 's', 't', byte(i)})
	return secp256k1.PrivKeyFromBytes(seed[:])
}

// KeyAddress returns the address of Key(i).
func KeyAddress(i int) chain.Address {
	return chain.AddressFromPubKey(Key(i).PubKey().SerializeCompressed())
}

// transfer builds a signed transfer from key i.
func transfer(p *chain.Params, from int, to chain.Address, nonce, amount, fee uint64, memo string) *chain.Tx {
	tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: nonce, To: to, Amount: amount, Fee: fee}
	if memo != "" {
		tx.Memo = []byte(memo)
	}
	tx.Sign(Key(from))
	return tx
}

// mineHeader searches nonces from 0 until the header meets its bits.
func mineHeader(h *chain.Header, p *chain.Params) {
	for n := uint32(0); ; n++ {
		h.Nonce = n
		if chain.CheckProofOfWork(h.BlockHash(), h.Bits, p.PowLimit) == nil {
			return
		}
	}
}

// makeBlock builds and mines a block on parent at the given time.
func makeBlock(p *chain.Params, parent chain.Hash, height uint64, t uint32, pay chain.Address, txs []*chain.Tx, extra byte) *chain.Block {
	var fees uint64
	for _, tx := range txs {
		fees += tx.Fee
	}
	cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: height, To: pay, Amount: p.CalcSubsidy(height) + fees}
	cb.ExtraNonce[0] = extra
	b := &chain.Block{Header: chain.Header{Version: 1, PrevBlock: parent, Timestamp: t, Bits: p.PowLimitBits}, Txs: append([]*chain.Tx{cb}, txs...)}
	b.Header.MerkleRoot, _ = chain.MerkleRoot(b.TxIDs())
	mineHeader(&b.Header, p)
	return b
}

// addBlock indexes a block whose parent is known (or genesis).
func (f *Backend) addBlock(b *chain.Block) *blockEntry {
	h := b.Hash()
	e := &blockEntry{block: b, hash: h, work: chain.CalcWork(b.Header.Bits), chainTx: uint64(len(b.Txs))}
	if parent, ok := f.blocks[b.Header.PrevBlock]; ok {
		e.height = parent.height + 1
		e.work.Add(e.work, parent.work)
		e.chainTx += parent.chainTx
	}
	f.blocks[h] = e
	e.mtp = f.medianTime(e)
	return e
}

// medianTime is the median of the block's and its ten predecessors' times.
func (f *Backend) medianTime(e *blockEntry) int64 {
	var ts []int64
	for cur := e; cur != nil && len(ts) < chain.MedianTimeBlocks; cur = f.blocks[cur.block.Header.PrevBlock] {
		ts = append(ts, int64(cur.block.Header.Timestamp))
		if cur.height == 0 {
			break
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

// connect appends a block to the main chain and applies its transactions.
func (f *Backend) connect(e *blockEntry) {
	e.main = true
	f.main = append(f.main, e.hash)
	for _, tx := range e.block.Txs {
		f.txIndex[tx.TxID()] = e.hash
		if tx.IsCoinbase() {
			a := f.accounts[tx.To]
			a.Balance += tx.Amount
			f.accounts[tx.To] = a
			continue
		}
		from := f.accounts[tx.From()]
		from.Balance -= tx.Amount + tx.Fee
		from.Nonce = tx.Nonce + 1
		f.accounts[tx.From()] = from
		to := f.accounts[tx.To]
		to.Balance += tx.Amount
		f.accounts[tx.To] = to
		delete(f.mempool, tx.TxID())
	}
	f.digest = f.stateDigest()
}

func (f *Backend) tipEntry() *blockEntry { return f.blocks[f.main[len(f.main)-1]] }

// stateDigest hashes the sorted account map: a stand-in for the real one.
func (f *Backend) stateDigest() chain.Hash {
	addrs := make([]chain.Address, 0, len(f.accounts))
	for a := range f.accounts {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool { return string(addrs[i][:]) < string(addrs[j][:]) })
	var buf []byte
	for _, a := range addrs {
		acc := f.accounts[a]
		buf = append(buf, a[:]...)
		buf = append(buf, byte(acc.Balance), byte(acc.Balance>>8), byte(acc.Balance>>16), byte(acc.Balance>>24),
			byte(acc.Balance>>32), byte(acc.Balance>>40), byte(acc.Balance>>48), byte(acc.Balance>>56), byte(acc.Nonce))
	}
	return chain.DoubleSHA256(buf)
}

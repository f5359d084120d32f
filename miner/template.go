package miner

import (
	"math"
	"math/big"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// BlockVersion is the header version of the blocks this package builds.
const BlockVersion uint32 = 1

// maxTxCountLen is the longest CompactSize encoding of a transaction count;
// templates reserve it so that the size budget never depends on the count.
const maxTxCountLen = 9

// TemplateSpec holds every input of NewTemplate; the function reads nothing
// else (no clock, no chain), so templates are deterministic.
type TemplateSpec struct {
	// Params are the network's parameters.
	Params *chain.Params
	// Tip is the parent: Hash, Height, MedianTime (its median time past)
	// and NextBits (the bits its child must carry) are used.
	Tip chain.Snapshot
	// Txs are the candidate transactions in block order (from a TxSource).
	// Coinbases, nil entries, other networks' and duplicate transactions are
	// skipped; the list is cut where the size budget or the fee sum would
	// overflow (cutting, not skipping, keeps each sender's nonces contiguous).
	Txs []*chain.Tx
	// PayTo receives subsidy and fees; the zero address is refused.
	PayTo chain.Address
	// Memo is copied into the coinbase (at most chain.MaxMemoSize bytes).
	Memo []byte
	// Now is the local time: the header time is max(Now, MedianTime+1) and
	// must not exceed Now plus the network's future limit.
	Now time.Time
}

// Template is a block ready to be mined: the header fields but the
// extra-nonce-dependent merkle root, the time and the nonce are fixed. It
// also carries what stratum-style miners need: the coinbase split around
// its 8-byte extra-nonce (Coinb1, Coinb2) and the coinbase's merkle branch.
// A Template is immutable; it is safe for concurrent use.
type Template struct {
	// Block is the template with a zero extra-nonce, header time Time and
	// nonce 0. Block.Txs[0] is the coinbase; the other transactions are
	// shared with every block made from the template and must not be
	// modified.
	Block *chain.Block
	// Height is the height of the block (parent height + 1).
	Height uint64
	// PrevHash is the parent.
	PrevHash chain.Hash
	// Bits is the required compact target; Target its value, TargetLE its
	// 32 little-endian bytes (the kernel's format).
	Bits     uint32
	Target   *big.Int
	TargetLE [32]byte
	// MinTime is the earliest valid header time (median time past + 1);
	// MaxTime the latest, as seen from the build time (Now + future limit).
	MinTime int64
	MaxTime int64
	// Subsidy and Fees make up the coinbase amount.
	Subsidy uint64
	Fees    uint64
	// Branch is the coinbase's merkle branch (chain.MerkleBranch).
	Branch []chain.Hash
	// Coinb1 and Coinb2 are the serialized coinbase before and after the
	// extra-nonce.
	Coinb1 []byte
	Coinb2 []byte
	// Size is the serialized size of a block made from the template.
	Size int
	// Skipped counts candidate transactions left out (see TemplateSpec.Txs).
	Skipped int
	// Created is the Now the template was built at.
	Created time.Time
}

// txBudget returns the bytes left for non-coinbase transactions in a block
// whose coinbase carries a memo of memoLen bytes.
func txBudget(p *chain.Params, memoLen int) int {
	cb := chain.Tx{Kind: chain.TxCoinbase, Memo: make([]byte, memoLen)}
	return max(0, p.MaxBlockSize-chain.HeaderSize-maxTxCountLen-cb.SerializeSize())
}

// NewTemplate builds a template from its inputs: a coinbase paying
// subsidy + fees to PayTo at height Tip.Height+1, the selected transactions,
// bits Tip.NextBits (ASERT depends only on the parent, so the time may roll
// without changing them) and time max(Now, MedianTime+1). It is pure and
// safe for concurrent use.
func NewTemplate(s TemplateSpec) (*Template, error) {
	p := s.Params
	if p == nil {
		return nil, newErr(ErrBadConfig, "a template needs network parameters")
	}
	if s.PayTo.IsZero() {
		return nil, newErr(ErrNoAddress, "set --miner-address or create a wallet key")
	}
	if len(s.Memo) > chain.MaxMemoSize {
		return nil, newErr(ErrBadConfig, "coinbase memo is %d bytes, limit %d", len(s.Memo), chain.MaxMemoSize)
	}
	bits := s.Tip.NextBits
	target, err := chain.CompactToBig(bits)
	if err != nil {
		return nil, wrapErr(ErrBadTip, err, "tip %s requires bits %08x", s.Tip.Hash, bits)
	}
	if target.Cmp(p.PowLimit) > 0 {
		return nil, newErr(ErrBadTip, "tip %s requires bits %08x above the proof-of-work limit", s.Tip.Hash, bits)
	}
	minTime := s.Tip.MedianTime + 1
	maxTime := s.Now.Add(p.MaxFutureBlockTime).Unix()
	ts := max(s.Now.Unix(), minTime)
	if ts > maxTime || ts > math.MaxUint32 {
		return nil, newErr(ErrClockBehind, "earliest valid block time %d (median time past of %s + 1) is after local time %d + %s",
			minTime, s.Tip.Hash, s.Now.Unix(), p.MaxFutureBlockTime)
	}

	height := s.Tip.Height + 1
	subsidy := p.CalcSubsidy(height)
	cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: height, To: s.PayTo, Amount: subsidy}
	if len(s.Memo) > 0 {
		cb.Memo = append([]byte(nil), s.Memo...)
	}
	txs, ids, fees, skipped := selectTxs(s.Txs, p, txBudget(p, len(s.Memo)), subsidy)
	cb.Amount = subsidy + fees
	ids[0] = cb.TxID()
	// One pass over the tree: the branch, then the root from it (ids are
	// distinct, so the tree is never mutated).
	branch := chain.MerkleBranch(ids)
	root := chain.MerkleRootFromBranch(ids[0], branch)
	txs[0] = cb

	blk := &chain.Block{
		Header: chain.Header{Version: BlockVersion, PrevBlock: s.Tip.Hash, MerkleRoot: root, Timestamp: uint32(ts), Bits: bits},
		Txs:    txs,
	}
	coinb1, coinb2 := cb.CoinbaseParts()
	return &Template{
		Block: blk, Height: height, PrevHash: s.Tip.Hash,
		Bits: bits, Target: target, TargetLE: chain.TargetBytesLE(target),
		MinTime: minTime, MaxTime: maxTime,
		Subsidy: subsidy, Fees: fees,
		Branch: branch,
		Coinb1: coinb1, Coinb2: coinb2,
		Size: blk.SerializeSize(), Skipped: skipped, Created: s.Now,
	}, nil
}

// selectTxs filters the candidates (see TemplateSpec.Txs). It returns the
// block's transaction list and ids with slot 0 left for the coinbase, the
// fee total and how many candidates were left out.
func selectTxs(cands []*chain.Tx, p *chain.Params, budget int, subsidy uint64) (txs []*chain.Tx, ids []chain.Hash, fees uint64, skipped int) {
	txs = make([]*chain.Tx, 1, len(cands)+1)
	ids = make([]chain.Hash, 1, len(cands)+1)
	seen := make(map[chain.Hash]struct{}, len(cands))
	used := 0
	for i, tx := range cands {
		if tx == nil || tx.Kind != chain.TxTransfer || tx.ChainID != p.ChainID {
			skipped++
			continue
		}
		id := tx.TxID()
		if _, dup := seen[id]; dup {
			skipped++
			continue
		}
		size := tx.SerializeSize()
		f := fees + tx.Fee
		if used+size > budget || f < fees || subsidy+f < subsidy {
			skipped += len(cands) - i
			break
		}
		seen[id] = struct{}{}
		used += size
		fees = f
		txs = append(txs, tx)
		ids = append(ids, id)
	}
	return txs, ids, fees, skipped
}

// CoinbaseBytes returns the serialized coinbase with the given extra-nonce:
// Coinb1 | extraNonce | Coinb2.
func (t *Template) CoinbaseBytes(extraNonce [chain.ExtraNonceSize]byte) []byte {
	b := make([]byte, 0, len(t.Coinb1)+chain.ExtraNonceSize+len(t.Coinb2))
	b = append(b, t.Coinb1...)
	b = append(b, extraNonce[:]...)
	return append(b, t.Coinb2...)
}

// Coinbase returns the template's coinbase with the given extra-nonce.
func (t *Template) Coinbase(extraNonce [chain.ExtraNonceSize]byte) *chain.Tx {
	cb := *t.Block.Txs[0]
	cb.ExtraNonce = extraNonce
	return &cb
}

// MerkleRoot returns the merkle root of a block made with the given
// extra-nonce, from the coinbase hash and the branch only.
func (t *Template) MerkleRoot(extraNonce [chain.ExtraNonceSize]byte) chain.Hash {
	return chain.MerkleRootFromBranch(chain.DoubleSHA256(t.CoinbaseBytes(extraNonce)), t.Branch)
}

// Header returns the header of a block made with the given extra-nonce,
// time and nonce.
func (t *Template) Header(extraNonce [chain.ExtraNonceSize]byte, timestamp, nonce uint32) chain.Header {
	h := t.Block.Header
	h.MerkleRoot = t.MerkleRoot(extraNonce)
	h.Timestamp = timestamp
	h.Nonce = nonce
	return h
}

// MakeBlock returns the full block for the given extra-nonce, time and
// nonce. The non-coinbase transactions are shared with the template.
func (t *Template) MakeBlock(extraNonce [chain.ExtraNonceSize]byte, timestamp, nonce uint32) *chain.Block {
	txs := make([]*chain.Tx, len(t.Block.Txs))
	txs[0] = t.Coinbase(extraNonce)
	copy(txs[1:], t.Block.Txs[1:])
	return &chain.Block{Header: t.Header(extraNonce, timestamp, nonce), Txs: txs}
}

// RollTime returns the header time to use at now: max(now, MinTime).
func (t *Template) RollTime(now time.Time) uint32 {
	return uint32(min(max(now.Unix(), t.MinTime), math.MaxUint32))
}

// TxCount returns the number of transactions, coinbase included.
func (t *Template) TxCount() int { return len(t.Block.Txs) }

// WithPayTo returns a copy of t whose coinbase pays payTo instead: the
// coinbase, Coinb1 and the header's merkle root change; the branch, the
// other transactions, the times and the target are shared (the coinbase's
// merkle branch does not depend on the coinbase). It costs one coinbase
// hash and one merkle path, so a stratum server builds one template per
// tip and derives every worker's payout from it. It is pure and safe for
// concurrent use; t is not modified.
func (t *Template) WithPayTo(payTo chain.Address) *Template {
	if payTo == t.Block.Txs[0].To {
		return t
	}
	cb := *t.Block.Txs[0]
	cb.To = payTo
	txs := make([]*chain.Tx, len(t.Block.Txs))
	txs[0] = &cb
	copy(txs[1:], t.Block.Txs[1:])
	nt := *t
	nt.Block = &chain.Block{Header: t.Block.Header, Txs: txs}
	nt.Block.Header.MerkleRoot = chain.MerkleRootFromBranch(cb.TxID(), t.Branch)
	nt.Coinb1, nt.Coinb2 = cb.CoinbaseParts()
	return &nt
}

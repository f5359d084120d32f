package chain

import (
	"runtime"
	"sync"
	"time"
)

// CheckHeaderSanity applies the context-free header rules: a supported
// version, valid bits within the network's PoW limit and a hash that meets
// them. It is cheap (one SHA-256d) and safe for concurrent use.
func CheckHeaderSanity(h *Header, p *Params) error {
	return checkHeaderSanity(h, h.BlockHash(), p)
}

// checkHeaderSanity is CheckHeaderSanity for a header whose hash the caller
// has already computed.
func checkHeaderSanity(h *Header, hash Hash, p *Params) error {
	if h.Version < 1 {
		return ruleErr(ErrBadVersion, "block version %d", h.Version)
	}
	return CheckProofOfWork(hash, h.Bits, p.PowLimit)
}

// CheckBlockSanity applies every context-free block rule except signature
// verification: header sanity, size, coinbase first and only, transaction
// sanity, merkle root (including the CVE-2012-2459 mutation check) and no
// duplicate transactions. Safe for concurrent use.
func CheckBlockSanity(b *Block, p *Params) error {
	return checkBlockSanity(b, b.Hash(), p)
}

// checkBlockSanity is CheckBlockSanity for a block whose hash h the
// caller has computed.
func checkBlockSanity(b *Block, h Hash, p *Params) error {
	if err := checkHeaderSanity(&b.Header, h, p); err != nil {
		return err
	}
	if len(b.Txs) == 0 {
		return ruleErr(ErrNoTransactions, "block %s has no transactions", h)
	}
	// The merkle check comes before body rules: a body that does not match its
	// header is the sender's fault, not the block's, and must not mark the hash.
	ids := b.TxIDs()
	root, mutated := MerkleRoot(ids)
	if root != b.Header.MerkleRoot {
		return ruleErr(ErrBadMerkleRoot, "block %s: merkle root %s does not match transactions (%s)", h, b.Header.MerkleRoot, root)
	}
	if mutated {
		return ruleErr(ErrMutatedMerkle, "block %s: transaction list pairs identical hashes", h)
	}
	if size := b.SerializeSize(); size > p.MaxBlockSize {
		return ruleErr(ErrBlockTooBig, "block %s is %d bytes, limit %d", h, size, p.MaxBlockSize)
	}
	if !b.Txs[0].IsCoinbase() {
		return ruleErr(ErrFirstNotCoinbase, "block %s: first transaction is a transfer", h)
	}
	seen := make(map[Hash]struct{}, len(ids))
	for i, tx := range b.Txs {
		if i > 0 && tx.IsCoinbase() {
			return ruleErr(ErrMultipleCoinbases, "block %s: transaction %d is a second coinbase", h, i)
		}
		if err := tx.CheckSanity(p); err != nil {
			return err
		}
		if _, dup := seen[ids[i]]; dup {
			return ruleErr(ErrDuplicateTx, "block %s: transaction %s appears twice", h, ids[i])
		}
		seen[ids[i]] = struct{}{}
	}
	return nil
}

// checkHeaderContext applies the rules that need the parent: expected bits,
// time after the median time past and not too far in the future.
func (c *Chain) checkHeaderContext(h *Header, parent *blockNode, now time.Time) error {
	want := c.nextBits(parent)
	if h.Bits != want {
		return ruleErr(ErrUnexpectedBits, "block bits %08x, expected %08x", h.Bits, want)
	}
	if mtp := parent.medianTimePast(); int64(h.Timestamp) <= mtp {
		return ruleErr(ErrTimeTooOld, "block time %d is not after median time past %d", h.Timestamp, mtp)
	}
	if limit := now.Add(c.params.MaxFutureBlockTime).Unix(); int64(h.Timestamp) > limit {
		return ruleErr(ErrTimeTooNew, "block time %d is more than %s ahead of local time %d", h.Timestamp, c.params.MaxFutureBlockTime, now.Unix())
	}
	return nil
}

// verifySignatures checks every transfer signature of b, spread over workers
// goroutines. It returns the first failure in transaction order.
func verifySignatures(txs []*Tx, ids []Hash, workers int, cache *SigCache) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	n := len(txs)
	if n < 2*workers {
		workers = 1
	}
	errs := make([]error, n)
	if workers == 1 {
		for i, tx := range txs {
			if !tx.IsCoinbase() {
				if errs[i] = cache.verify(tx, ids[i]); errs[i] != nil {
					return errs[i]
				}
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				if !txs[i].IsCoinbase() {
					errs[i] = cache.verify(txs[i], ids[i])
				}
			}
		}(lo, hi)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// applyBlockTxs applies the transactions of a block at height to the view,
// enforcing nonces, balances, coinbase height and value. Signatures must have
// been verified already.
func applyBlockTxs(v *stateView, txs []*Tx, height uint64, p *Params) error {
	var fees uint64
	for _, tx := range txs[1:] {
		from := tx.From()
		acc, err := v.get(from)
		if err != nil {
			return err
		}
		if tx.Nonce != acc.Nonce {
			return ruleErr(ErrBadNonce, "tx %s: nonce %d, account %s expects %d", tx.TxID(), tx.Nonce, from.Encode(p), acc.Nonce)
		}
		cost := tx.Amount + tx.Fee // overflow excluded by CheckSanity
		if acc.Balance < cost {
			return ruleErr(ErrInsufficientBal, "tx %s: balance %d < amount %d + fee %d", tx.TxID(), acc.Balance, tx.Amount, tx.Fee)
		}
		acc.Balance -= cost
		acc.Nonce++
		v.set(from, acc)
		to, err := v.get(tx.To)
		if err != nil {
			return err
		}
		if to.Balance+tx.Amount < to.Balance {
			return ruleErr(ErrAmountOverflow, "tx %s: recipient balance overflows", tx.TxID())
		}
		to.Balance += tx.Amount
		v.set(tx.To, to)
		if fees+tx.Fee < fees {
			return ruleErr(ErrAmountOverflow, "block fees overflow")
		}
		fees += tx.Fee
	}
	cb := txs[0]
	if cb.Height != height {
		return ruleErr(ErrBadCoinbaseHeight, "coinbase height %d in block at height %d", cb.Height, height)
	}
	maxValue := p.CalcSubsidy(height) + fees
	if cb.Amount > maxValue {
		return ruleErr(ErrBadCoinbaseValue, "coinbase pays %d, subsidy plus fees is %d", cb.Amount, maxValue)
	}
	if cb.Amount > 0 {
		to, err := v.get(cb.To)
		if err != nil {
			return err
		}
		if to.Balance+cb.Amount < to.Balance {
			return ruleErr(ErrAmountOverflow, "coinbase recipient balance overflows")
		}
		to.Balance += cb.Amount
		v.set(cb.To, to)
	}
	return nil
}

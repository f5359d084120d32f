package wallet

import (
	"time"

	"github.com/quarrychain/quarry/chain"
)

// Category says how a recorded transaction concerns the wallet (Bitcoin
// Core's listtransactions categories).
type Category string

// Record categories.
const (
	// CategorySend: a transfer from a wallet address (sent by this wallet,
	// or seen in a block).
	CategorySend Category = "send"
	// CategoryReceive: a transfer to a wallet address seen in a block.
	CategoryReceive Category = "receive"
	// CategoryGenerate: a coinbase paying a wallet address.
	CategoryGenerate Category = "generate"
)

// TxRecord is one wallet transaction record. A transfer between two wallet
// addresses has a send and a receive record.
type TxRecord struct {
	ID       chain.Hash
	Category Category
	// Address is the wallet address concerned (sender for send, recipient
	// otherwise); Counterparty the other side (zero for generate).
	Address      chain.Address
	Counterparty chain.Address
	Amount       uint64
	Fee          uint64 // send only
	Nonce        uint64 // send only
	Memo         []byte
	// Time is when the wallet created or first saw the record.
	Time time.Time
	// BlockHash and Height locate the including block (zero while unconfirmed).
	BlockHash chain.Hash
	Height    uint64
	// Confirmations is computed by ListTransactions from the last block the
	// wallet saw (0 while unconfirmed).
	Confirmations uint64
}

// appendLocked adds r, dropping the oldest records beyond MaxHistory.
func (w *Wallet) appendLocked(r TxRecord) {
	w.history = append(w.history, r)
	if n := len(w.history) - w.opts.MaxHistory; n > 0 {
		clear(w.history[:n])
		w.history = append(w.history[:0], w.history[n:]...)
	}
}

// ListTransactions returns up to count records after skipping the skip most
// recent ones, oldest first (Bitcoin Core's listtransactions order), with
// confirmations filled in. The history holds the wallet's own sends plus
// what BlockConnected saw while the wallet was following the chain (blocks
// from before the wallet existed are not rescanned); it is bounded by
// Options.MaxHistory. Balances never depend on it: they come from chain
// state.
func (w *Wallet) ListTransactions(count, skip int) []TxRecord {
	w.mu.Lock()
	defer w.mu.Unlock()
	end := len(w.history) - max(skip, 0)
	if end <= 0 || count <= 0 {
		return nil
	}
	start := max(end-count, 0)
	out := make([]TxRecord, end-start)
	copy(out, w.history[start:end])
	for i := range out {
		if out[i].Height > 0 && !out[i].BlockHash.IsZero() && w.tipHeight >= out[i].Height {
			out[i].Confirmations = w.tipHeight - out[i].Height + 1
		}
		out[i].Memo = append([]byte(nil), out[i].Memo...)
	}
	return out
}

// HandleEvent feeds a chain event to the wallet's history (node calls it
// for each event of a chain subscription, in order). Safe for concurrent use.
func (w *Wallet) HandleEvent(ev chain.Event) {
	var err error
	switch ev.Kind {
	case chain.EventBlockConnected:
		err = w.BlockConnected(ev.Block, ev.Height)
	case chain.EventBlockDisconnected:
		err = w.BlockDisconnected(ev.Block, ev.Height)
	}
	if err != nil {
		w.log.Error("saving wallet history", "err", err)
	}
}

// BlockConnected records b's transactions that concern the wallet: it
// confirms the wallet's own sends, and adds receives, coinbases paying the
// wallet ("generate") and sends from wallet addresses made elsewhere. The
// file is written only if something changed.
func (w *Wallet) BlockConnected(b *chain.Block, height uint64) error {
	if b == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tipHeight = height
	hash := b.Hash()
	now := w.opts.Now().UTC()
	changed := false
	for _, tx := range b.Txs {
		if tx.IsCoinbase() {
			if tx.Amount > 0 && w.keyAddr(tx.To) && !w.hasRecord(tx.TxID(), CategoryGenerate, hash) {
				w.appendLocked(TxRecord{ID: tx.TxID(), Category: CategoryGenerate, Address: tx.To,
					Amount: tx.Amount, Memo: tx.Memo, Time: now, BlockHash: hash, Height: height})
				changed = true
			}
			continue
		}
		id, from := tx.TxID(), tx.From()
		if w.keyAddr(from) {
			if i := w.find(id, CategorySend); i >= 0 {
				w.history[i].BlockHash, w.history[i].Height = hash, height
			} else {
				w.appendLocked(TxRecord{ID: id, Category: CategorySend, Address: from, Counterparty: tx.To,
					Amount: tx.Amount, Fee: tx.Fee, Nonce: tx.Nonce, Memo: tx.Memo, Time: now, BlockHash: hash, Height: height})
			}
			changed = true
		}
		if w.keyAddr(tx.To) && !w.hasRecord(id, CategoryReceive, hash) {
			w.appendLocked(TxRecord{ID: id, Category: CategoryReceive, Address: tx.To, Counterparty: from,
				Amount: tx.Amount, Memo: tx.Memo, Time: now, BlockHash: hash, Height: height})
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return w.save()
}

// BlockDisconnected undoes BlockConnected for a block leaving the main
// chain: the wallet's sends in it become unconfirmed again, its receive and
// generate records are dropped (they return if the block or the
// transaction is connected again).
func (w *Wallet) BlockDisconnected(b *chain.Block, height uint64) error {
	if b == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if height > 0 {
		w.tipHeight = height - 1
	}
	hash := b.Hash()
	changed := false
	kept := w.history[:0]
	for _, r := range w.history {
		if r.BlockHash != hash {
			kept = append(kept, r)
			continue
		}
		changed = true
		if r.Category == CategorySend {
			r.BlockHash, r.Height = chain.Hash{}, 0
			kept = append(kept, r)
		}
	}
	clear(w.history[len(kept):])
	w.history = kept
	if !changed {
		return nil
	}
	return w.save()
}

// find returns the index of the record with id and category, or -1.
func (w *Wallet) find(id chain.Hash, c Category) int {
	for i := len(w.history) - 1; i >= 0; i-- {
		if w.history[i].ID == id && w.history[i].Category == c {
			return i
		}
	}
	return -1
}

// hasRecord reports whether a record of id and category in block exists.
func (w *Wallet) hasRecord(id chain.Hash, c Category, block chain.Hash) bool {
	i := w.find(id, c)
	return i >= 0 && w.history[i].BlockHash == block
}

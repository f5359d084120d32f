package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
)

// FileName is the name of the wallet file inside the wallet directory.
const FileName = "wallet.json"

// WalletFileVersion is the version written into wallet files.
const WalletFileVersion = 1

// walletFile is the JSON form of the wallet file. Addresses are stored in
// their text form, private keys as 64 hex digits, hashes in Bitcoin's
// reversed hex. Example:
//
//	{
//	  "version": 1,
//	  "network": "dev",
//	  "default": "qd1...",
//	  "keys": [{"address": "qd1...", "private_key": "...", "created": "2026-11-21T00:00:00Z"}],
//	  "transactions": [{"txid": "...", "category": "send", "address": "qd1...", ...}]
//	}
type walletFile struct {
	Version      int          `json:"version"`
	Network      string       `json:"network"`
	Default      string       `json:"default,omitempty"`
	Keys         []fileKey    `json:"keys"`
	Transactions []fileRecord `json:"transactions"`
}

type fileKey struct {
	Address    string    `json:"address"`
	PrivateKey string    `json:"private_key"`
	Created    time.Time `json:"created"`
}

type fileRecord struct {
	TxID         chain.Hash `json:"txid"`
	Category     Category   `json:"category"`
	Address      string     `json:"address"`
	Counterparty string     `json:"counterparty,omitempty"`
	Amount       uint64     `json:"amount"`
	Fee          uint64     `json:"fee,omitempty"`
	Nonce        uint64     `json:"nonce,omitempty"`
	Memo         string     `json:"memo,omitempty"` // hex
	Time         time.Time  `json:"time"`
	BlockHash    chain.Hash `json:"blockhash,omitzero"`
	Height       uint64     `json:"height,omitempty"`
}

// load reads the wallet file at w.path into w; a missing file is an empty
// wallet. w.mu is held or w is not yet shared.
func (w *Wallet) load() error {
	if _, err := os.Stat(w.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := checkPrivate(w.path); err != nil {
		return err
	}
	data, err := os.ReadFile(w.path)
	if err != nil {
		return fmt.Errorf("reading wallet: %w", err)
	}
	var f walletFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return wrapf(ErrCorrupt, err, "wallet file %s is not valid", w.path)
	}
	if f.Version != WalletFileVersion {
		return errorf(ErrCorrupt, "wallet file %s has version %d, this program reads version %d", w.path, f.Version, WalletFileVersion)
	}
	if f.Network != w.params.Name {
		return errorf(ErrWrongNetwork, "wallet file %s belongs to network %q, not %q", w.path, f.Network, w.params.Name)
	}
	for i, fk := range f.Keys {
		k, err := ParsePrivateKeyHex(fk.PrivateKey)
		if err != nil {
			return wrapf(ErrCorrupt, err, "wallet file %s: key %d", w.path, i)
		}
		if got := k.Address.Encode(w.params); got != fk.Address {
			return errorf(ErrCorrupt, "wallet file %s: key %d is stored for %s but controls %s", w.path, i, fk.Address, got)
		}
		if _, dup := w.byAddr[k.Address]; dup {
			continue
		}
		wk := &walletKey{key: k, created: fk.Created}
		w.keys = append(w.keys, wk)
		w.byAddr[k.Address] = wk
	}
	if f.Default != "" {
		a, err := chain.DecodeAddress(f.Default, w.params)
		if err != nil || w.byAddr[a] == nil {
			return errorf(ErrCorrupt, "wallet file %s: default address %s has no key", w.path, f.Default)
		}
		w.def, w.hasDef = a, true
	}
	for i, fr := range f.Transactions {
		r, err := w.recordFromFile(fr)
		if err != nil {
			return wrapf(ErrCorrupt, err, "wallet file %s: transaction %d", w.path, i)
		}
		w.history = append(w.history, r)
	}
	return nil
}

func (w *Wallet) recordFromFile(fr fileRecord) (TxRecord, error) {
	r := TxRecord{ID: fr.TxID, Category: fr.Category, Amount: fr.Amount, Fee: fr.Fee, Nonce: fr.Nonce,
		Time: fr.Time, BlockHash: fr.BlockHash, Height: fr.Height}
	switch fr.Category {
	case CategorySend, CategoryReceive, CategoryGenerate:
	default:
		return r, fmt.Errorf("unknown category %q", fr.Category)
	}
	var err error
	if r.Address, err = chain.DecodeAddress(fr.Address, w.params); err != nil {
		return r, err
	}
	if fr.Counterparty != "" {
		if r.Counterparty, err = chain.DecodeAddress(fr.Counterparty, w.params); err != nil {
			return r, err
		}
	}
	if fr.Memo != "" {
		if r.Memo, err = hex.DecodeString(fr.Memo); err != nil {
			return r, err
		}
	}
	return r, nil
}

// save writes the wallet with atomicfile (mode 0600): a crash leaves either
// the old or the new file. w.mu is held.
func (w *Wallet) save() error {
	f := walletFile{Version: WalletFileVersion, Network: w.params.Name,
		Keys: make([]fileKey, 0, len(w.keys)), Transactions: make([]fileRecord, 0, len(w.history))}
	if w.hasDef {
		f.Default = w.def.Encode(w.params)
	}
	for _, wk := range w.keys {
		f.Keys = append(f.Keys, fileKey{Address: wk.key.Address.Encode(w.params), PrivateKey: wk.key.PrivateKeyHex(), Created: wk.created})
	}
	for _, r := range w.history {
		fr := fileRecord{TxID: r.ID, Category: r.Category, Address: r.Address.Encode(w.params), Amount: r.Amount,
			Fee: r.Fee, Nonce: r.Nonce, Time: r.Time, BlockHash: r.BlockHash, Height: r.Height}
		if r.Counterparty != (chain.Address{}) {
			fr.Counterparty = r.Counterparty.Encode(w.params)
		}
		if len(r.Memo) > 0 {
			fr.Memo = hex.EncodeToString(r.Memo)
		}
		f.Transactions = append(f.Transactions, fr)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(w.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving wallet: %w", err)
	}
	return nil
}

package rpc

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"unicode/utf8"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// difficulty is Core's GetDifficulty: how many times harder than the
// target of bits 0x1d00ffff (Bitcoin's original PoW limit, difficulty 1)
// the given bits are. Quarry's networks have easier limits, so their
// difficulties can be below 1 (regtest: 4.66e-10, as in Core's regtest).
func difficulty(bits uint32) float64 {
	mant := bits & 0x00ffffff
	if mant == 0 {
		return 0
	}
	shift := (bits >> 24) & 0xff
	d := float64(0x0000ffff) / float64(mant)
	for shift < 29 {
		d *= 256
		shift++
	}
	for shift > 29 {
		d /= 256
		shift--
	}
	return d
}

func bitsHex(bits uint32) string { return fmt.Sprintf("%08x", bits) }

// targetHex is the 256-bit target of bits as 64 hex digits, big-endian.
func targetHex(bits uint32) string {
	t, err := chain.CompactToBig(bits)
	if err != nil {
		t = new(big.Int)
	}
	return fmt.Sprintf("%064x", t)
}

func workHex(w *big.Int) string {
	if w == nil {
		w = new(big.Int)
	}
	return fmt.Sprintf("%064x", w)
}

// headerVerbose formats a block index entry (getblockheader, getblock).
func (s *Server) headerVerbose(m BlockMeta, tipHeight uint64) rpcjson.BlockHeaderVerbose {
	h := m.Header
	v := rpcjson.BlockHeaderVerbose{
		Hash:          m.Hash,
		Confirmations: -1,
		Height:        m.Height,
		Version:       h.Version,
		VersionHex:    fmt.Sprintf("%08x", h.Version),
		MerkleRoot:    h.MerkleRoot,
		Time:          h.Timestamp,
		MedianTime:    m.MedianTime,
		Nonce:         h.Nonce,
		Bits:          bitsHex(h.Bits),
		Target:        targetHex(h.Bits),
		Difficulty:    difficulty(h.Bits),
		ChainWork:     workHex(m.ChainWork),
		NTx:           m.TxCount,
	}
	if m.InMainChain && tipHeight >= m.Height {
		v.Confirmations = int64(tipHeight-m.Height) + 1
	}
	if !h.PrevBlock.IsZero() {
		p := h.PrevBlock
		v.PreviousBlockHash = &p
	}
	if !m.NextHash.IsZero() {
		n := m.NextHash
		v.NextBlockHash = &n
	}
	return v
}

// txVerbose decodes a transaction for display.
func (s *Server) txVerbose(tx *chain.Tx) rpcjson.TxVerbose {
	id := tx.TxID()
	v := rpcjson.TxVerbose{
		TxID:    id,
		Hash:    id,
		Size:    tx.SerializeSize(),
		ChainID: tx.ChainID,
		To:      tx.To.Encode(s.params),
		Amount:  rpcjson.AmountFromUnits(tx.Amount),
	}
	if len(tx.Memo) > 0 {
		v.Memo = hex.EncodeToString(tx.Memo)
		if utf8.Valid(tx.Memo) {
			v.MemoText = string(tx.Memo)
		}
	}
	if tx.IsCoinbase() {
		v.Kind = "coinbase"
		h := tx.Height
		v.Height = &h
		v.ExtraNonce = hex.EncodeToString(tx.ExtraNonce[:])
		return v
	}
	v.Kind = "transfer"
	if tx.Kind != chain.TxTransfer {
		v.Kind = fmt.Sprintf("unknown(%d)", tx.Kind)
	}
	n := tx.Nonce
	v.Nonce = &n
	v.From = tx.From().Encode(s.params)
	fee := rpcjson.AmountFromUnits(tx.Fee)
	v.Fee = &fee
	v.PubKey = hex.EncodeToString(tx.PubKey[:])
	v.Signature = hex.EncodeToString(tx.Sig[:])
	return v
}

// feeRatePerKB converts base units per byte to coins per 1000 bytes.
func feeRatePerKB(perByte uint64) rpcjson.Amount {
	return rpcjson.AmountFromUnits(perByte * 1000)
}

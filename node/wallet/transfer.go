package wallet

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
)

// Payment is what a transfer pays: the recipient, the amount it receives
// and the fee the block's miner receives (both in base units), and an
// optional memo (at most chain.MaxMemoLen bytes). It is a plain value; the
// functions taking it copy the memo.
type Payment struct {
	To     chain.Address
	Amount uint64
	Fee    uint64
	Memo   []byte
}

// BuildTransfer builds and signs a transfer offline: pay, from the address
// of key, with the sender's nonce. It applies the chain's context-free rules
// (chain ID, memo length, non-zero amount, overflow, no self-transfer) and
// verifies the signature it made; failures are ErrInvalidTx wrapping the
// chain's rule error. Safe for concurrent use.
func BuildTransfer(p *chain.Params, key *secp256k1.PrivateKey, pay Payment, nonce uint64) (*chain.Tx, error) {
	tx := &chain.Tx{
		Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: nonce, To: pay.To,
		Amount: pay.Amount, Fee: pay.Fee,
	}
	if len(pay.Memo) > 0 {
		tx.Memo = append([]byte(nil), pay.Memo...)
	}
	tx.Sign(key)
	if err := tx.CheckSanity(p); err != nil {
		return nil, wrapf(ErrInvalidTx, err, "cannot build transfer")
	}
	if err := tx.VerifySignature(); err != nil {
		return nil, wrapf(ErrInvalidTx, err, "signature check after signing failed")
	}
	return tx, nil
}

// EncodeTxHex returns the hex of the transaction's canonical encoding, the
// form sendrawtransaction and getrawtransaction use.
func EncodeTxHex(tx *chain.Tx) string { return hex.EncodeToString(tx.Bytes()) }

// DecodeTxHex parses hex produced by EncodeTxHex (surrounding whitespace is
// ignored). Malformed input is ErrInvalidTx; it never panics.
func DecodeTxHex(s string) (*chain.Tx, error) {
	s = strings.TrimSpace(s)
	if len(s) > 2*chain.MaxTxSize {
		return nil, errorf(ErrInvalidTx, "transaction hex is %d characters, more than the %d of the largest transaction", len(s), 2*chain.MaxTxSize)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, wrapf(ErrInvalidTx, err, "transaction is not valid hex")
	}
	tx, err := chain.DecodeTx(b)
	if err != nil {
		return nil, wrapf(ErrInvalidTx, err, "transaction does not decode")
	}
	return tx, nil
}

// ParseAddress decodes an address of network p; failures are ErrBadAddress
// with the chain's explanation (bad checksum, other network, ...).
func ParseAddress(s string, p *chain.Params) (chain.Address, error) {
	a, err := chain.DecodeAddress(strings.TrimSpace(s), p)
	if err != nil {
		return a, wrapf(ErrBadAddress, err, "invalid address")
	}
	return a, nil
}

// amountDecimals is the number of decimal places of a coin (chain.Coin = 1e8).
const amountDecimals = 8

// ParseAmount parses a decimal coin amount ("1", "0.5", "12.34567890") into
// base units. It accepts at most 8 decimal places and rejects signs,
// exponents, empty strings and values that overflow uint64 (ErrBadAmount).
func ParseAmount(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errorf(ErrBadAmount, "amount is empty")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" || hasDot && frac == "" || !digitsOnly(whole) || !digitsOnly(frac) {
		return 0, errorf(ErrBadAmount, "amount %q is not a plain decimal number of coins (like 1.5)", s)
	}
	if len(frac) > amountDecimals {
		return 0, errorf(ErrBadAmount, "amount %q has more than %d decimal places", s, amountDecimals)
	}
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, errorf(ErrBadAmount, "amount %q is too large", s)
		}
	}
	f := uint64(0)
	if frac != "" {
		f, _ = strconv.ParseUint(frac+strings.Repeat("0", amountDecimals-len(frac)), 10, 64)
	}
	if w > (^uint64(0)-f)/chain.Coin {
		return 0, errorf(ErrBadAmount, "amount %q is too large", s)
	}
	return w*chain.Coin + f, nil
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount formats base units as coins with 8 decimals ("1.50000000"),
// the form Bitcoin Core's RPC uses.
func FormatAmount(units uint64) string {
	return strconv.FormatUint(units/chain.Coin, 10) + "." + padLeft(strconv.FormatUint(units%chain.Coin, 10), amountDecimals)
}

func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}

package mempool

import (
	"errors"
	"fmt"

	"github.com/quarrychain/quarry/chain"
)

// ErrorKind classifies why a transaction was rejected. Kinds are short,
// stable identifiers (they are the values of the reason label of
// quarry_mempool_rejected_total) and can be the target of errors.Is:
//
//	if errors.Is(err, mempool.ErrNonceTooLow) { ... }
type ErrorKind string

// Error implements error so that a kind can be the target of errors.Is.
func (k ErrorKind) Error() string { return string(k) }

// Rejection kinds. ErrInvalid means the transaction breaks a consensus rule
// and can never be valid (a peer relaying it may be penalised); every other
// kind is policy or depends on the current state (the same transaction may be
// accepted later or by another node).
const (
	// ErrInvalid: the transaction breaks a consensus rule (signature, chain
	// ID, memo length, zero amount, ...). The chain's *RuleError is wrapped,
	// so errors.Is(err, chain.ErrBadSignature) also matches.
	ErrInvalid ErrorKind = "invalid"
	// ErrCoinbase: a coinbase is only valid as the first transaction of a block.
	ErrCoinbase ErrorKind = "coinbase"
	// ErrDuplicate: the same transaction (same id) is already pending.
	ErrDuplicate ErrorKind = "duplicate"
	// ErrNonceTooLow: the sender's account already used this nonce (the
	// transaction, or another one with the same nonce, is in the chain).
	ErrNonceTooLow ErrorKind = "nonce-too-low"
	// ErrNonceGap: the nonce is too far beyond the sender's next pending nonce.
	ErrNonceGap ErrorKind = "nonce-gap"
	// ErrInsufficientFunds: the sender's balance does not cover this
	// transaction plus everything the sender already has pending.
	ErrInsufficientFunds ErrorKind = "insufficient-funds"
	// ErrFeeTooLow: the fee rate is below the pool's minimum.
	ErrFeeTooLow ErrorKind = "fee-too-low"
	// ErrReplacementUnderpriced: a transaction with the same sender and
	// nonce is pending and this one does not pay enough more to replace it.
	ErrReplacementUnderpriced ErrorKind = "replacement-underpriced"
	// ErrPoolFull: the pool is at its size limit and the transaction pays
	// no more than the cheapest one that could make room.
	ErrPoolFull ErrorKind = "pool-full"
	// ErrSenderLimit: the sender already has the maximum number of pending
	// transactions.
	ErrSenderLimit ErrorKind = "sender-limit"
)

// allKinds lists every kind (the bounded label set of the metrics).
var allKinds = [...]ErrorKind{
	ErrInvalid, ErrCoinbase, ErrDuplicate, ErrNonceTooLow, ErrNonceGap,
	ErrInsufficientFunds, ErrFeeTooLow, ErrReplacementUnderpriced, ErrPoolFull, ErrSenderLimit,
}

// Reason returns the Bitcoin Core style reject reason for the kind, the
// string RPC puts into sendrawtransaction errors (for example "mempool full",
// "min relay fee not met", "insufficient fee" for an underpriced replacement,
// "txn-already-in-mempool").
func (k ErrorKind) Reason() string {
	switch k {
	case ErrInvalid:
		return "bad-txns-invalid"
	case ErrCoinbase:
		return "coinbase"
	case ErrDuplicate:
		return "txn-already-in-mempool"
	case ErrNonceTooLow:
		return "bad-txns-nonce-too-low"
	case ErrNonceGap:
		return "bad-txns-nonce-gap"
	case ErrInsufficientFunds:
		return "bad-txns-insufficient-funds"
	case ErrFeeTooLow:
		return "min relay fee not met"
	case ErrReplacementUnderpriced:
		return "insufficient fee"
	case ErrPoolFull:
		return "mempool full"
	case ErrSenderLimit:
		return "too-long-mempool-chain"
	}
	return "rejected"
}

// RuleError is a rejection: a Kind for programmatic matching, a Description
// a user can act on, and, for ErrInvalid, the chain rule error that caused
// it. errors.Is matches both the Kind and the wrapped chain kind. It is
// immutable and safe for concurrent use.
type RuleError struct {
	Kind ErrorKind
	// Description says what failed, without the cause's text.
	Description string
	// Err is the underlying chain error (a *chain.RuleError) or nil.
	Err error
}

// Error returns the description, followed by ": " and the cause's text when
// Err is set (the rule of every errors.go in this module, see doc.go).
func (e *RuleError) Error() string {
	if e.Err != nil {
		return e.Description + ": " + e.Err.Error()
	}
	return e.Description
}

// Unwrap returns the kind and, when set, the underlying chain error.
func (e *RuleError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// rejectf builds a *RuleError whose description starts with the kind.
func rejectf(kind ErrorKind, format string, args ...any) error {
	return &RuleError{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

// invalid wraps a chain rule error as ErrInvalid.
func invalid(err error) error {
	return &RuleError{Kind: ErrInvalid, Description: "invalid transaction", Err: err}
}

// KindOf returns the mempool ErrorKind carried by err, or "" if none.
func KindOf(err error) ErrorKind {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Kind
	}
	var k ErrorKind
	if errors.As(err, &k) {
		return k
	}
	return ""
}

// RejectReason returns the Bitcoin-style reject reason for err: the kind's
// Reason, refined for ErrInvalid by the chain rule that failed (for example
// "bad-txns-signature"). It returns "" for a nil error.
func RejectReason(err error) string {
	if err == nil {
		return ""
	}
	k := KindOf(err)
	if k != ErrInvalid {
		return k.Reason()
	}
	switch chain.KindOf(err) {
	case chain.ErrBadSignature, chain.ErrHighS, chain.ErrBadPubKey:
		return "bad-txns-signature"
	case chain.ErrWrongChainID:
		return "bad-txns-chain-id"
	case chain.ErrMemoTooLong:
		return "bad-txns-memo-too-long"
	case chain.ErrZeroAmount:
		return "bad-txns-zero-amount"
	case chain.ErrAmountOverflow:
		return "bad-txns-amount-overflow"
	case chain.ErrSelfTransfer:
		return "bad-txns-self-transfer"
	case chain.ErrTxTooBig:
		return "bad-txns-oversize"
	}
	return k.Reason()
}

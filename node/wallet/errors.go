package wallet

import (
	"errors"
	"fmt"
)

// ErrorKind classifies wallet failures; kinds can be the target of errors.Is.
type ErrorKind string

// Error implements error so that a kind can be the target of errors.Is.
func (k ErrorKind) Error() string { return string(k) }

// Wallet error kinds. RPC maps them to Bitcoin Core's wallet error codes
// (ErrInsufficientFunds: RPC_WALLET_INSUFFICIENT_FUNDS -6; ErrBadAddress,
// ErrBadKey, ErrUnknownAddress: RPC_INVALID_ADDRESS_OR_KEY -5; ErrBadAmount,
// ErrInvalidTx: RPC_INVALID_PARAMETER -8 / RPC_DESERIALIZATION_ERROR -22;
// the rest RPC_WALLET_ERROR -4).
const (
	// ErrInsufficientFunds: no single wallet address can pay amount plus fee.
	ErrInsufficientFunds ErrorKind = "insufficient funds"
	// ErrWrongNetwork: a key or wallet file belongs to another network.
	ErrWrongNetwork ErrorKind = "wrong network"
	// ErrFileExists: refusing to overwrite an existing key file.
	ErrFileExists ErrorKind = "file exists"
	// ErrInsecureFile: a key or wallet file is readable by other users.
	ErrInsecureFile ErrorKind = "insecure file permissions"
	// ErrBadKey: a key file or private key is malformed or inconsistent.
	ErrBadKey ErrorKind = "invalid key"
	// ErrBadAddress: an address string does not parse for this network.
	ErrBadAddress ErrorKind = "invalid address"
	// ErrUnknownAddress: the address has no key in this wallet.
	ErrUnknownAddress ErrorKind = "address not in wallet"
	// ErrBadAmount: an amount string is malformed or out of range.
	ErrBadAmount ErrorKind = "invalid amount"
	// ErrInvalidTx: a transaction is malformed or breaks a consensus rule
	// (the chain's *chain.RuleError is wrapped).
	ErrInvalidTx ErrorKind = "invalid transaction"
	// ErrNoBackend: the wallet was opened without chain state or submit
	// function and cannot compute balances or send.
	ErrNoBackend ErrorKind = "wallet has no chain backend"
	// ErrCorrupt: the wallet file cannot be read.
	ErrCorrupt ErrorKind = "corrupt wallet file"
)

// Error is a wallet failure: a Kind for errors.Is, a Description for the
// user, and an optional underlying error (also matched by errors.Is). It is
// immutable and safe for concurrent use.
type Error struct {
	Kind        ErrorKind
	Description string // what failed, without the cause's text
	Err         error  // underlying cause, may be nil
}

// Error returns the description, followed by ": " and the cause's text when
// Err is set (the rule of every errors.go in this module, see doc.go).
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Description + ": " + e.Err.Error()
	}
	return e.Description
}

// Unwrap returns the kind and, when set, the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

func errorf(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...)}
}

func wrapf(kind ErrorKind, err error, format string, args ...any) error {
	return &Error{Kind: kind, Description: fmt.Sprintf(format, args...), Err: err}
}

// KindOf returns the wallet ErrorKind carried by err, or "".
func KindOf(err error) ErrorKind {
	var we *Error
	if errors.As(err, &we) {
		return we.Kind
	}
	var k ErrorKind
	if errors.As(err, &k) {
		return k
	}
	return ""
}

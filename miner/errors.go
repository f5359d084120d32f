package miner

import (
	"errors"
	"fmt"
)

// ErrorKind identifies a class of mining failure. A kind is an error, so
// callers match it with errors.Is against any error this package returns:
//
//	if errors.Is(err, miner.ErrNoAddress) { ... }
type ErrorKind string

// Error implements error so that a kind can be the target of errors.Is.
func (k ErrorKind) Error() string { return string(k) }

// Error kinds returned by this package.
const (
	// ErrBadConfig: the Config or an argument cannot be used (missing chain
	// or submitter, memo too long, negative block count ...).
	ErrBadConfig ErrorKind = "invalid miner configuration"
	// ErrAlreadyRunning: Run was called twice.
	ErrAlreadyRunning ErrorKind = "miner is already running"
	// ErrNoAddress: mining was asked for without an address to pay.
	ErrNoAddress ErrorKind = "no mining address configured"
	// ErrBadTip: no template can be built on the tip (its required bits do
	// not decode to a target within the network's proof-of-work limit).
	ErrBadTip ErrorKind = "cannot build a block template on the tip"
	// ErrClockBehind: the earliest valid block time (median time past + 1)
	// is beyond the local clock plus the network's future limit, so any
	// block mined now would be rejected as too new. Fix the clock or wait.
	ErrClockBehind ErrorKind = "local clock is behind the chain"
	// ErrBlockRejected: a mined block was refused by the Submitter (the
	// underlying error, usually a *chain.RuleError, is wrapped).
	ErrBlockRejected ErrorKind = "mined block was rejected"
	// ErrNotConnected: a block mined by GenerateBlocks was accepted but the
	// tip did not move (the Submitter does not process blocks synchronously).
	ErrNotConnected ErrorKind = "mined block did not extend the chain"
)

// Error is a failure of a kind with a user-facing description. It is
// immutable and safe for concurrent use. errors.Is matches both its Kind
// and anything its cause matches (e.g. chain.ErrBadNonce).
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

// Unwrap returns the kind and the cause, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newErr(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

func wrapErr(kind ErrorKind, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...), Err: cause}
}

// errStale is returned internally when a solution's parent is no longer the
// tip; it is counted as stale work and never reaches callers.
var errStale = errors.New("solution is on a stale tip")

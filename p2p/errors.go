package p2p

import (
	"fmt"
)

// ErrorKind identifies a class of networking failure. A kind is an error, so
// callers match it with errors.Is against any error this package returns:
//
//	if errors.Is(err, p2p.ErrNotRunning) { ... }
type ErrorKind string

// Error implements error so that a kind can be the target of errors.Is.
func (k ErrorKind) Error() string { return string(k) }

// Error kinds returned by this package.
const (
	// ErrBadConfig: the Config cannot be used (missing chain, bad address ...).
	ErrBadConfig ErrorKind = "invalid p2p configuration"
	// ErrNotRunning: the operation needs a running host (between Ready and
	// the return of Run).
	ErrNotRunning ErrorKind = "p2p node is not running"
	// ErrAlreadyRunning: Run was called twice.
	ErrAlreadyRunning ErrorKind = "p2p node is already running"
	// ErrBadPeerAddr: a peer address is not a multiaddr ending in /p2p/<id>.
	ErrBadPeerAddr ErrorKind = "invalid peer address"
	// ErrPeerBlocked: the peer is banned, partitioned away, or the network is
	// switched off, so it may not be dialled.
	ErrPeerBlocked ErrorKind = "peer is blocked"
	// ErrNotConnected: the peer has no open connection.
	ErrNotConnected ErrorKind = "peer is not connected"
	// ErrSelf: the operation names this node itself.
	ErrSelf ErrorKind = "peer is this node"

	// Wire-protocol violations. A peer that commits one is penalised.

	// ErrFrameTooLarge: a frame's length prefix exceeds the cap of its position.
	ErrFrameTooLarge ErrorKind = "frame exceeds size limit"
	// ErrMalformed: a frame or message does not decode.
	ErrMalformed ErrorKind = "malformed message"
	// ErrUnexpectedMsg: a well-formed message of the wrong type for the stream.
	ErrUnexpectedMsg ErrorKind = "unexpected message type"
	// ErrProtocol: a well-formed answer that breaks the protocol (headers
	// that do not connect, a block that was not asked for ...).
	ErrProtocol ErrorKind = "protocol violation"
	// ErrGenesisMismatch: the peer is on another network.
	ErrGenesisMismatch ErrorKind = "peer has a different genesis block"
	// ErrInvalidBlock: the peer sent a block that breaks consensus rules.
	ErrInvalidBlock ErrorKind = "peer sent an invalid block"
	// ErrTimeout: the peer accepted a request and did not answer it within
	// Config.RequestTimeout (a stall).
	ErrTimeout ErrorKind = "peer did not answer in time"

	// Mempool classification (see Mempool). The node's mempool adaptor wraps
	// its errors with these kinds so that gossip can tell a duplicate (ignored)
	// from provably invalid data (rejected and penalised).

	// ErrTxKnown: the transaction is already in the mempool or confirmed.
	ErrTxKnown ErrorKind = "transaction already known"
	// ErrTxInvalid: the transaction is invalid for every node (not merely
	// against this node's current state or policy).
	ErrTxInvalid ErrorKind = "transaction is invalid"
)

// Error is a failure of a kind with a user-facing description. It is
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

// Unwrap returns the kind and the cause, so errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// newErr builds an *Error whose description is prefixed by its kind.
func newErr(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

// wrapErr builds an *Error around cause.
func wrapErr(kind ErrorKind, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...), Err: cause}
}

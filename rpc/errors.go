package rpc

import (
	"errors"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Sentinel errors a Backend returns (wrapped or not; the server matches
// them with errors.Is) so the server can answer with Bitcoin Core's error
// code for the situation.
var (
	// ErrNotAvailable: the subsystem is not running on this node.
	ErrNotAvailable = errors.New("not available")
	// ErrNotFound: unknown block, transaction or mempool entry.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyInMempool: sendrawtransaction of a pending transaction
	// (answered with its txid, as Core does).
	ErrAlreadyInMempool = errors.New("txn-already-in-mempool")
	// ErrAlreadyInChain: the transaction is confirmed (RPC_VERIFY_ALREADY_IN_CHAIN).
	ErrAlreadyInChain = errors.New("transaction already in block chain")
	// ErrNodeAlreadyAdded: addnode add of a peer already on the list.
	ErrNodeAlreadyAdded = errors.New("node already added")
	// ErrNodeNotAdded: addnode remove of a peer not on the list.
	ErrNodeNotAdded = errors.New("node has not been added")
	// ErrNodeNotConnected: disconnectnode of a peer that is not connected.
	ErrNodeNotConnected = errors.New("node not found in connected nodes")
	// ErrInvalidPeer: a peer id or multiaddr that does not parse.
	ErrInvalidPeer = errors.New("invalid peer id or address")
	// ErrAlreadyBanned: setban add of a banned peer.
	ErrAlreadyBanned = errors.New("peer already banned")
	// ErrNotBanned: setban remove of a peer that is not banned.
	ErrNotBanned = errors.New("peer was not previously manually banned")
	// ErrInsufficientFunds: the wallet cannot pay.
	ErrInsufficientFunds = errors.New("insufficient funds")
)

// RejectError is a transaction rejection: Reason is the Bitcoin-style
// reject reason ("min relay fee not met", "bad-txns-nonce-too-low", ...),
// Err the underlying error (its message is appended for the user). It is
// immutable once built and safe for concurrent use.
type RejectError struct {
	Reason string
	Err    error
}

// Error returns the reason and the underlying message.
func (e *RejectError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + " (" + e.Err.Error() + ")"
}

// Unwrap returns the underlying error.
func (e *RejectError) Unwrap() error { return e.Err }

// Error is an RPC error with a Core error code (see package rpcjson). A
// method handler returns one to choose the code; any other error is mapped
// by mapError.
type Error = rpcjson.Error

func newErr(code int, format string, args ...any) *Error {
	return rpcjson.NewError(code, format, args...)
}

// subsystem names the part of the node a method needs, for the
// "not available" mapping.
type subsystem int

const (
	subNone subsystem = iota
	subChain
	subMempool
	subMining
	subNet
	subWallet
	subEvents
)

// mapError turns a handler or backend error into an RPC error.
func mapError(err error, sub subsystem) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	switch {
	case errors.Is(err, ErrNotAvailable):
		return unavailable(sub)
	case chain.KindOf(err) == chain.ErrCorruptData:
		return corruptBlock(err)
	case errors.Is(err, ErrNotFound), chain.KindOf(err) == chain.ErrNotFound:
		return newErr(rpcjson.CodeInvalidAddressOrKey, "%s", err.Error())
	case errors.Is(err, ErrInsufficientFunds):
		return newErr(rpcjson.CodeWalletInsufficientFunds, "Insufficient funds")
	case errors.Is(err, ErrNodeAlreadyAdded):
		return newErr(rpcjson.CodeClientNodeAlreadyAdded, "Error: Node already added")
	case errors.Is(err, ErrNodeNotAdded):
		return newErr(rpcjson.CodeClientNodeNotAdded, "Error: Node could not be removed. It has not been added previously.")
	case errors.Is(err, ErrNodeNotConnected):
		return newErr(rpcjson.CodeClientNodeNotConnected, "Node not found in connected nodes")
	case errors.Is(err, ErrAlreadyBanned):
		return newErr(rpcjson.CodeClientNodeAlreadyAdded, "Error: Peer already banned")
	case errors.Is(err, ErrNotBanned):
		return newErr(rpcjson.CodeClientInvalidIPOrSubnet, "Error: Unban failed. Requested peer was not previously manually banned.")
	case errors.Is(err, ErrInvalidPeer):
		return newErr(rpcjson.CodeClientInvalidIPOrSubnet, "Error: Invalid peer: %s", err.Error())
	}
	return newErr(rpcjson.CodeMiscError, "%s", err.Error())
}

// corruptBlock answers a read of stored block data that failed its
// integrity check: RPC_DATABASE_ERROR, not "not found", so an operator sees
// the damage (the node re-fetches such blocks from peers).
func corruptBlock(err error) *Error {
	return newErr(rpcjson.CodeDatabaseError, "Block data corrupt on disk (%s); the node re-fetches it from peers", err.Error())
}

// unavailable is Core's error for a disabled subsystem.
func unavailable(sub subsystem) *Error {
	switch sub {
	case subNet:
		return newErr(rpcjson.CodeClientP2PDisabled, "Error: Peer-to-peer functionality missing or disabled")
	case subMempool:
		return newErr(rpcjson.CodeClientMempoolDisabled, "Mempool disabled or instance not found")
	case subWallet:
		return newErr(rpcjson.CodeWalletNotFound, "No wallet is loaded on this node")
	case subMining:
		return newErr(rpcjson.CodeMiscError, "Mining is not available on this node")
	case subEvents:
		return newErr(rpcjson.CodeMiscError, "Notifications are not available on this node")
	}
	return newErr(rpcjson.CodeMiscError, "Not available on this node")
}

// errorf is a shorthand for handlers.
func errorf(code int, format string, args ...any) error {
	return rpcjson.NewError(code, format, args...)
}

// isUnavailable reports whether err says the subsystem is absent.
func isUnavailable(err error) bool { return errors.Is(err, ErrNotAvailable) }

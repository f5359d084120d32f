package rpcjson

import (
	"encoding/json"
	"fmt"
)

// Error codes. The values and meanings are Bitcoin Core's (src/rpc/protocol.h)
// so that clients written for Core interpret them the same way.
const (
	// Standard JSON-RPC 2.0 errors.
	CodeInvalidRequest = -32600 // RPC_INVALID_REQUEST
	CodeMethodNotFound = -32601 // RPC_METHOD_NOT_FOUND
	CodeInvalidParams  = -32602 // RPC_INVALID_PARAMS
	CodeInternalError  = -32603 // RPC_INTERNAL_ERROR
	CodeParseError     = -32700 // RPC_PARSE_ERROR

	// General application-defined errors.
	CodeMiscError               = -1  // RPC_MISC_ERROR: std::exception thrown in command handling
	CodeTypeError               = -3  // RPC_TYPE_ERROR: unexpected type was passed as parameter
	CodeInvalidAddressOrKey     = -5  // RPC_INVALID_ADDRESS_OR_KEY: invalid address or key, unknown block or transaction
	CodeOutOfMemory             = -7  // RPC_OUT_OF_MEMORY
	CodeInvalidParameter        = -8  // RPC_INVALID_PARAMETER: invalid, missing or duplicate parameter
	CodeDatabaseError           = -20 // RPC_DATABASE_ERROR
	CodeDeserializationError    = -22 // RPC_DESERIALIZATION_ERROR: error parsing or validating structure in raw format
	CodeVerifyError             = -25 // RPC_VERIFY_ERROR: general error during transaction or block submission
	CodeVerifyRejected          = -26 // RPC_VERIFY_REJECTED: transaction or block was rejected by network rules
	CodeVerifyAlreadyInChain    = -27 // RPC_VERIFY_ALREADY_IN_CHAIN: transaction already in chain
	CodeInWarmup                = -28 // RPC_IN_WARMUP: client still warming up
	CodeMethodDeprecated        = -32 // RPC_METHOD_DEPRECATED
	CodeClientNotConnected      = -9  // RPC_CLIENT_NOT_CONNECTED
	CodeClientInInitialDownload = -10 // RPC_CLIENT_IN_INITIAL_DOWNLOAD
	CodeClientNodeAlreadyAdded  = -23 // RPC_CLIENT_NODE_ALREADY_ADDED: node is already added (also: already banned)
	CodeClientNodeNotAdded      = -24 // RPC_CLIENT_NODE_NOT_ADDED: node has not been added before
	CodeClientNodeNotConnected  = -29 // RPC_CLIENT_NODE_NOT_CONNECTED: node to disconnect not found in connected nodes
	CodeClientInvalidIPOrSubnet = -30 // RPC_CLIENT_INVALID_IP_OR_SUBNET: invalid peer / ban target
	CodeClientP2PDisabled       = -31 // RPC_CLIENT_P2P_DISABLED: no valid connection manager instance found
	CodeClientMempoolDisabled   = -33 // RPC_CLIENT_MEMPOOL_DISABLED: no mempool instance found

	// Wallet errors.
	CodeWalletError             = -4  // RPC_WALLET_ERROR: unspecified problem with the wallet
	CodeWalletInsufficientFunds = -6  // RPC_WALLET_INSUFFICIENT_FUNDS
	CodeWalletNotFound          = -18 // RPC_WALLET_NOT_FOUND: no wallet is loaded
)

// Error is a JSON-RPC error object: {"code": N, "message": "..."}. It
// implements error, so a client returns it as is and callers use errors.As
// to read the code.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error returns a one-line description with the code.
func (e *Error) Error() string {
	return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message)
}

// NewError returns an *Error with a formatted message.
func NewError(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Request is a JSON-RPC request envelope as a client sends it. Version is
// "2.0" for JSON-RPC 2.0 and empty for Bitcoin Core's legacy 1.0 dialect.
// Params holds either a JSON array (positional) or a JSON object (named).
type Request struct {
	Version string          `json:"jsonrpc,omitempty"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

// Response is a JSON-RPC reply as a client reads it: a 1.0 reply carries
// both Result and Error (one of them null), a 2.0 reply exactly one.
type Response struct {
	Version string          `json:"jsonrpc,omitempty"`
	Result  json.RawMessage `json:"result"`
	Error   *Error          `json:"error"`
	ID      json.RawMessage `json:"id"`
}

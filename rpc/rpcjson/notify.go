package rpcjson

import (
	"encoding/json"

	"github.com/quarrychain/quarry/chain"
)

// WebSocket topics accepted by "subscribe" and "unsubscribe".
const (
	TopicBlocks  = "blocks"
	TopicReorgs  = "reorgs"
	TopicMempool = "mempool"
)

// WebSocket notification methods (the "method" of a server-to-client
// JSON-RPC 2.0 notification).
const (
	MethodBlockConnected    = "block_connected"
	MethodBlockDisconnected = "block_disconnected"
	MethodReorg             = "reorg"
	MethodMempoolAdded      = "mempool_added"
	MethodMempoolRemoved    = "mempool_removed"
)

// Notification is a server-to-client JSON-RPC 2.0 notification as a client
// reads it; decode Params according to Method.
type Notification struct {
	Version string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// SubscribeResult is the result of "subscribe": the topic and the sequence
// number of the last notification sent on it before this subscription, so
// the first notification this client receives carries Seq+1.
type SubscribeResult struct {
	Topic string `json:"topic"`
	Seq   uint64 `json:"seq"`
}

// BlockNotification is the params of block_connected and block_disconnected.
// Seq numbers the "blocks" topic: consecutive notifications carry
// consecutive numbers, so a gap is visible.
type BlockNotification struct {
	Seq               uint64       `json:"seq"`
	Hash              chain.Hash   `json:"hash"`
	Height            uint64       `json:"height"`
	PreviousBlockHash chain.Hash   `json:"previousblockhash"`
	Time              uint32       `json:"time"`
	Bits              string       `json:"bits"`
	NTx               int          `json:"nTx"`
	Size              int          `json:"size"`
	Tx                []chain.Hash `json:"tx"`
}

// ReorgNotification is the params of "reorg". Removed lists the
// disconnected blocks from the old tip down, Added the connected ones from
// the fork point up; Depth is len(Removed).
type ReorgNotification struct {
	Seq        uint64       `json:"seq"`
	Depth      int          `json:"depth"`
	ForkPoint  chain.Hash   `json:"forkpoint"`
	ForkHeight uint64       `json:"forkheight"`
	OldTip     chain.Hash   `json:"oldtip"`
	NewTip     chain.Hash   `json:"newtip"`
	Removed    []chain.Hash `json:"removed"`
	Added      []chain.Hash `json:"added"`
}

// MempoolNotification is the params of mempool_added and mempool_removed.
// Reason is set for removals ("block", "reorg", "conflict", "expired",
// "replaced", "evicted", ... as the node reports it).
type MempoolNotification struct {
	Seq    uint64     `json:"seq"`
	TxID   chain.Hash `json:"txid"`
	From   string     `json:"from,omitempty"`
	To     string     `json:"to,omitempty"`
	Amount *Amount    `json:"amount,omitempty"`
	Fee    *Amount    `json:"fee,omitempty"`
	Nonce  *uint64    `json:"nonce,omitempty"`
	Size   int        `json:"size,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

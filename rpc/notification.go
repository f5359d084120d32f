package rpc

import "github.com/quarrychain/quarry/chain"

// NotificationKind says what a Notification reports.
type NotificationKind int

// Notification kinds. Within one chain change the source delivers, in
// order: every NotifyBlockDisconnected (old tip first), every
// NotifyBlockConnected (lowest first), then NotifyReorg if anything was
// disconnected (chain.Event's order).
const (
	NotifyBlockConnected NotificationKind = iota + 1
	NotifyBlockDisconnected
	NotifyReorg
	NotifyMempoolAdded
	NotifyMempoolRemoved
)

// String returns the WebSocket method name of the kind.
func (k NotificationKind) String() string {
	switch k {
	case NotifyBlockConnected:
		return "block_connected"
	case NotifyBlockDisconnected:
		return "block_disconnected"
	case NotifyReorg:
		return "reorg"
	case NotifyMempoolAdded:
		return "mempool_added"
	case NotifyMempoolRemoved:
		return "mempool_removed"
	}
	return "unknown"
}

// Notification is one event of the node, as the EventSource delivers it.
// Which fields are set depends on Kind:
//
//	NotifyBlockConnected, NotifyBlockDisconnected: Hash, Height, Block (Block may be nil)
//	NotifyReorg:                                   Reorg
//	NotifyMempoolAdded:                            TxID, Tx
//	NotifyMempoolRemoved:                          TxID, Reason, Tx (may be nil)
//
// Lost is the number of notifications the source dropped (full channel)
// just before this one. A Notification and what it points to are never
// modified after delivery; reads are safe for concurrent use.
type Notification struct {
	Kind NotificationKind
	Lost uint64

	Hash   chain.Hash
	Height uint64
	Block  *chain.Block

	Reorg *Reorg

	TxID   chain.Hash
	Tx     *chain.Tx
	Reason string
}

// Reorg describes a reorganisation (chain.Reorg): Removed lists the
// disconnected blocks from the old tip down, Added the connected ones from
// the fork point up.
type Reorg struct {
	ForkPoint  chain.Hash
	ForkHeight uint64
	Removed    []chain.Hash
	Added      []chain.Hash
	OldTip     chain.Hash
	NewTip     chain.Hash
}

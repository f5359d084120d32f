package rpc

import (
	"context"
	"math/big"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// Backend is everything the RPC server needs from the node. The node's
// composition root implements it with an adaptor over chain, mempool, miner,
// p2p and wallet. Every method must be safe for concurrent use: the server
// calls them from many request goroutines at once.
//
// A subsystem the node runs without (no wallet, no miner, p2p disabled)
// answers its methods with an error wrapping ErrNotAvailable; the server
// maps that to Bitcoin Core's "disabled" error of the subsystem. Lookups of
// unknown blocks, transactions or entries return an error wrapping
// ErrNotFound (chain.ErrNotFound is accepted too). Other sentinels are
// listed in errors.go.
type Backend interface {
	ChainBackend
	MempoolBackend
	MiningBackend
	NetBackend
	WalletBackend
	EventSource
}

// ChainBackend reads and steers the block chain.
type ChainBackend interface {
	// Params returns the network parameters (read-only).
	Params() *chain.Params
	// Tip returns the current best block.
	Tip() ChainTip
	// BlockMeta returns the index entry of any known block (main chain, side
	// chain or invalid), false if the hash is unknown.
	BlockMeta(h chain.Hash) (BlockMeta, bool)
	// Block returns a stored block; an error wrapping ErrNotFound if absent.
	Block(h chain.Hash) (*chain.Block, error)
	// HashAtHeight returns the main-chain block at height.
	HashAtHeight(height uint64) (chain.Hash, bool)
	// ChainTips returns every known tip (see chain.TipInfo).
	ChainTips() []ChainTipInfo
	// OrphanCount returns the number of blocks waiting for their parent.
	OrphanCount() int
	// Account returns the confirmed state of an address at the tip.
	Account(a chain.Address) Account
	// Transaction looks a transaction up in the main chain's index; an
	// error wrapping ErrNotFound if it is not there.
	Transaction(id chain.Hash) (*chain.Tx, TxLocation, error)
	// SubmitBlock validates and stores a block from outside (submitblock,
	// an external miner). Rule violations are *chain.RuleError values.
	SubmitBlock(b *chain.Block) (SubmitStatus, error)
	// InvalidateBlock marks a block and its descendants invalid.
	InvalidateBlock(h chain.Hash) error
	// ReconsiderBlock clears the invalid mark of a block, its ancestors and
	// descendants.
	ReconsiderBlock(h chain.Hash) error
}

// MempoolBackend reads and feeds the transaction pool.
type MempoolBackend interface {
	// MempoolInfo returns the pool's size and limits.
	MempoolInfo() (MempoolInfo, error)
	// MempoolEntries returns every pending transaction, in no particular order.
	MempoolEntries() ([]MempoolEntry, error)
	// MempoolEntry returns one pending transaction; an error wrapping
	// ErrNotFound if it is not pending.
	MempoolEntry(id chain.Hash) (MempoolEntry, error)
	// SubmitTx validates a transaction, adds it to the pool and relays it.
	// A transaction already pending is ErrAlreadyInMempool, one already in
	// the chain ErrAlreadyInChain, a rejection a *RejectError.
	SubmitTx(tx *chain.Tx) error
	// TestTx runs SubmitTx's checks without adding or relaying.
	TestTx(tx *chain.Tx) error
	// PendingAccount returns the pool's view of a sender.
	PendingAccount(a chain.Address) (PendingAccount, error)
}

// MiningBackend drives block production.
type MiningBackend interface {
	// BlockTemplate builds a template on the current tip. payTo selects the
	// coinbase recipient; nil means the node's configured miner address (an
	// error if there is none).
	BlockTemplate(payTo *chain.Address) (*BlockTemplate, error)
	// GenerateToAddress mines n blocks on the tip paying to, trying at most
	// maxTries nonces in total, and returns the hashes of the blocks it
	// connected. It stops early, returning what it has, when ctx ends.
	GenerateToAddress(ctx context.Context, n int, to chain.Address, maxTries uint64) ([]chain.Hash, error)
	// SetGenerate starts (with threads workers; 0 or less means one per
	// core) or stops the background miner.
	SetGenerate(on bool, threads int) error
	// MinerStatus reports the background miner.
	MinerStatus() (MinerStatus, error)
}

// NetBackend reads and steers the peer-to-peer layer. Peers are named by
// their libp2p peer id or by a multiaddr ending in /p2p/<peer id>.
type NetBackend interface {
	// Peers returns the connected peers.
	Peers() ([]PeerInfo, error)
	// NetworkInfo returns the local node's network state.
	NetworkInfo() (NetworkInfo, error)
	// AddNode adds a peer to, or removes it from, the redial list, or
	// dials it once. ErrNodeAlreadyAdded / ErrNodeNotAdded / ErrInvalidPeer.
	AddNode(addr string, cmd AddNodeCommand) error
	// DisconnectNode closes the connections to a peer; ErrNodeNotConnected
	// if there are none.
	DisconnectNode(peer string) error
	// SetNetworkActive enables or disables all peer-to-peer activity.
	SetNetworkActive(active bool) error
	// Ban bans a peer until the given time; ErrAlreadyBanned, ErrInvalidPeer.
	Ban(peer string, until time.Time) error
	// Unban lifts a ban; ErrNotBanned if there is none.
	Unban(peer string) error
	// ListBanned returns the current bans.
	ListBanned() ([]BanEntry, error)
	// ClearBanned lifts every ban.
	ClearBanned() error
	// Partition blocks the given peers (dials both ways refused, open
	// connections closed) until Heal: the devnet partition control.
	Partition(peers []string) error
	// Heal lifts every partition block and redials the peers.
	Heal() error
}

// WalletBackend is the node's built-in wallet.
type WalletBackend interface {
	// NewAddress creates a key and returns its address.
	NewAddress(label string) (chain.Address, error)
	// WalletBalance returns the summed confirmed balance of the wallet's
	// addresses.
	WalletBalance() (uint64, error)
	// SendToAddress builds, signs and submits a transfer; ErrInsufficientFunds
	// when no wallet address can pay it.
	SendToAddress(req SendRequest) (chain.Hash, error)
	// ListTransactions returns up to count wallet transactions, most recent
	// last, skipping the skip most recent ones.
	ListTransactions(count, skip int) ([]WalletTx, error)
}

// EventSource streams chain and mempool events to the WebSocket
// subscribers and to waitfornewblock.
type EventSource interface {
	// SubscribeEvents returns a channel of notifications and a function
	// that ends the subscription and closes the channel. The source must
	// never block on a full channel: it drops the notification and counts
	// it in the Lost field of the next one it delivers. A nil channel means
	// the node has no event source (WebSocket subscriptions and
	// waitfornewblock's wakeups are then unavailable). After the cancel
	// function returns no further send may happen (close the channel under
	// the lock the sender holds). The server subscribes once, in Run.
	SubscribeEvents(buffer int) (<-chan Notification, func())
}

// ChainTip is the best block: chain.Snapshot's fields. It is a plain value, safe for concurrent reads.
type ChainTip struct {
	Hash        chain.Hash
	Height      uint64
	ChainWork   *big.Int
	Bits        uint32
	Time        uint32 // header timestamp
	MedianTime  int64  // median time past of the tip
	StateDigest chain.Hash
	NextBits    uint32 // bits required of the next block
}

// BlockMeta is a block index entry: chain.BlockInfo's fields plus the
// median time past. It is a plain value, safe for concurrent reads.
type BlockMeta struct {
	Hash        chain.Hash
	Header      chain.Header
	Height      uint64
	ChainWork   *big.Int
	MedianTime  int64
	InMainChain bool
	Invalid     bool
	NextHash    chain.Hash // main-chain successor, zero if none
	TxCount     int
	Size        int
	// ChainTxCount is the number of transactions from genesis up to and
	// including this block (getchaintxstats' txcount).
	ChainTxCount uint64
}

// ChainTipInfo is one chain tip (chain.TipInfo). Status is "active",
// "valid-fork", "valid-headers", "headers-only" (validated header, block
// not downloaded) or "invalid". It is a plain value, safe for concurrent reads.
type ChainTipInfo struct {
	Hash      chain.Hash
	Height    uint64
	BranchLen uint64
	Status    string
}

// Account is confirmed account state (chain.Account): Nonce is the next
// nonce the chain expects. It is a plain value, safe for concurrent reads.
type Account struct {
	Balance, Nonce uint64
}

// TxLocation says where a confirmed transaction is. It is a plain value, safe for concurrent reads.
type TxLocation struct {
	Block  chain.Hash
	Height uint64
}

// SubmitStatus is the outcome of a block submission that broke no rule.
type SubmitStatus int

const (
	// SubmitConnected: the block extended or reorganised the main chain.
	SubmitConnected SubmitStatus = iota + 1
	// SubmitSideChain: stored on a side chain with less work.
	SubmitSideChain
	// SubmitOrphan: held until its parent arrives.
	SubmitOrphan
	// SubmitDuplicate: the block was already known.
	SubmitDuplicate
)

// MempoolInfo describes the pool. Fee rates are in base units per byte. It is a plain value, safe for concurrent reads.
type MempoolInfo struct {
	Count        int
	Bytes        int
	Usage        int // memory used, bytes (estimate)
	TotalFee     uint64
	MaxBytes     int
	MinFeeRate   uint64 // current minimum for a new transaction
	RelayFeeRate uint64 // configured floor
}

// MempoolEntry is one pending transaction. It is a plain value, safe for concurrent reads.
type MempoolEntry struct {
	Tx     *chain.Tx
	ID     chain.Hash
	Size   int
	Time   time.Time // when it entered the pool
	Height uint64    // tip height when it entered
	Ready  bool      // false while held back by a nonce gap
}

// PendingAccount is the pool's view of a sender: Nonce is the next nonce a
// new transaction must use (the chain's if nothing is pending), Count the
// number of pending transactions and Spend their summed amount plus fee. It is a plain value, safe for concurrent reads.
type PendingAccount struct {
	Nonce uint64
	Count int
	Spend uint64
}

// BlockTemplate is a block under construction on the tip. Coinbase has an
// all-zero extra-nonce; Txs excludes the coinbase and is in block order. It is a plain value, safe for concurrent reads.
type BlockTemplate struct {
	Version   uint32
	PrevBlock chain.Hash
	Height    uint64
	Bits      uint32
	CurTime   uint32 // suggested header time
	MinTime   int64  // earliest allowed header time (median time past + 1)
	Coinbase  *chain.Tx
	Txs       []*chain.Tx
}

// MinerStatus reports the background miner. It is a plain value, safe for concurrent reads.
type MinerStatus struct {
	Running      bool
	Threads      int
	HashesPerSec float64
}

// PeerInfo describes a connected peer. It is a plain value, safe for concurrent reads.
type PeerInfo struct {
	PeerID         string
	Addr           string // remote multiaddr
	Inbound        bool
	Manual         bool // added with addnode / a bootnode
	ConnTime       time.Time
	PingTime       time.Duration
	BytesSent      uint64
	BytesRecv      uint64
	Agent          string
	StartingHeight uint64
	SyncedHeight   uint64
	Misbehavior    int
}

// NetworkInfo describes the local node's network state. It is a plain value, safe for concurrent reads.
type NetworkInfo struct {
	// Version is the node version in Core's integer encoding
	// (1000000*major + 10000*minor + 100*patch: 10000 for 0.1.0).
	Version int
	// Agent is the text identity in Core's form, e.g. "/Quarry:0.1.0/".
	Agent string
	// ProtocolVersion is the sync protocol's version number.
	ProtocolVersion int
	// Protocol is the sync protocol's libp2p id, e.g. "/quarry/dev/sync/1".
	Protocol    string
	LocalPeerID string
	ListenAddrs []string
	Active      bool
	Inbound     int
	Outbound    int
	Partitioned []string
}

// AddNodeCommand is addnode's command.
type AddNodeCommand string

// addnode commands, as in Core.
const (
	AddNodeAdd    AddNodeCommand = "add"
	AddNodeRemove AddNodeCommand = "remove"
	AddNodeOneTry AddNodeCommand = "onetry"
)

// BanEntry is one ban. It is a plain value, safe for concurrent reads.
type BanEntry struct {
	Peer    string
	Created time.Time
	Until   time.Time
	Reason  string
}

// SendRequest is a wallet payment. Fee 0 lets the wallet choose;
// SubtractFee takes the fee out of Amount. It is a plain value, safe for concurrent reads.
type SendRequest struct {
	To          chain.Address
	Amount      uint64
	Fee         uint64
	Memo        []byte
	SubtractFee bool
}

// WalletTx is a transaction that touches the wallet. Amount is signed from
// the wallet's point of view (negative for a send). It is a plain value, safe for concurrent reads.
type WalletTx struct {
	TxID      chain.Hash
	Address   chain.Address // the counterparty (send) or own address (receive)
	Category  string        // "send", "receive", "generate" or "immature"
	Amount    int64
	Fee       uint64 // sends only
	Nonce     uint64
	Confirmed bool
	Block     chain.Hash
	Height    uint64
	Time      time.Time
	Memo      []byte
}

package rpctest

import (
	"context"
	"fmt"
	"maps"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
)

// BlockSpacing is the time between the fake's blocks.
const BlockSpacing = 600

// Backend is the fake. The exported switches make a subsystem answer
// rpc.ErrNotAvailable; set them before handing the Backend to a server.
type Backend struct {
	NoMempool, NoMining, NoNet, NoWallet, NoEvents bool

	p *chain.Params

	mu       sync.Mutex
	blocks   map[chain.Hash]*blockEntry
	main     []chain.Hash
	accounts map[chain.Address]rpc.Account
	txIndex  map[chain.Hash]chain.Hash
	mempool  map[chain.Hash]rpc.MempoolEntry
	orphans  int
	sideTip  chain.Hash
	digest   chain.Hash // state digest at the tip, updated by connect

	peers       []rpc.PeerInfo
	added       map[string]bool
	bans        map[string]rpc.BanEntry
	partitioned []string
	netActive   bool
	generating  bool
	threads     int
	walletAddrs []chain.Address

	subs   map[int]*subscriber
	nextID int
}

type subscriber struct {
	ch   chan rpc.Notification
	lost uint64
}

// Genesis-relative times: block i has time genesis + i*BlockSpacing.
func (f *Backend) blockTime(height uint64) uint32 {
	return f.p.GenesisBlock.Header.Timestamp + uint32(height)*BlockSpacing
}

// New builds the fake: regtest genesis and five main-chain blocks mined to
// KeyAddress(1) (block 3 carries a transfer 1 -> 2 with nonce 0), a
// one-block side branch at height 4, two pending transfers from key 1
// (nonces 1 and 2) and one from key 3 held back by a nonce gap, two peers and
// a ban.
func New() *Backend {
	p := chain.RegtestParams()
	f := &Backend{
		p:         p,
		blocks:    make(map[chain.Hash]*blockEntry),
		accounts:  make(map[chain.Address]rpc.Account),
		txIndex:   make(map[chain.Hash]chain.Hash),
		mempool:   make(map[chain.Hash]rpc.MempoolEntry),
		added:     make(map[string]bool),
		bans:      make(map[string]rpc.BanEntry),
		netActive: true,
		subs:      make(map[int]*subscriber),
		orphans:   1,
	}
	f.connect(f.addBlock(p.GenesisBlock))
	miner, alice, bob := KeyAddress(1), KeyAddress(1), KeyAddress(2)
	for h := uint64(1); h <= 5; h++ {
		var txs []*chain.Tx
		if h == 3 {
			txs = append(txs, transfer(p, 1, bob, 0, 10*chain.Coin, 1000, "hello quarry"))
		}
		f.connect(f.addBlock(makeBlock(p, f.main[h-1], h, f.blockTime(h), miner, txs, 0)))
	}
	side := f.addBlock(makeBlock(p, f.main[3], 4, f.blockTime(4)+1, bob, nil, 1))
	f.sideTip = side.hash
	for n := uint64(1); n <= 2; n++ {
		tx := transfer(p, 1, bob, n, n*chain.Coin, 2000, "")
		f.mempool[tx.TxID()] = rpc.MempoolEntry{Tx: tx, ID: tx.TxID(), Size: tx.SerializeSize(), Time: f.Now().Add(-time.Duration(3-n) * time.Minute), Height: 5, Ready: true}
	}
	gap := transfer(p, 3, alice, 7, chain.Coin, 5000, "queued")
	f.mempool[gap.TxID()] = rpc.MempoolEntry{Tx: gap, ID: gap.TxID(), Size: gap.SerializeSize(), Time: f.Now().Add(-time.Minute), Height: 5}
	f.peers = []rpc.PeerInfo{
		{PeerID: "12D3KooWPeerB", Addr: "/ip4/127.0.0.1/tcp/37801", Inbound: true, ConnTime: f.Now().Add(-time.Hour), PingTime: 2 * time.Millisecond, BytesSent: 1200, BytesRecv: 3400, Agent: "/quarry:0.1.0/", StartingHeight: 3, SyncedHeight: 5},
		{PeerID: "12D3KooWPeerA", Addr: "/ip4/127.0.0.1/tcp/37800", Manual: true, ConnTime: f.Now().Add(-2 * time.Hour), PingTime: time.Millisecond, BytesSent: 5600, BytesRecv: 7800, Agent: "/quarry:0.1.0/", StartingHeight: 0, SyncedHeight: 5, Misbehavior: 10},
	}
	f.bans["12D3KooWBanned"] = rpc.BanEntry{Peer: "12D3KooWBanned", Created: f.Now().Add(-time.Hour), Until: f.Now().Add(23 * time.Hour), Reason: "manually added"}
	f.walletAddrs = []chain.Address{KeyAddress(1)}
	return f
}

// Now is the fake's fixed clock: one block spacing after block 5.
func (f *Backend) Now() time.Time { return time.Unix(int64(f.blockTime(6)), 0) }

// Params implements rpc.ChainBackend.
func (f *Backend) Params() *chain.Params { return f.p }

// Tip implements rpc.ChainBackend.
func (f *Backend) Tip() rpc.ChainTip {
	f.mu.Lock()
	defer f.mu.Unlock()
	e := f.tipEntry()
	return rpc.ChainTip{Hash: e.hash, Height: e.height, ChainWork: new(big.Int).Set(e.work), Bits: e.block.Header.Bits,
		Time: e.block.Header.Timestamp, MedianTime: e.mtp, StateDigest: f.digest, NextBits: f.p.PowLimitBits}
}

// BlockMeta implements rpc.ChainBackend.
func (f *Backend) BlockMeta(h chain.Hash) (rpc.BlockMeta, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.blocks[h]
	if !ok {
		return rpc.BlockMeta{}, false
	}
	m := rpc.BlockMeta{Hash: e.hash, Header: e.block.Header, Height: e.height, ChainWork: new(big.Int).Set(e.work),
		MedianTime: e.mtp, InMainChain: e.main, Invalid: e.invalid, TxCount: len(e.block.Txs), Size: e.block.SerializeSize(),
		ChainTxCount: e.chainTx}
	if e.main && int(e.height)+1 < len(f.main) {
		m.NextHash = f.main[e.height+1]
	}
	return m, true
}

// Block implements rpc.ChainBackend.
func (f *Backend) Block(h chain.Hash) (*chain.Block, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if e, ok := f.blocks[h]; ok {
		return e.block, nil
	}
	return nil, fmt.Errorf("block %s: %w", h, rpc.ErrNotFound)
}

// HashAtHeight implements rpc.ChainBackend.
func (f *Backend) HashAtHeight(height uint64) (chain.Hash, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if height >= uint64(len(f.main)) {
		return chain.Hash{}, false
	}
	return f.main[height], true
}

// ChainTips implements rpc.ChainBackend.
func (f *Backend) ChainTips() []rpc.ChainTipInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	tip := f.tipEntry()
	tips := []rpc.ChainTipInfo{{Hash: tip.hash, Height: tip.height, Status: "active"}}
	if side, ok := f.blocks[f.sideTip]; ok && !side.main {
		status := "valid-fork"
		if side.invalid {
			status = "invalid"
		}
		tips = append(tips, rpc.ChainTipInfo{Hash: side.hash, Height: side.height, BranchLen: 1, Status: status})
	}
	return tips
}

// OrphanCount implements rpc.ChainBackend.
func (f *Backend) OrphanCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.orphans
}

// Account implements rpc.ChainBackend.
func (f *Backend) Account(a chain.Address) rpc.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accounts[a]
}

// Transaction implements rpc.ChainBackend.
func (f *Backend) Transaction(id chain.Hash) (*chain.Tx, rpc.TxLocation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	bh, ok := f.txIndex[id]
	if !ok {
		return nil, rpc.TxLocation{}, &chain.RuleError{Kind: chain.ErrNotFound, Description: "transaction not found"}
	}
	e := f.blocks[bh]
	for _, tx := range e.block.Txs {
		if tx.TxID() == id {
			return tx, rpc.TxLocation{Block: bh, Height: e.height}, nil
		}
	}
	return nil, rpc.TxLocation{}, rpc.ErrNotFound
}

// SubmitBlock implements rpc.ChainBackend with a few real checks: known,
// parent, proof of work, merkle root; a valid block on the tip connects.
func (f *Backend) SubmitBlock(b *chain.Block) (rpc.SubmitStatus, error) {
	h := b.Hash()
	f.mu.Lock()
	if e, ok := f.blocks[h]; ok {
		f.mu.Unlock()
		if e.invalid {
			return 0, &chain.RuleError{Kind: chain.ErrKnownInvalid, Description: "block is known to be invalid"}
		}
		return rpc.SubmitDuplicate, nil
	}
	if _, ok := f.blocks[b.Header.PrevBlock]; !ok {
		f.orphans++
		f.mu.Unlock()
		return rpc.SubmitOrphan, nil
	}
	if err := chain.CheckProofOfWork(h, b.Header.Bits, f.p.PowLimit); err != nil {
		f.mu.Unlock()
		return 0, err
	}
	if root, mutated := chain.MerkleRoot(b.TxIDs()); root != b.Header.MerkleRoot || mutated {
		f.mu.Unlock()
		return 0, &chain.RuleError{Kind: chain.ErrBadMerkleRoot, Description: "merkle root mismatch"}
	}
	onTip := b.Header.PrevBlock == f.main[len(f.main)-1]
	e := f.addBlock(b)
	if !onTip {
		f.mu.Unlock()
		return rpc.SubmitSideChain, nil
	}
	f.connect(e)
	f.mu.Unlock()
	f.Emit(rpc.Notification{Kind: rpc.NotifyBlockConnected, Hash: h, Height: e.height, Block: b})
	return rpc.SubmitConnected, nil
}

// InvalidateBlock implements rpc.ChainBackend (side branch only).
func (f *Backend) InvalidateBlock(h chain.Hash) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.blocks[h]
	if !ok {
		return rpc.ErrNotFound
	}
	if e.main {
		return fmt.Errorf("the fake cannot invalidate main-chain block %s", h)
	}
	e.invalid = true
	return nil
}

// ReconsiderBlock implements rpc.ChainBackend.
func (f *Backend) ReconsiderBlock(h chain.Hash) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.blocks[h]
	if !ok {
		return rpc.ErrNotFound
	}
	e.invalid = false
	return nil
}

// MineBlock mines a block with the given transactions on the tip (paying
// KeyAddress(1)), connects it and emits block_connected. It returns the
// block.
func (f *Backend) MineBlock(txs ...*chain.Tx) *chain.Block {
	f.mu.Lock()
	tip := f.tipEntry()
	b := makeBlock(f.p, tip.hash, tip.height+1, f.blockTime(tip.height+1), KeyAddress(1), txs, 0)
	e := f.addBlock(b)
	f.connect(e)
	f.mu.Unlock()
	f.Emit(rpc.Notification{Kind: rpc.NotifyBlockConnected, Hash: e.hash, Height: e.height, Block: b})
	return b
}

// SubscribeEvents implements rpc.EventSource.
func (f *Backend) SubscribeEvents(buffer int) (<-chan rpc.Notification, func()) {
	if f.NoEvents {
		return nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextID
	f.nextID++
	s := &subscriber{ch: make(chan rpc.Notification, buffer)}
	f.subs[id] = s
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			f.mu.Lock()
			delete(f.subs, id)
			f.mu.Unlock()
			close(s.ch)
		})
	}
}

// Emit delivers n to every subscriber without blocking, as a real source
// must (a full channel drops and counts it in the next Lost). It reports
// whether every subscriber got it.
func (f *Backend) Emit(n rpc.Notification) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := true
	for _, s := range f.subs {
		m := n
		m.Lost = n.Lost + s.lost
		select {
		case s.ch <- m:
			s.lost = 0
		default:
			s.lost++
			all = false
		}
	}
	return all
}

// Subscribers returns the number of open event subscriptions.
func (f *Backend) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// Mempool returns the pending transaction ids, sorted.
func (f *Backend) Mempool() []chain.Hash {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]chain.Hash, 0, len(f.mempool))
	for id := range f.mempool {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
	return ids
}

// Partitioned returns the peers blocked by the partition control.
func (f *Backend) Partitioned() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.partitioned...)
}

// Transfer returns a signed transfer from key i (for tests).
func (f *Backend) Transfer(from int, to chain.Address, nonce, amount, fee uint64, memo string) *chain.Tx {
	return transfer(f.p, from, to, nonce, amount, fee, memo)
}

// GenerateToAddress implements rpc.MiningBackend by mining real regtest
// blocks on the tip.
func (f *Backend) GenerateToAddress(ctx context.Context, n int, to chain.Address, maxTries uint64) ([]chain.Hash, error) {
	if f.NoMining {
		return nil, rpc.ErrNotAvailable
	}
	var out []chain.Hash
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		f.mu.Lock()
		tip := f.tipEntry()
		b := makeBlock(f.p, tip.hash, tip.height+1, f.blockTime(tip.height+1), to, nil, 0)
		e := f.addBlock(b)
		f.connect(e)
		f.mu.Unlock()
		f.Emit(rpc.Notification{Kind: rpc.NotifyBlockConnected, Hash: e.hash, Height: e.height, Block: b})
		out = append(out, e.hash)
	}
	return out, nil
}

// Clone returns an independent copy of the fake's state (switches, chain,
// mempool, peers, bans, wallet), without event subscribers: cheaper than
// New when a test needs many fresh fakes.
func (f *Backend) Clone() *Backend {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &Backend{
		NoMempool: f.NoMempool, NoMining: f.NoMining, NoNet: f.NoNet, NoWallet: f.NoWallet, NoEvents: f.NoEvents,
		p: f.p, blocks: make(map[chain.Hash]*blockEntry, len(f.blocks)), main: append([]chain.Hash(nil), f.main...),
		accounts: maps.Clone(f.accounts), txIndex: maps.Clone(f.txIndex), mempool: maps.Clone(f.mempool),
		orphans: f.orphans, sideTip: f.sideTip, digest: f.digest,
		peers: append([]rpc.PeerInfo(nil), f.peers...), added: maps.Clone(f.added), bans: maps.Clone(f.bans),
		partitioned: append([]string(nil), f.partitioned...), netActive: f.netActive, generating: f.generating,
		threads: f.threads, walletAddrs: append([]chain.Address(nil), f.walletAddrs...),
		subs: make(map[int]*subscriber),
	}
	for h, e := range f.blocks {
		cp := *e
		c.blocks[h] = &cp
	}
	return c
}

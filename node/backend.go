package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/miner"
	"github.com/quarrychain/quarry/node/buildinfo"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/rpc"
)

// backend implements rpc.Backend over the node's components. Every method
// is safe for concurrent use because the components are.
type backend struct {
	n     *Node
	c     *chain.Chain
	pool  *mempool.Pool
	comps *components
}

var _ rpc.Backend = (*backend)(nil)

// --- chain ---

func (b *backend) Params() *chain.Params { return b.c.Params() }

func (b *backend) Tip() rpc.ChainTip {
	s := b.c.Best()
	return rpc.ChainTip{Hash: s.Hash, Height: s.Height, ChainWork: s.ChainWork, Bits: s.Bits, Time: s.Timestamp,
		MedianTime: s.MedianTime, StateDigest: s.StateDigest, NextBits: s.NextBits}
}

func (b *backend) BlockMeta(h chain.Hash) (rpc.BlockMeta, bool) {
	i, ok := b.c.BlockInfo(h)
	if !ok || !i.HaveData {
		// A headers-only entry (headers-first sync) has no block to
		// describe yet; RPC treats it as not found until it is downloaded.
		return rpc.BlockMeta{}, false
	}
	return rpc.BlockMeta{Hash: i.Hash, Header: i.Header, Height: i.Height, ChainWork: i.ChainWork, MedianTime: i.MedianTime,
		InMainChain: i.InMainChain, Invalid: i.Invalid, NextHash: i.NextHash, TxCount: i.TxCount, Size: i.Size, ChainTxCount: i.ChainTxCount}, true
}

func (b *backend) Block(h chain.Hash) (*chain.Block, error) { return b.c.Block(h) }

func (b *backend) HashAtHeight(height uint64) (chain.Hash, bool) { return b.c.HashAtHeight(height) }

func (b *backend) ChainTips() []rpc.ChainTipInfo {
	tips := b.c.Tips()
	out := make([]rpc.ChainTipInfo, len(tips))
	for i, t := range tips {
		out[i] = rpc.ChainTipInfo{Hash: t.Hash, Height: t.Height, BranchLen: t.BranchLen, Status: t.Status}
	}
	return out
}

func (b *backend) OrphanCount() int { return b.c.OrphanCount() }

func (b *backend) Account(a chain.Address) rpc.Account {
	acc := b.c.Account(a)
	return rpc.Account{Balance: acc.Balance, Nonce: acc.Nonce}
}

func (b *backend) Transaction(id chain.Hash) (*chain.Tx, rpc.TxLocation, error) {
	tx, bh, height, err := b.c.Transaction(id)
	if err != nil {
		return nil, rpc.TxLocation{}, err
	}
	return tx, rpc.TxLocation{Block: bh, Height: height}, nil
}

func (b *backend) SubmitBlock(blk *chain.Block) (rpc.SubmitStatus, error) {
	res, err := b.n.tc.ProcessBlock(blk)
	if errors.Is(err, chain.ErrDuplicateBlock) {
		return rpc.SubmitDuplicate, nil
	}
	if err != nil {
		return 0, err
	}
	switch res.Status {
	case chain.StatusConnected:
		b.n.announce(b.comps, blk)
		return rpc.SubmitConnected, nil
	case chain.StatusSideChain:
		b.n.announce(b.comps, blk)
		return rpc.SubmitSideChain, nil
	case chain.StatusOrphan:
		return rpc.SubmitOrphan, nil
	}
	return rpc.SubmitDuplicate, nil
}

func (b *backend) InvalidateBlock(h chain.Hash) error { return b.c.InvalidateBlock(h) }
func (b *backend) ReconsiderBlock(h chain.Hash) error { return b.c.ReconsiderBlock(h) }

// --- mempool ---

func (b *backend) MempoolInfo() (rpc.MempoolInfo, error) {
	i := b.pool.Info()
	return rpc.MempoolInfo{Count: i.Count, Bytes: i.Bytes, Usage: i.Bytes, TotalFee: i.TotalFee, MaxBytes: i.MaxBytes,
		MinFeeRate: uint64(math.Ceil(i.MinAcceptRate)), RelayFeeRate: i.MinFeeRate}, nil
}

func toEntry(e mempool.Entry) rpc.MempoolEntry {
	return rpc.MempoolEntry{Tx: e.Tx, ID: e.ID, Size: e.Size, Time: e.Added, Height: e.Height, Ready: !e.Queued}
}

func (b *backend) MempoolEntries() ([]rpc.MempoolEntry, error) {
	es := b.pool.Entries()
	out := make([]rpc.MempoolEntry, len(es))
	for i, e := range es {
		out[i] = toEntry(e)
	}
	return out, nil
}

func (b *backend) MempoolEntry(id chain.Hash) (rpc.MempoolEntry, error) {
	e, ok := b.pool.Entry(id)
	if !ok {
		return rpc.MempoolEntry{}, fmt.Errorf("%w: transaction %s not in mempool", rpc.ErrNotFound, id)
	}
	return toEntry(e), nil
}

// admit runs a mempool verdict (add, or dry-run check) for tx and maps it
// to the RPC layer's vocabulary. A confirmed transaction is refused before
// the pool sees it (the pool would only call it nonce-too-low).
func (b *backend) admit(tx *chain.Tx, verdict func(*chain.Tx) error) error {
	if _, _, _, err := b.c.Transaction(tx.TxID()); err == nil {
		return rpc.ErrAlreadyInChain
	}
	err := verdict(tx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mempool.ErrDuplicate):
		return rpc.ErrAlreadyInMempool
	}
	return &rpc.RejectError{Reason: mempool.RejectReason(err), Err: err}
}

func (b *backend) SubmitTx(tx *chain.Tx) error {
	return b.admit(tx, func(tx *chain.Tx) error { return b.n.submitTx(b.comps, tx) })
}

func (b *backend) TestTx(tx *chain.Tx) error { return b.admit(tx, b.pool.Check) }

func (b *backend) PendingAccount(a chain.Address) (rpc.PendingAccount, error) {
	s := b.pool.Sender(a)
	return rpc.PendingAccount{Nonce: s.PendingNonce, Count: s.Ready + s.Queued, Spend: s.Confirmed.Balance - s.PendingBalance}, nil
}

// --- mining ---

func (b *backend) BlockTemplate(payTo *chain.Address) (*rpc.BlockTemplate, error) {
	var (
		t   *miner.Template
		err error
	)
	if payTo != nil {
		t, err = b.comps.miner.BuildTemplateFor(b.n.cfg.now(), *payTo)
	} else {
		t, err = b.comps.miner.BuildTemplate(b.n.cfg.now())
	}
	if err != nil {
		return nil, err
	}
	return &rpc.BlockTemplate{
		Version: t.Block.Header.Version, PrevBlock: t.PrevHash, Height: t.Height, Bits: t.Bits,
		CurTime: t.Block.Header.Timestamp, MinTime: t.MinTime, Coinbase: t.Block.Txs[0], Txs: t.Block.Txs[1:],
	}, nil
}

// generateSyncTimeout bounds generatetoaddress's wait for the mempool and
// wallet to take in the blocks it mined.
const generateSyncTimeout = 10 * time.Second

func (b *backend) GenerateToAddress(ctx context.Context, n int, to chain.Address, maxTries uint64) ([]chain.Hash, error) {
	hashes, err := b.comps.miner.GenerateBlocksMaxTries(ctx, n, to, maxTries)
	if len(hashes) > 0 {
		b.n.synced.wait(ctx, b.c.Best(), generateSyncTimeout)
	}
	return hashes, err
}

func (b *backend) SetGenerate(on bool, threads int) error {
	if threads <= 0 {
		threads = runtime.NumCPU() // RPC convention: <= 0 means one per core
	}
	return b.comps.miner.SetGenerate(on, threads)
}

func (b *backend) MinerStatus() (rpc.MinerStatus, error) {
	s := b.comps.miner.Stats()
	return rpc.MinerStatus{Running: s.Generating, Threads: s.Threads, HashesPerSec: s.HashRate}, nil
}

// --- network ---

func (b *backend) netNode() (*p2p.Node, error) {
	if b.comps.net == nil {
		return nil, fmt.Errorf("%w: networking is disabled (--no-p2p)", rpc.ErrNotAvailable)
	}
	return b.comps.net, nil
}

// parsePeer accepts a peer id or a multiaddr ending in /p2p/<id>.
func parsePeer(s string) (peer.ID, error) {
	if strings.HasPrefix(s, "/") {
		ma, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return "", fmt.Errorf("%w: %v", rpc.ErrInvalidPeer, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(ma)
		if err != nil {
			return "", fmt.Errorf("%w: %v", rpc.ErrInvalidPeer, err)
		}
		return ai.ID, nil
	}
	id, err := peer.Decode(s)
	if err != nil {
		return "", fmt.Errorf("%w: %v", rpc.ErrInvalidPeer, err)
	}
	return id, nil
}

func (b *backend) Peers() ([]rpc.PeerInfo, error) {
	nn, err := b.netNode()
	if err != nil {
		return nil, err
	}
	var out []rpc.PeerInfo
	for _, p := range nn.Peers() {
		pi := rpc.PeerInfo{PeerID: p.ID.String(), Inbound: p.Inbound, Manual: p.Static, ConnTime: p.ConnectedSince,
			BytesSent: uint64(max(p.BytesOut, 0)), BytesRecv: uint64(max(p.BytesIn, 0)), Agent: p.AgentVersion,
			PingTime: p.PingTime, StartingHeight: p.TipHeight, SyncedHeight: p.TipHeight, Misbehavior: p.BanScore}
		if len(p.Addrs) > 0 {
			pi.Addr = p.Addrs[0].String()
		}
		out = append(out, pi)
	}
	return out, nil
}

func (b *backend) NetworkInfo() (rpc.NetworkInfo, error) {
	nn, err := b.netNode()
	if err != nil {
		return rpc.NetworkInfo{}, err
	}
	bi := buildinfo.Read()
	ni := rpc.NetworkInfo{Version: bi.Numeric(), Agent: bi.UserAgent(), ProtocolVersion: p2p.ProtocolVersion,
		Protocol:    string(p2p.SyncProtocolID(b.c.Params())),
		LocalPeerID: nn.ID().String(), Active: nn.NetworkActive()}
	for _, a := range nn.Addrs() {
		ni.ListenAddrs = append(ni.ListenAddrs, a.String())
	}
	for _, p := range nn.Peers() {
		if p.Inbound {
			ni.Inbound++
		} else {
			ni.Outbound++
		}
	}
	for _, p := range nn.Partitioned() {
		ni.Partitioned = append(ni.Partitioned, p.String())
	}
	return ni, nil
}

func (b *backend) AddNode(addr string, cmd rpc.AddNodeCommand) error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	switch cmd {
	case rpc.AddNodeAdd, rpc.AddNodeOneTry:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := nn.AddPeer(ctx, addr); err != nil {
			if errors.Is(err, p2p.ErrBadPeerAddr) {
				return fmt.Errorf("%w: %v", rpc.ErrInvalidPeer, err)
			}
			return err
		}
		return nil
	case rpc.AddNodeRemove:
		id, err := parsePeer(addr)
		if err != nil {
			return err
		}
		if !nn.RemovePeer(id) {
			return rpc.ErrNodeNotAdded
		}
		return nil
	}
	return fmt.Errorf("unknown addnode command %q", cmd)
}

func (b *backend) DisconnectNode(s string) error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	id, err := parsePeer(s)
	if err != nil {
		return err
	}
	if err := nn.DisconnectPeer(id); err != nil {
		return fmt.Errorf("%w: %v", rpc.ErrNodeNotConnected, err)
	}
	return nil
}

func (b *backend) SetNetworkActive(active bool) error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	nn.SetNetworkActive(active)
	return nil
}

func (b *backend) Ban(s string, until time.Time) error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	id, err := parsePeer(s)
	if err != nil {
		return err
	}
	if nn.IsBanned(id) {
		return rpc.ErrAlreadyBanned
	}
	return nn.Ban(id, time.Until(until), "manually banned")
}

func (b *backend) Unban(s string) error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	id, err := parsePeer(s)
	if err != nil {
		return err
	}
	if !nn.Unban(id) {
		return rpc.ErrNotBanned
	}
	return nil
}

func (b *backend) ListBanned() ([]rpc.BanEntry, error) {
	nn, err := b.netNode()
	if err != nil {
		return nil, err
	}
	var out []rpc.BanEntry
	for _, ban := range nn.ListBans() {
		out = append(out, rpc.BanEntry{Peer: ban.ID.String(), Created: ban.Since, Until: ban.Until, Reason: ban.Reason})
	}
	return out, nil
}

func (b *backend) ClearBanned() error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	nn.ClearBans()
	return nil
}

func (b *backend) Partition(peers []string) error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	ids := make([]peer.ID, 0, len(peers))
	for _, s := range peers {
		id, err := parsePeer(s)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	nn.Partition(ids)
	return nil
}

func (b *backend) Heal() error {
	nn, err := b.netNode()
	if err != nil {
		return err
	}
	nn.Heal()
	return nil
}

// --- wallet ---

func (b *backend) NewAddress(string) (chain.Address, error) { return b.comps.wallet.NewAddress() }

func (b *backend) WalletBalance() (uint64, error) {
	confirmed, _, err := b.comps.wallet.Balance()
	return confirmed, err
}

func (b *backend) SendToAddress(req rpc.SendRequest) (chain.Hash, error) {
	amount, fee := req.Amount, req.Fee
	if fee == 0 {
		fee = defaultWalletFee
	}
	if req.SubtractFee {
		if amount <= fee {
			return chain.Hash{}, fmt.Errorf("amount %d does not cover the fee %d", amount, fee)
		}
		amount -= fee
	}
	send := func() (*chain.Tx, error) {
		return b.comps.wallet.Send(wallet.Payment{To: req.To, Amount: amount, Fee: fee, Memo: req.Memo})
	}
	var tx *chain.Tx
	var err error
	if b.n.adv != nil && b.n.adv.spending() {
		tx, err = b.n.adv.doubleSpend(send, func(pay *chain.Tx) (*chain.Tx, error) {
			return conflictFor(b.c.Params(), b.comps.wallet, pay)
		})
		b.comps.miner.TipChanged() // the templates drop the payment and carry the conflict
	} else {
		tx, err = send()
	}
	if err != nil {
		if errors.Is(err, wallet.ErrInsufficientFunds) {
			return chain.Hash{}, fmt.Errorf("%w: %v", rpc.ErrInsufficientFunds, err)
		}
		return chain.Hash{}, err
	}
	return tx.TxID(), nil
}

// defaultWalletFee pays well above the default minimum relay rate (1 unit
// per byte) for a transfer of ordinary size.
const defaultWalletFee = 1000

func (b *backend) ListTransactions(count, skip int) ([]rpc.WalletTx, error) {
	recs := b.comps.wallet.ListTransactions(count, skip)
	out := make([]rpc.WalletTx, 0, len(recs))
	for _, r := range recs {
		amt := int64(r.Amount)
		if r.Category == wallet.CategorySend {
			amt = -amt
		}
		addr := r.Address
		if r.Category == wallet.CategorySend {
			addr = r.Counterparty
		}
		out = append(out, rpc.WalletTx{TxID: r.ID, Address: addr, Category: string(r.Category), Amount: amt, Fee: r.Fee,
			Nonce: r.Nonce, Confirmed: r.Height > 0 || !r.BlockHash.IsZero(), Block: r.BlockHash, Height: r.Height, Time: r.Time, Memo: r.Memo})
	}
	return out, nil
}

// --- events ---

func (b *backend) SubscribeEvents(buffer int) (<-chan rpc.Notification, func()) {
	return b.n.hub.subscribe(buffer)
}

package rpctest

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
)

// MempoolInfo implements rpc.MempoolBackend.
func (f *Backend) MempoolInfo() (rpc.MempoolInfo, error) {
	if f.NoMempool {
		return rpc.MempoolInfo{}, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	info := rpc.MempoolInfo{Count: len(f.mempool), MaxBytes: 32 << 20, MinFeeRate: 1, RelayFeeRate: 1}
	for _, e := range f.mempool {
		info.Bytes += e.Size
		info.TotalFee += e.Tx.Fee
	}
	info.Usage = 2 * info.Bytes
	return info, nil
}

// MempoolEntries implements rpc.MempoolBackend.
func (f *Backend) MempoolEntries() ([]rpc.MempoolEntry, error) {
	if f.NoMempool {
		return nil, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]rpc.MempoolEntry, 0, len(f.mempool))
	for _, e := range f.mempool {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID.String() < out[j].ID.String() })
	return out, nil
}

// MempoolEntry implements rpc.MempoolBackend.
func (f *Backend) MempoolEntry(id chain.Hash) (rpc.MempoolEntry, error) {
	if f.NoMempool {
		return rpc.MempoolEntry{}, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.mempool[id]
	if !ok {
		return rpc.MempoolEntry{}, rpc.ErrNotFound
	}
	return e, nil
}

// checkTx is the fake's policy: sanity, signature, nonce and balance.
func (f *Backend) checkTx(tx *chain.Tx) error {
	id := tx.TxID()
	if _, ok := f.mempool[id]; ok {
		return rpc.ErrAlreadyInMempool
	}
	if _, ok := f.txIndex[id]; ok {
		return rpc.ErrAlreadyInChain
	}
	if err := tx.CheckSanity(f.p); err != nil {
		return &rpc.RejectError{Reason: "bad-txns-invalid", Err: err}
	}
	if err := tx.VerifySignature(); err != nil {
		return &rpc.RejectError{Reason: "bad-txns-signature", Err: err}
	}
	acct := f.accounts[tx.From()]
	if tx.Nonce < acct.Nonce {
		return &rpc.RejectError{Reason: "bad-txns-nonce-too-low", Err: fmt.Errorf("nonce %d, account expects %d", tx.Nonce, acct.Nonce)}
	}
	if tx.Amount+tx.Fee > acct.Balance {
		return &rpc.RejectError{Reason: "bad-txns-insufficient-funds", Err: fmt.Errorf("balance %d, needs %d", acct.Balance, tx.Amount+tx.Fee)}
	}
	return nil
}

// SubmitTx implements rpc.MempoolBackend.
func (f *Backend) SubmitTx(tx *chain.Tx) error {
	if f.NoMempool {
		return rpc.ErrNotAvailable
	}
	f.mu.Lock()
	if err := f.checkTx(tx); err != nil {
		f.mu.Unlock()
		return err
	}
	f.mempool[tx.TxID()] = rpc.MempoolEntry{Tx: tx, ID: tx.TxID(), Size: tx.SerializeSize(), Time: f.Now(), Height: f.tipEntry().height, Ready: true}
	f.mu.Unlock()
	f.Emit(rpc.Notification{Kind: rpc.NotifyMempoolAdded, TxID: tx.TxID(), Tx: tx})
	return nil
}

// TestTx implements rpc.MempoolBackend.
func (f *Backend) TestTx(tx *chain.Tx) error {
	if f.NoMempool {
		return rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkTx(tx)
}

// PendingAccount implements rpc.MempoolBackend.
func (f *Backend) PendingAccount(a chain.Address) (rpc.PendingAccount, error) {
	if f.NoMempool {
		return rpc.PendingAccount{}, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	p := rpc.PendingAccount{Nonce: f.accounts[a].Nonce}
	var nonces []uint64
	for _, e := range f.mempool {
		if e.Tx.From() == a && e.Ready {
			p.Count++
			p.Spend += e.Tx.Amount + e.Tx.Fee
			nonces = append(nonces, e.Tx.Nonce)
		}
	}
	sort.Slice(nonces, func(i, j int) bool { return nonces[i] < nonces[j] })
	for _, n := range nonces {
		if n == p.Nonce {
			p.Nonce++
		}
	}
	return p, nil
}

// BlockTemplate implements rpc.MiningBackend: the ready mempool
// transactions in (sender, nonce) order on the tip.
func (f *Backend) BlockTemplate(payTo *chain.Address) (*rpc.BlockTemplate, error) {
	if f.NoMining {
		return nil, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	pay := KeyAddress(1)
	if payTo != nil {
		pay = *payTo
	}
	var txs []*chain.Tx
	var fees uint64
	for _, e := range f.mempool {
		if e.Ready {
			txs = append(txs, e.Tx)
			fees += e.Tx.Fee
		}
	}
	sort.Slice(txs, func(i, j int) bool {
		a, b := txs[i].From(), txs[j].From()
		if a != b {
			return string(a[:]) < string(b[:])
		}
		return txs[i].Nonce < txs[j].Nonce
	})
	tip := f.tipEntry()
	h := tip.height + 1
	cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: f.p.ChainID, Height: h, To: pay, Amount: f.p.CalcSubsidy(h) + fees}
	return &rpc.BlockTemplate{Version: 1, PrevBlock: tip.hash, Height: h, Bits: f.p.PowLimitBits,
		CurTime: f.blockTime(h), MinTime: tip.mtp + 1, Coinbase: cb, Txs: txs}, nil
}

// SetGenerate implements rpc.MiningBackend.
func (f *Backend) SetGenerate(on bool, threads int) error {
	if f.NoMining {
		return rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.generating, f.threads = on, threads
	return nil
}

// MinerStatus implements rpc.MiningBackend.
func (f *Backend) MinerStatus() (rpc.MinerStatus, error) {
	if f.NoMining {
		return rpc.MinerStatus{}, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := rpc.MinerStatus{Running: f.generating, Threads: f.threads}
	if f.generating {
		st.HashesPerSec = 1234567
	}
	return st, nil
}

// Peers implements rpc.NetBackend.
func (f *Backend) Peers() ([]rpc.PeerInfo, error) {
	if f.NoNet {
		return nil, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]rpc.PeerInfo(nil), f.peers...), nil
}

// NetworkInfo implements rpc.NetBackend.
func (f *Backend) NetworkInfo() (rpc.NetworkInfo, error) {
	if f.NoNet {
		return rpc.NetworkInfo{}, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ni := rpc.NetworkInfo{Version: 10000, Agent: "/Quarry:0.1.0/", ProtocolVersion: 1, Protocol: "/quarry/regtest/sync/1", LocalPeerID: "12D3KooWSelf",
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/37733"}, Active: f.netActive, Partitioned: append([]string(nil), f.partitioned...)}
	for _, p := range f.peers {
		if p.Inbound {
			ni.Inbound++
		} else {
			ni.Outbound++
		}
	}
	return ni, nil
}

func peerIDOf(s string) (string, error) {
	if i := strings.LastIndex(s, "/p2p/"); i >= 0 {
		s = s[i+len("/p2p/"):]
	}
	if !strings.HasPrefix(s, "12D3KooW") || strings.ContainsAny(s, "/ ") {
		return "", fmt.Errorf("%q: %w", s, rpc.ErrInvalidPeer)
	}
	return s, nil
}

// AddNode implements rpc.NetBackend.
func (f *Backend) AddNode(addr string, cmd rpc.AddNodeCommand) error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	id, err := peerIDOf(addr)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch cmd {
	case rpc.AddNodeAdd:
		if f.added[id] {
			return rpc.ErrNodeAlreadyAdded
		}
		f.added[id] = true
	case rpc.AddNodeRemove:
		if !f.added[id] {
			return rpc.ErrNodeNotAdded
		}
		delete(f.added, id)
	}
	return nil
}

// DisconnectNode implements rpc.NetBackend.
func (f *Backend) DisconnectNode(peer string) error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	id, err := peerIDOf(peer)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range f.peers {
		if p.PeerID == id {
			f.peers = append(f.peers[:i:i], f.peers[i+1:]...)
			return nil
		}
	}
	return rpc.ErrNodeNotConnected
}

// SetNetworkActive implements rpc.NetBackend.
func (f *Backend) SetNetworkActive(active bool) error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.netActive = active
	return nil
}

// Ban implements rpc.NetBackend.
func (f *Backend) Ban(peer string, until time.Time) error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	id, err := peerIDOf(peer)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.bans[id]; ok {
		return rpc.ErrAlreadyBanned
	}
	f.bans[id] = rpc.BanEntry{Peer: id, Created: f.Now(), Until: until, Reason: "manually added"}
	return nil
}

// Unban implements rpc.NetBackend.
func (f *Backend) Unban(peer string) error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	id, err := peerIDOf(peer)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.bans[id]; !ok {
		return rpc.ErrNotBanned
	}
	delete(f.bans, id)
	return nil
}

// ListBanned implements rpc.NetBackend.
func (f *Backend) ListBanned() ([]rpc.BanEntry, error) {
	if f.NoNet {
		return nil, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]rpc.BanEntry, 0, len(f.bans))
	for _, b := range f.bans {
		out = append(out, b)
	}
	return out, nil
}

// ClearBanned implements rpc.NetBackend.
func (f *Backend) ClearBanned() error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.bans)
	return nil
}

// Partition implements rpc.NetBackend.
func (f *Backend) Partition(peers []string) error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	for _, p := range peers {
		if _, err := peerIDOf(p); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partitioned = append(f.partitioned, peers...)
	return nil
}

// Heal implements rpc.NetBackend.
func (f *Backend) Heal() error {
	if f.NoNet {
		return rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.partitioned = nil
	return nil
}

// NewAddress implements rpc.WalletBackend: keys 10, 11, ... in order.
func (f *Backend) NewAddress(label string) (chain.Address, error) {
	if f.NoWallet {
		return chain.Address{}, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a := KeyAddress(9 + len(f.walletAddrs))
	f.walletAddrs = append(f.walletAddrs, a)
	return a, nil
}

// WalletBalance implements rpc.WalletBackend.
func (f *Backend) WalletBalance() (uint64, error) {
	if f.NoWallet {
		return 0, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var sum uint64
	for _, a := range f.walletAddrs {
		sum += f.accounts[a].Balance
	}
	return sum, nil
}

// SendToAddress implements rpc.WalletBackend: pays from key 1 with the
// next pending nonce (fee 1000 base units unless given).
func (f *Backend) SendToAddress(req rpc.SendRequest) (chain.Hash, error) {
	if f.NoWallet {
		return chain.Hash{}, rpc.ErrNotAvailable
	}
	p, err := f.PendingAccount(KeyAddress(1))
	if err != nil {
		return chain.Hash{}, err
	}
	fee := req.Fee
	if fee == 0 {
		fee = 1000
	}
	amount := req.Amount
	if req.SubtractFee {
		if amount <= fee {
			return chain.Hash{}, rpc.ErrInsufficientFunds
		}
		amount -= fee
	}
	if f.Account(KeyAddress(1)).Balance < p.Spend+amount+fee {
		return chain.Hash{}, rpc.ErrInsufficientFunds
	}
	tx := transfer(f.p, 1, req.To, p.Nonce, amount, fee, string(req.Memo))
	if err := f.SubmitTx(tx); err != nil {
		return chain.Hash{}, err
	}
	return tx.TxID(), nil
}

// ListTransactions implements rpc.WalletBackend from key 1's view of the
// main chain.
func (f *Backend) ListTransactions(count, skip int) ([]rpc.WalletTx, error) {
	if f.NoWallet {
		return nil, rpc.ErrNotAvailable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	me := KeyAddress(1)
	var all []rpc.WalletTx
	for _, h := range f.main {
		e := f.blocks[h]
		for _, tx := range e.block.Txs {
			w := rpc.WalletTx{TxID: tx.TxID(), Confirmed: true, Block: h, Height: e.height,
				Time: time.Unix(int64(e.block.Header.Timestamp), 0), Memo: tx.Memo, Nonce: tx.Nonce}
			switch {
			case tx.IsCoinbase() && tx.To == me:
				w.Category, w.Address, w.Amount = "generate", me, int64(tx.Amount)
			case !tx.IsCoinbase() && tx.From() == me:
				w.Category, w.Address, w.Amount, w.Fee = "send", tx.To, -int64(tx.Amount), tx.Fee
			case !tx.IsCoinbase() && tx.To == me:
				w.Category, w.Address, w.Amount = "receive", me, int64(tx.Amount)
			default:
				continue
			}
			all = append(all, w)
		}
	}
	end := len(all) - skip
	if end < 0 {
		end = 0
	}
	start := max(end-count, 0)
	return all[start:end], nil
}

var _ rpc.Backend = (*Backend)(nil)

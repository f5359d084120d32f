package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/miner"
	"github.com/quarrychain/quarry/miner/stratum"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/rpc"
)

// components are the parts of a running node besides the chain and mempool.
type components struct {
	net *p2p.Node // nil with NoP2P
	// txPub publishes transactions: net, unless a test wraps it; nil
	// with NoP2P.
	txPub txPublisher
	// rebroadcast republishes the node's own transactions; nil with
	// NoP2P or NoRebroadcast.
	rebroadcast *rebroadcaster
	miner       *miner.Miner
	stratum     *stratum.Server // nil unless --stratum-listen
	wallet      *wallet.Wallet
	rpc         *rpc.Server // nil when RPC is off
	payTo       chain.Address
	runners     []func(context.Context) error
}

// build constructs every component (nothing runs yet) and the adaptors
// between them.
func (n *Node) build(c *chain.Chain, pool *mempool.Pool, reg prometheus.Registerer) (*components, error) {
	cfg := n.cfg
	comps := &components{}
	w, err := wallet.Open(filepath.Join(cfg.DataDir, "wallet"), cfg.params, wallet.Options{
		State:  walletState{c: c, pool: pool},
		Submit: func(tx *chain.Tx) error { return n.submitTx(comps, tx) },
		Logger: n.log,
	})
	if err != nil {
		return nil, fmt.Errorf("open wallet: %w", err)
	}
	comps.wallet = w
	if cfg.MinerAddress != "" {
		comps.payTo, _ = chain.DecodeAddress(cfg.MinerAddress, cfg.params) // validated in resolve
	} else if comps.payTo, err = w.DefaultAddress(); err != nil {
		return nil, fmt.Errorf("wallet default address: %w", err)
	}

	if !cfg.NoP2P {
		comps.net, err = p2p.New(p2p.Config{
			Params: cfg.params, Chain: n.p2pChain(), Mempool: p2pMempool{n: n, comps: comps},
			DataDir: cfg.DataDir, ListenAddr: cfg.P2PListen, Bootnodes: cfg.Bootnodes, MDNS: !cfg.NoMDNS,
			NoQUIC: cfg.P2PNoQUIC, Announce: cfg.p2pAnnounce(),
			Logger: n.log, Registerer: reg,
		})
		if err != nil {
			return nil, err
		}
		comps.txPub = comps.net
		if cfg.wrapTxPublisher != nil {
			comps.txPub = cfg.wrapTxPublisher(comps.txPub)
		}
		if !cfg.NoRebroadcast {
			net := comps.net
			comps.rebroadcast = n.newRebroadcaster(pool, comps.txPub, func() int { return len(net.BlockTopicPeers()) }, reg)
			comps.runners = append(comps.runners, comps.rebroadcast.run)
		}
		if n.adv != nil {
			n.adv.publish = func(b *chain.Block) { n.announce(comps, b) }
			n.adv.net = comps.net
			if cfg.junkEvery > 0 {
				n.adv.junkEvery = cfg.junkEvery
			}
			comps.runners = append(comps.runners, n.adv.run)
		}
		if reg != nil {
			net := comps.net
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "quarry_p2p_sync_peer_height_blocks",
				Help: "Highest chain height reported by a connected peer (sync target; compare with quarry_chain_height_blocks).",
			}, func() float64 { return float64(bestPeerHeight(net)) }))
		}
	}

	submit := miner.SubmitterFunc(func(b *chain.Block) error { return n.submitMined(comps, b) })
	comps.miner, err = miner.New(miner.Config{
		Chain: c, Txs: minerTxSource{pool: pool, adv: n.adv},
		Submitter: submit,
		PayTo:     comps.payTo, Generate: cfg.Mine, Threads: cfg.MinerThreads, HashrateLimit: cfg.MinerHashrateLimit,
		Logger: n.log, Registerer: reg, Now: cfg.now,
	})
	if err != nil {
		return nil, err
	}
	comps.runners = append(comps.runners, comps.miner.Run)
	if err := n.buildStratum(c, comps, submit, reg); err != nil {
		return nil, err
	}

	if n.cfg.rpcOn {
		comps.rpc, err = rpc.New(rpc.Config{
			Backend: &backend{n: n, c: c, pool: pool, comps: comps}, ListenAddr: cfg.RPCListen,
			AllowNonLoopback: cfg.RPCAllowRemote, User: cfg.RPCUser, Password: cfg.RPCPassword,
			CookieDir: cfg.DataDir, OnStop: n.requestStop, Logger: n.log, Registerer: reg,
		})
		if err != nil {
			return nil, err
		}
		comps.runners = append(comps.runners, comps.rpc.Run)
	}
	return comps, nil
}

// p2pChain is the chain as the network layer sees it: the chain itself,
// or on an adversarial node a view that hides its private blocks.
func (n *Node) p2pChain() p2p.Chain {
	if n.adv != nil {
		return advView{timedChain: n.tc, d: n.adv}
	}
	return n.tc
}

// requestStop is the RPC "stop" method: it cancels the node's context.
func (n *Node) requestStop() {
	n.mu.Lock()
	stop := n.stopFn
	n.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// submitTx admits a transaction the node originates (a wallet payment or
// sendrawtransaction) to the mempool, gossips it and has the rebroadcaster
// republish it while it stays unconfirmed.
func (n *Node) submitTx(comps *components, tx *chain.Tx) error {
	if n.adv != nil {
		n.adv.paymentSubmitted(tx)
	}
	if _, err := n.pool.Add(tx); err != nil {
		return err
	}
	if comps.txPub == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	err := comps.txPub.PublishTx(ctx, tx)
	if err != nil && !errors.Is(err, p2p.ErrNotRunning) {
		n.log.Debug("publishing transaction", "txid", tx.TxID(), "err", err)
	}
	if comps.rebroadcast != nil {
		comps.rebroadcast.track(tx.TxID(), err == nil)
	}
	return nil
}

// newRebroadcaster builds the rebroadcaster of the node's own
// transactions on the node's clock (or the test's).
func (n *Node) newRebroadcaster(pool *mempool.Pool, pub txPublisher, gossipPeers func() int, reg prometheus.Registerer) *rebroadcaster {
	now := n.cfg.now
	if n.cfg.rebroadcastNow != nil {
		now = n.cfg.rebroadcastNow
	}
	return newRebroadcaster(rebroadcastConfig{
		pool: pool, pub: pub, now: now, tick: n.cfg.rebroadcastTick, gossipPeers: gossipPeers,
		log: n.log.With("component", "rebroadcast"), reg: reg,
	})
}

// submitMined processes a block our miner (or submitblock) produced through
// the same path as a peer's block, then announces it.
func (n *Node) submitMined(comps *components, b *chain.Block) error {
	h := b.Hash()
	n.ours.add(h)
	if n.adv != nil && n.adv.mode.ChainLevel() {
		return n.adv.ownBlock(n.tc, b)
	}
	res, err := n.tc.ProcessBlock(b)
	if err != nil {
		return err
	}
	if res.Status == chain.StatusConnected || res.Status == chain.StatusSideChain {
		n.announce(comps, b)
	}
	return nil
}

// publishTimeout bounds one gossip publication (a block, a transaction,
// a transaction's rebroadcast).
const publishTimeout = 5 * time.Second

func (n *Node) announce(comps *components, b *chain.Block) {
	if comps.net == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := comps.net.PublishBlock(ctx, b); err != nil && !errors.Is(err, p2p.ErrNotRunning) {
		n.log.Debug("publishing block", "hash", b.Hash(), "err", err)
	}
}

// walletState gives the wallet confirmed state and mempool nonces.
type walletState struct {
	c    *chain.Chain
	pool *mempool.Pool
}

func (s walletState) Account(a chain.Address) chain.Account { return s.c.Account(a) }
func (s walletState) PendingNonce(a chain.Address) uint64   { return s.pool.PendingNonce(a) }

// minerTxSource adapts the mempool to the miner. The pool may not have
// processed the newest tip yet (events are asynchronous); its selection
// then re-checks every sender against the current chain state, so a
// template never carries a transaction the chain would refuse, and a
// transaction sent right after a block is not left out.
//
// On a double-spending withhold node (adv), the selection of a race's
// templates leaves the payment out and puts the conflict in.
type minerTxSource struct {
	pool *mempool.Pool
	adv  *adversaryDriver // nil on an honest node
}

func (s minerTxSource) SelectForBlock(_ chain.Hash, maxBytes int) []*chain.Tx {
	txs := s.pool.SelectForBlock(maxBytes)
	if s.adv != nil {
		txs = s.adv.templateTxs(txs)
	}
	return txs
}

// timedChain records the processing time of every block, whoever submits it
// (peers through p2p, our miner, submitblock).
type timedChain struct {
	*chain.Chain
	m   *chainMetrics
	log *slog.Logger
}

// p2p re-fetches corrupt stored blocks only if its chain can repair them
// (an optional interface found by type assertion): keep that true.
var _ p2p.BlockRepairer = timedChain{}

func (t timedChain) ProcessBlock(b *chain.Block) (chain.ProcessResult, error) {
	return t.observe(t.Chain.ProcessBlock(b))
}

func (t timedChain) ProcessUnrequestedBlock(b *chain.Block) (chain.ProcessResult, error) {
	return t.observe(t.Chain.ProcessUnrequestedBlock(b))
}

func (t timedChain) observe(res chain.ProcessResult, err error) (chain.ProcessResult, error) {
	if res.Duration > 0 {
		t.m.validation.Observe(res.Duration.Seconds())
	}
	if err != nil && chain.KindOf(err) == "" {
		// Not a rule violation: the store failed (disk full, I/O error).
		// Say so loudly; the node keeps serving what it has.
		t.log.Error("cannot store or connect a block: the chain cannot advance until the data directory is writable again", "hash", res.Hash, "err", err)
	}
	return res, err
}

// p2pMempool classifies mempool verdicts for gossip validation.
type p2pMempool struct {
	n     *Node
	comps *components
}

func (m p2pMempool) AcceptTx(tx *chain.Tx) error {
	_, err := m.n.pool.Add(tx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mempool.ErrDuplicate):
		return fmt.Errorf("%w: %v", p2p.ErrTxKnown, err)
	case errors.Is(err, mempool.ErrInvalid) || errors.Is(err, mempool.ErrCoinbase):
		return fmt.Errorf("%w: %v", p2p.ErrTxInvalid, err)
	}
	return err
}

// minedSet remembers the hashes of blocks this node mined (bounded), so the
// log can say who mined a block.
type minedSet struct {
	mu    sync.Mutex
	set   map[chain.Hash]struct{}
	order []chain.Hash
}

const minedSetMax = 4096

func (s *minedSet) add(h chain.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set == nil {
		s.set = make(map[chain.Hash]struct{})
	}
	if len(s.order) >= minedSetMax {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
	s.set[h] = struct{}{}
	s.order = append(s.order, h)
}

func (s *minedSet) has(h chain.Hash) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[h]
	return ok
}

// bestPeerHeight returns the highest tip height a connected peer reported.
func bestPeerHeight(net *p2p.Node) uint64 {
	var best uint64
	for _, p := range net.Peers() {
		if p.HasStatus && p.TipHeight > best {
			best = p.TipHeight
		}
	}
	return best
}

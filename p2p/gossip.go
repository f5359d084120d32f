package p2p

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// Gossip settings.
const (
	// minGossipMessageSize is the floor of the gossip message size limit;
	// it is raised when the network allows bigger blocks.
	minGossipMessageSize = 2 << 20
	// validateQueueSize is the pubsub validation queue (default 32 drops
	// messages under bursts; lotus uses 256).
	validateQueueSize = 256
)

// gossipMessageID is the content hash of a message's data: the same block
// relayed by several peers has one ID, so it is delivered and validated once.
func gossipMessageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:20])
}

func (n *Node) maxGossipSize() int {
	return max(minGossipMessageSize, maxBlockFrame(n.cfg.Params)+64<<10)
}

// startGossip creates the gossipsub router, joins both topics with their
// validators and subscribes. ctx bounds the router's lifetime and must be
// cancelled before the host is closed.
func (n *Node) startGossip(ctx context.Context, h host.Host) (*pubsub.PubSub, *pubsub.Subscription, *pubsub.Subscription, error) {
	// See gossiphost.go for what the host and context given to gossipsub
	// hold back.
	pctx, subs := newWeakParent(ctx), &tracker{}
	n.mu.Lock()
	n.psCtx, n.psSubs = pctx, subs
	n.mu.Unlock()
	ps, err := pubsub.NewGossipSub(pctx, gossipHost{h, subs},
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(gossipMessageID),
		pubsub.WithMaxMessageSize(n.maxGossipSize()),
		pubsub.WithValidateQueueSize(validateQueueSize),
		pubsub.WithPeerExchange(false),
		// Our own blocks and transactions go to every subscribed peer, not
		// only the mesh: lowest latency, and no loss while the mesh forms.
		pubsub.WithFloodPublish(true),
		pubsub.WithLogger(n.cfg.Logger.With("component", "gossipsub")),
	)
	if err != nil {
		return nil, nil, nil, wrapErr(ErrBadConfig, err, "gossipsub")
	}
	bt, bsub, err := n.join(ps, n.cfg.Params.BlockTopic(), n.validateBlock)
	if err != nil {
		return nil, nil, nil, err
	}
	tt, tsub, err := n.join(ps, n.cfg.Params.TxTopic(), n.validateTx)
	if err != nil {
		bsub.Cancel()
		return nil, nil, nil, err
	}
	n.mu.Lock()
	n.blockT, n.txT = bt, tt
	n.mu.Unlock()
	return ps, bsub, tsub, nil
}

func (n *Node) join(ps *pubsub.PubSub, name string, v pubsub.ValidatorEx) (*pubsub.Topic, *pubsub.Subscription, error) {
	if err := ps.RegisterTopicValidator(name, v); err != nil {
		return nil, nil, wrapErr(ErrBadConfig, err, "validator for %s", name)
	}
	t, err := ps.Join(name)
	if err != nil {
		return nil, nil, wrapErr(ErrBadConfig, err, "joining %s", name)
	}
	sub, err := t.Subscribe()
	if err != nil {
		return nil, nil, wrapErr(ErrBadConfig, err, "subscribing to %s", name)
	}
	return t, sub, nil
}

// verdict is a validation outcome with its metric label.
func (n *Node) verdict(topic string, r pubsub.ValidationResult) pubsub.ValidationResult {
	n.m.gossipReceived.WithLabelValues(topic, resultOf(r)).Inc()
	return r
}

// resultOf is a validation outcome's metric label.
func resultOf(r pubsub.ValidationResult) string {
	switch r {
	case pubsub.ValidationAccept:
		return resultAccept
	case pubsub.ValidationReject:
		return resultReject
	}
	return resultIgnore
}

// validateBlock is the block topic's validator. It decodes once (the block
// goes into msg.ValidatorData), runs the context-free checks, and then hands
// the block to the chain, so only blocks this node accepted are relayed.
func (n *Node) validateBlock(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if !n.track.enter() {
		return pubsub.ValidationIgnore
	}
	defer n.track.leave()
	if from == n.id {
		// Our own PublishBlock: the block is already connected (or the
		// caller wants it relayed regardless); never reject it as a
		// duplicate. PublishRawBlock's data is sent as is too. Not counted
		// as received: gossip_messages_published_total has it.
		return pubsub.ValidationAccept
	}
	p := n.cfg.Params
	if len(msg.Data) > maxBlockFrame(p)-1 {
		n.penalize(from, penaltyMalformed, reasonOversized, newErr(ErrFrameTooLarge, "gossip block of %d bytes", len(msg.Data)))
		return n.verdict(topicBlocks, pubsub.ValidationReject)
	}
	b, err := chain.DecodeBlock(msg.Data)
	if err != nil {
		n.penalize(from, penaltyMalformed, reasonMalformed, err)
		return n.verdict(topicBlocks, pubsub.ValidationReject)
	}
	msg.ValidatorData = b
	v, _ := n.checkPeerBlock(from, b)
	return n.verdict(topicBlocks, v)
}

// checkPeerBlock judges a decoded block a peer sent (gossip or push):
// duplicate and known-invalid blocks are ignored, the context-free checks
// penalise the sender, an orphan schedules a sync with it, and the rest
// goes to ProcessUnrequestedBlock. Accept means the chain stored the block
// (connected or side chain); the result then says which.
func (n *Node) checkPeerBlock(from peer.ID, b *chain.Block) (pubsub.ValidationResult, chain.ProcessResult) {
	hash := b.Hash()
	if n.cfg.Chain.HaveBlock(hash) {
		return pubsub.ValidationIgnore, chain.ProcessResult{}
	}
	if n.cfg.Chain.IsKnownInvalid(hash) {
		// Not penalised: the mark may come from an operator's invalidateblock.
		return pubsub.ValidationIgnore, chain.ProcessResult{}
	}
	if err := n.cfg.Chain.CheckBlock(b); err != nil {
		n.penalize(from, penaltyInvalid, reasonInvalidBlock, err)
		return pubsub.ValidationReject, chain.ProcessResult{}
	}
	if !n.cfg.Chain.HaveBlock(b.Header.PrevBlock) {
		// An orphan: we are behind or missed blocks. Fetch the ancestors
		// (and the block itself) from the peer that sent it.
		n.log.Debug("peer block with unknown parent", "hash", hash, "peer", from)
		n.requestSync(from)
		return pubsub.ValidationIgnore, chain.ProcessResult{}
	}
	res, err := n.cfg.Chain.ProcessUnrequestedBlock(b)
	switch classifyBlockErr(err) {
	case blockOK:
		if res.Status == chain.StatusOrphan {
			n.requestSync(from)
			return pubsub.ValidationIgnore, res
		}
		if res.Status == chain.StatusDuplicate {
			return pubsub.ValidationIgnore, res
		}
		n.log.Debug("peer block accepted", "hash", hash, "height", res.Height, "peer", from)
		return pubsub.ValidationAccept, res
	case blockInvalid:
		n.penalize(from, penaltyInvalid, reasonInvalidBlock, err)
		return pubsub.ValidationReject, res
	case blockUnknownParent:
		n.requestSync(from)
		return pubsub.ValidationIgnore, res
	default:
		n.log.Debug("peer block ignored", "hash", hash, "peer", from, "err", err)
		return pubsub.ValidationIgnore, res
	}
}

// blockClass classifies the outcome of ProcessBlock for a peer's block.
type blockClass int

const (
	blockOK            blockClass = iota
	blockDuplicate                // already have it
	blockInvalid                  // provably invalid: the sender is at fault
	blockUnknownParent            // fetch ancestors
	blockTransient                // cannot judge now (future time, known-invalid mark, local failure)
)

func classifyBlockErr(err error) blockClass {
	if err == nil {
		return blockOK
	}
	switch chain.KindOf(err) {
	case "":
		return blockTransient // not a rule error: storage or shutdown
	case chain.ErrDuplicateBlock:
		return blockDuplicate
	case chain.ErrUnknownParent:
		return blockUnknownParent
	case chain.ErrTimeTooNew, chain.ErrNotFound, chain.ErrLowWork:
		// ErrLowWork: a lighter side branch; sync fetches it if its headers
		// ever prove more work than our tip.
		return blockTransient
	case chain.ErrKnownInvalid, chain.ErrInvalidAncestor:
		// The block or an ancestor is marked invalid. The mark may come from
		// an operator (invalidateblock), so the sender is not punished.
		return blockTransient
	}
	return blockInvalid
}

// validateTx is the transaction topic's validator: decode once, size,
// context-free sanity, no coinbase, signature, then the mempool.
func (n *Node) validateTx(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	if !n.track.enter() {
		return pubsub.ValidationIgnore
	}
	defer n.track.leave()
	if len(msg.Data) > chain.MaxTxSize {
		n.penalize(from, penaltyMalformed, reasonOversized, newErr(ErrFrameTooLarge, "gossip tx of %d bytes", len(msg.Data)))
		return n.verdict(topicTxs, pubsub.ValidationReject)
	}
	tx, err := chain.DecodeTx(msg.Data)
	if err != nil {
		n.penalize(from, penaltyMalformed, reasonMalformed, err)
		return n.verdict(topicTxs, pubsub.ValidationReject)
	}
	msg.ValidatorData = tx
	if from == n.id { // our own PublishTx, counted as published, not received
		return pubsub.ValidationAccept
	}
	if err := checkTx(tx, n.cfg.Params); err != nil {
		n.penalize(from, penaltyInvalid, reasonInvalidTx, err)
		return n.verdict(topicTxs, pubsub.ValidationReject)
	}
	if n.cfg.Mempool == nil {
		return n.verdict(topicTxs, pubsub.ValidationAccept)
	}
	err = n.cfg.Mempool.AcceptTx(tx)
	switch {
	case err == nil:
		return n.verdict(topicTxs, pubsub.ValidationAccept)
	case errors.Is(err, ErrTxKnown):
		return n.verdict(topicTxs, pubsub.ValidationIgnore)
	case errors.Is(err, ErrTxInvalid) || isContextFreeTxKind(chain.KindOf(err)):
		n.penalize(from, penaltyInvalid, reasonInvalidTx, err)
		return n.verdict(topicTxs, pubsub.ValidationReject)
	default:
		n.log.Debug("gossip tx not accepted", "txid", tx.TxID(), "peer", from, "err", err)
		return n.verdict(topicTxs, pubsub.ValidationIgnore)
	}
}

// checkTx runs the checks that make a relayed transaction provably invalid
// for every node.
func checkTx(tx *chain.Tx, p *chain.Params) error {
	if tx.IsCoinbase() {
		return &chain.RuleError{Kind: chain.ErrUnexpectedCoinb, Description: "coinbase transactions are not relayed"}
	}
	if err := tx.CheckSanity(p); err != nil {
		return err
	}
	return tx.VerifySignature()
}

// isContextFreeTxKind reports whether a rule-error kind makes a transaction
// invalid regardless of chain state.
func isContextFreeTxKind(k chain.ErrorKind) bool {
	switch k {
	case chain.ErrMalformed, chain.ErrWrongChainID, chain.ErrBadSignature, chain.ErrHighS, chain.ErrBadPubKey,
		chain.ErrAmountOverflow, chain.ErrZeroAmount, chain.ErrMemoTooLong, chain.ErrTxTooBig,
		chain.ErrSelfTransfer, chain.ErrUnexpectedCoinb:
		return true
	}
	return false
}

// PublishBlock gossips a block this node mined (call it after the block was
// connected). The local validator accepts it without the duplicate check.
func (n *Node) PublishBlock(ctx context.Context, b *chain.Block) error {
	return n.publish(ctx, topicBlocks, b.Bytes())
}

// PublishRawBlock gossips data on the block topic as is, without decoding
// or checking it. It exists for the lab's junk adversary mode, which sends
// garbage to show that peers penalise it; an honest node never calls it.
func (n *Node) PublishRawBlock(ctx context.Context, data []byte) error {
	return n.publish(ctx, topicBlocks, data)
}

// BlockTopicPeers returns the peers known to subscribe to the block topic:
// those a published block reaches directly. Safe for concurrent use.
func (n *Node) BlockTopicPeers() []peer.ID {
	n.mu.Lock()
	ps := n.ps
	n.mu.Unlock()
	if ps == nil {
		return nil
	}
	return ps.ListPeers(n.cfg.Params.BlockTopic())
}

// PublishTx gossips a transaction. It does not add it to the mempool: the
// caller (RPC sendrawtransaction) does that first.
func (n *Node) PublishTx(ctx context.Context, tx *chain.Tx) error {
	return n.publish(ctx, topicTxs, tx.Bytes())
}

func (n *Node) publish(ctx context.Context, topic string, data []byte) error {
	n.mu.Lock()
	t := n.blockT
	if topic == topicTxs {
		t = n.txT
	}
	running := n.h != nil
	n.mu.Unlock()
	if !running || t == nil {
		return newErr(ErrNotRunning, "publish %s", topic)
	}
	if err := t.Publish(ctx, data); err != nil {
		n.m.gossipPublished.WithLabelValues(topic, resultError).Inc()
		n.log.Warn("gossip publish failed", "topic", topic, "err", err)
		return err
	}
	n.m.gossipPublished.WithLabelValues(topic, resultOK).Inc()
	n.log.Log(ctx, slog.LevelDebug, "gossip published", "topic", topic, "bytes", len(data))
	return nil
}

package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/quarrychain/quarry/chain"
)

// Block push protocol. Gossip sends a block to every subscribed peer; the
// push protocol sends one block to one peer. A stream carries exactly one
// block frame (the sync protocol's framing, type msgBlock, capped at the
// network's MaxBlockSize), the sender closes its side, and the receiver
// closes the stream once it has judged the block, so SendBlock returns
// after the peer has handled it.
//
// The receiver treats a pushed block exactly as a gossiped one (see
// checkPeerBlock): the same checks, the same penalties for the sender, and
// the same hand-over to the chain. A pushed block that becomes the
// receiver's tip is then relayed on the block topic like any new tip, so
// it spreads through the receiver's side of the network.

// PushProtocolID returns the block-push protocol's libp2p protocol ID for
// a network: /quarry/<network>/block/1.
func PushProtocolID(p *chain.Params) protocol.ID {
	return protocol.ID(fmt.Sprintf("/quarry/%s/block/%d", p.Name, ProtocolVersion))
}

// SendBlock sends b to the connected peer p alone, on the block-push
// protocol, and returns once p has read and judged it (or the exchange
// failed). It never dials: a peer that is not connected is
// ErrNotConnected. The stream is bounded by ctx and Config.RequestTimeout.
// Safe for concurrent use.
func (n *Node) SendBlock(ctx context.Context, p peer.ID, b *chain.Block) error {
	return n.sendPush(ctx, p, newFrame(msgBlock, b.Bytes()))
}

// SendRawPush writes data as is (no framing, no checks) on a new
// block-push stream to the connected peer p. It exists for the lab's junk
// adversary mode, which sends malformed frames to show that peers
// penalise them; an honest node never calls it. Safe for concurrent use.
func (n *Node) SendRawPush(ctx context.Context, p peer.ID, data []byte) error {
	return n.sendPush(ctx, p, data)
}

// sendPush sends data on a new block-push stream to p and waits until p
// has judged it (see exchange), counting the result.
func (n *Node) sendPush(ctx context.Context, p peer.ID, data []byte) error {
	h := n.host()
	if h == nil {
		return newErr(ErrNotRunning, "push to %s", p)
	}
	if p == n.id {
		return newErr(ErrSelf, "push to this node")
	}
	if h.Network().Connectedness(p) != network.Connected {
		return newErr(ErrNotConnected, "push to %s", p)
	}
	if err := n.exchange(ctx, h, p, n.pushProto(), data, awaitPushClose); err != nil {
		n.m.pushesSent.WithLabelValues(resultError).Inc()
		return fmt.Errorf("push to %s: %w", p, err)
	}
	n.m.pushesSent.WithLabelValues(resultOK).Inc()
	return nil
}

// awaitPushClose reads the reply to a push: the receiver sends nothing and
// closes the stream once it has judged the block, so EOF says it is done.
func awaitPushClose(r io.Reader) error {
	_, err := io.Copy(io.Discard, io.LimitReader(r, 1))
	return err
}

// BlockFrame returns payload framed as a block message of the sync and
// push protocols (for the junk adversary mode, which pushes malformed
// payloads in well-formed frames).
func BlockFrame(payload []byte) []byte { return newFrame(msgBlock, payload) }

// pushProto is this node's block-push protocol ID.
func (n *Node) pushProto() protocol.ID { return PushProtocolID(n.cfg.Params) }

// handlePush receives one pushed block: under the serving rate limits
// (a push counts as a request) and a deadline of RequestTimeout, one frame
// of at most the network's block size, then the checks of a gossiped block.
func (n *Node) handlePush(s network.Stream) {
	done, ok := n.acceptStream(s, func() { n.m.pushesReceived.WithLabelValues(resultLimited).Inc() })
	if !ok {
		return
	}
	defer done()
	p := s.Conn().RemotePeer()

	typ, payload, err := readFrame(s, maxBlockFrame(n.cfg.Params))
	if err == nil && typ != msgBlock {
		err = newErr(ErrUnexpectedMsg, "pushed frame of type %d", typ)
	}
	if err != nil {
		// A stream that ends early is a transport failure (not punished);
		// an oversized, empty or mistyped frame is the sender's fault.
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			n.m.pushesReceived.WithLabelValues(resultReject).Inc()
			n.penalizeErr(p, err)
		}
		_ = s.Reset()
		return
	}
	b, err := chain.DecodeBlock(payload)
	if err != nil {
		n.m.pushesReceived.WithLabelValues(resultReject).Inc()
		n.penalize(p, penaltyMalformed, reasonMalformed, wrapErr(ErrMalformed, err, "pushed block"))
		_ = s.Reset()
		return
	}
	v, res := n.checkPeerBlock(p, b)
	n.m.pushesReceived.WithLabelValues(resultOf(v)).Inc()
	_ = s.Close() // the sender's SendBlock returns: the block is judged
	if v != pubsub.ValidationAccept {
		return
	}
	n.log.Debug("pushed block accepted", "hash", res.Hash, "height", res.Height, "status", res.Status, "peer", p)
	if res.Status != chain.StatusConnected || n.cfg.Chain.Best().Hash != res.Hash {
		// A side branch (or a block already superseded): the push was
		// meant for this node, and sync serves it to whoever wants it.
		return
	}
	// Our new tip: relay it as we would a block we had just connected.
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	_ = n.publish(ctx, topicBlocks, payload)
}

package p2p

import (
	"bufio"
	"errors"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// replyBufSize is the write buffer of a reply (replies are buffered so
// that a blocks reply goes out in few large writes).
const replyBufSize = 64 << 10

// acceptStream admits a stream a peer opened to this node's sync or
// block-push protocol: the node is running, the peer is neither banned nor
// partitioned, and it is within the per-peer serving limits (a peer over
// them is penalised, and countLimited counts it). On false the stream was
// reset; on true its deadline is set and done must be called once it has
// been served.
func (n *Node) acceptStream(s network.Stream, countLimited func()) (done func(), ok bool) {
	if !n.track.enter() {
		_ = s.Reset()
		return nil, false
	}
	p := s.Conn().RemotePeer()
	if !n.gate.allowed(p) {
		n.track.leave()
		_ = s.Reset()
		return nil, false
	}
	if ok, limited := n.admit(p); !ok {
		if limited {
			countLimited()
			n.penalize(p, penaltyRateLimit, reasonRateLimit, nil)
		}
		n.track.leave()
		_ = s.Reset()
		return nil, false
	}
	_ = s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	return func() {
		n.release(p)
		n.track.leave()
	}, true
}

// handleStream serves one sync-protocol request: one request frame in, the
// reply frames out, under a deadline and the per-peer rate limits.
func (n *Node) handleStream(s network.Stream) {
	done, ok := n.acceptStream(s, func() { n.m.served.WithLabelValues(kindAny, resultLimited).Inc() })
	if !ok {
		return
	}
	defer done()
	p := s.Conn().RemotePeer()

	typ, payload, err := readFrame(s, maxRequestFrame)
	if err != nil {
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			n.m.served.WithLabelValues(kindMalformed, resultError).Inc()
			n.penalizeErr(p, err)
		}
		_ = s.Reset()
		return
	}
	w, _ := n.replyBufs.Get().(*bufio.Writer)
	if w == nil {
		w = bufio.NewWriterSize(s, replyBufSize)
	} else {
		w.Reset(s)
	}
	kind, err := n.serve(p, typ, payload, w)
	if err == nil {
		err = w.Flush()
	}
	w.Reset(nil) // keep no reference to the stream
	n.replyBufs.Put(w)
	if err != nil {
		n.m.served.WithLabelValues(kind, resultError).Inc()
		n.penalizeErr(p, err)
		_ = s.Reset()
		return
	}
	n.m.served.WithLabelValues(kind, resultOK).Inc()
	_ = s.Close()
}

// serve answers one request and returns its kind for metrics.
func (n *Node) serve(p peer.ID, typ byte, payload []byte, w io.Writer) (string, error) {
	c := n.cfg.Chain
	switch typ {
	case msgStatus:
		st, err := decodeStatus(payload)
		if err != nil {
			return kindStatus, err
		}
		if err := writeFrame(w, msgStatus, encodeStatus(n.ourStatus())); err != nil {
			return kindStatus, err
		}
		// Record theirs after answering, so that a peer on another
		// network still learns ours (and why it is being dropped).
		return kindStatus, n.onStatus(p, st)
	case msgGetHeaders:
		req, err := decodeGetHeaders(payload)
		if err != nil {
			return kindHeaders, err
		}
		hdrs := c.HeadersAfter(req.Locator, req.Stop, min(req.Max, MaxHeadersPerReply))
		if len(hdrs) > MaxHeadersPerReply {
			hdrs = hdrs[:MaxHeadersPerReply]
		}
		return kindHeaders, writeFrame(w, msgHeaders, encodeHeaders(hdrs))
	case msgGetBlocks:
		hashes, err := decodeGetBlocks(payload)
		if err != nil {
			return kindBlocks, err
		}
		budget := maxServeBytes
		for _, h := range hashes {
			raw, err := c.BlockBytes(h)
			if err != nil || raw == nil {
				if err != nil && !errors.Is(err, chain.ErrNotFound) {
					// Stored data that cannot be read (corruption, disk
					// fault): the peer gets notfound and asks elsewhere.
					n.log.Error("reading a block to serve failed", "peer", p, "hash", h, "err", err)
				}
				return kindBlocks, writeFrame(w, msgNotFound, h[:])
			}
			if budget < len(raw) && budget != maxServeBytes {
				return kindBlocks, nil // the client asks again for the rest
			}
			budget -= len(raw)
			if err := writeFrame(w, msgBlock, raw); err != nil {
				return kindBlocks, err
			}
		}
		return kindBlocks, nil
	}
	return kindMalformed, newErr(ErrUnexpectedMsg, "request type %d", typ)
}

package p2p

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// exchange runs one request on a new stream of protocol proto to the
// connected peer p, the client side of both the sync protocol (request)
// and the block-push protocol (sendPush): it writes req as is, closes its
// side of the stream, and hands the stream to read, which reads the reply
// and judges it. What the request and the reply are, their caps, the
// penalties and the metrics are the caller's.
//
// The stream never dials. It is bounded by ctx and by
// Config.RequestTimeout: when either ends the stream is reset, which fails
// a write or read in progress. Any failure resets the stream. A failure of
// read that the request's own timeout caused while ctx is still live is
// ErrTimeout: the peer accepted the stream and stalled, which costs it
// standing. A nil error means that read accepted the reply and the stream
// closed cleanly.
func (n *Node) exchange(parent context.Context, h host.Host, p peer.ID, proto protocol.ID, req []byte, read func(r io.Reader) error) error {
	ctx, cancel := context.WithTimeout(network.WithNoDial(parent, string(proto)), n.cfg.RequestTimeout)
	defer cancel()
	s, err := h.NewStream(ctx, p, proto)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	// Set after ctx's timer starts, so that a stall ends in ctx's reset and
	// classifyTimeout sees ctx's deadline exceeded.
	_ = s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	if _, err := s.Write(req); err != nil {
		_ = s.Reset()
		return err
	}
	// A failure here shows in the read or in Close: the peer may still
	// answer a request it has read in full (requests are framed).
	_ = s.CloseWrite()
	if err := read(s); err != nil {
		_ = s.Reset()
		return n.classifyTimeout(parent, ctx, p, err)
	}
	return s.Close()
}

// classifyTimeout turns a failure caused by the request's own deadline
// (while the caller's context is still live) into ErrTimeout: the peer
// accepted the request and stalled, which costs it standing.
func (n *Node) classifyTimeout(parent, ctx context.Context, p peer.ID, err error) error {
	if parent.Err() != nil {
		return err
	}
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout() {
		return wrapErr(ErrTimeout, err, "peer %s, after %s", p, n.cfg.RequestTimeout)
	}
	return err
}

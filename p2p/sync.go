package p2p

import (
	"bufio"
	"context"
	"errors"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// Sync-protocol client: status requests, header and block downloads, and
// the loops that drive them. The server side is in serve.go.

// request sends one sync-protocol request frame to p and hands the reply,
// buffered, to read (see exchange). The peer must be connected.
func (n *Node) request(parent context.Context, p peer.ID, typ byte, payload []byte, read func(r io.Reader) error) error {
	h := n.host()
	if h == nil {
		return newErr(ErrNotRunning, "request to %s", p)
	}
	return n.exchange(parent, h, p, n.proto, newFrame(typ, payload), func(r io.Reader) error {
		return read(bufio.NewReader(r))
	})
}

// expect reads one frame of the wanted type.
func expect(r io.Reader, want byte, maxLen int) ([]byte, error) {
	typ, payload, err := readFrame(r, maxLen)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if typ != want {
		return nil, newErr(ErrUnexpectedMsg, "got message type %d, want %d", typ, want)
	}
	return payload, nil
}

// requestStatus exchanges status with p and acts on the answer.
func (n *Node) requestStatus(ctx context.Context, p peer.ID) error {
	var st Status
	err := n.request(ctx, p, msgStatus, encodeStatus(n.ourStatus()), func(r io.Reader) error {
		payload, err := expect(r, msgStatus, maxStatusFrame)
		if err != nil {
			return err
		}
		st, err = decodeStatus(payload)
		return err
	})
	n.countRequest(kindStatus, err)
	if err != nil {
		n.penalizeErr(p, err)
		return err
	}
	return n.onStatus(p, st)
}

// onStatus records a peer's status (from either direction) and hands its
// claim of chain work to the sync planner.
func (n *Node) onStatus(p peer.ID, st Status) error {
	if st.Genesis != n.cfg.Params.GenesisHash {
		err := newErr(ErrGenesisMismatch, "peer genesis %s, ours %s", st.Genesis, n.cfg.Params.GenesisHash)
		n.penalizeErr(p, err)
		return err
	}
	n.set.mu.Lock()
	if ps := n.set.peers[p]; ps != nil {
		ps.status, ps.hasStatus, ps.statusAt = st, true, n.cfg.Now()
	}
	n.set.mu.Unlock()
	n.dialer.mu.Lock()
	if t := n.dialer.targets[p]; t != nil {
		// A working connection: the next redial after a loss is immediate.
		t.failures, t.next = 0, time.Time{}
	}
	n.dialer.mu.Unlock()
	n.pushSync(syncInput{kind: inStatus, peer: p, claim: st.ChainWork})
	return nil
}

func (n *Node) countRequest(kind string, err error) {
	res := resultOK
	if err != nil {
		res = resultError
	}
	n.m.syncRequests.WithLabelValues(kind, res).Inc()
}

// statusLoop requests the status of new peers at once and of every peer
// each StatusInterval.
func (n *Node) statusLoop(ctx context.Context) error {
	t := time.NewTicker(n.cfg.StatusInterval)
	defer t.Stop()
	done := make(chan peer.ID, 64)
	inflight := 0
	defer func() {
		for ; inflight > 0; inflight-- {
			<-done
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			n.set.mu.Lock()
			for _, ps := range n.set.peers {
				ps.needStatus = true
			}
			n.set.mu.Unlock()
		case <-n.wakeStatus:
		case p := <-done:
			inflight--
			n.set.mu.Lock()
			if ps := n.set.peers[p]; ps != nil {
				ps.statusBusy = false
			}
			n.set.mu.Unlock()
		}
		n.set.mu.Lock()
		var todo []peer.ID
		for p, ps := range n.set.peers {
			if ps.needStatus && !ps.statusBusy && inflight+len(todo) < cap(done) {
				ps.needStatus, ps.statusBusy = false, true
				todo = append(todo, p)
			}
		}
		n.set.mu.Unlock()
		for _, p := range todo {
			inflight++
			go func() {
				if err := n.requestStatus(ctx, p); err != nil && ctx.Err() == nil {
					n.log.Debug("status request failed", "peer", p, "err", err)
				}
				done <- p
			}()
		}
	}
}

func (n *Node) fetchHeaders(ctx context.Context, p peer.ID, locator []chain.Hash) ([]chain.Header, error) {
	if len(locator) > maxLocator {
		locator = append(locator[:maxLocator-1], n.cfg.Params.GenesisHash)
	}
	var hdrs []chain.Header
	req := encodeGetHeaders(getHeaders{Locator: locator, Max: MaxHeadersPerReply})
	err := n.request(ctx, p, msgGetHeaders, req, func(r io.Reader) error {
		payload, err := expect(r, msgHeaders, maxHeadersFrame)
		if err != nil {
			return err
		}
		hdrs, err = decodeHeaders(payload)
		return err
	})
	n.countRequest(kindHeaders, err)
	return hdrs, err
}

// getBlocks requests blocks by hash. The reply is one frame per hash in
// order (block or notfound); a server may stop early at its byte budget.
// A nil entry is a notfound; the slice may be shorter than hashes.
func (n *Node) getBlocks(ctx context.Context, p peer.ID, hashes []chain.Hash) ([]*chain.Block, error) {
	out := make([]*chain.Block, 0, len(hashes))
	maxLen := maxBlockFrame(n.cfg.Params)
	err := n.request(ctx, p, msgGetBlocks, encodeHashes(hashes), func(r io.Reader) error {
		var buf []byte // one read buffer for the reply: DecodeBlock copies what it keeps
		for i := range hashes {
			var typ byte
			var payload []byte
			var err error
			typ, payload, buf, err = readFrameInto(r, maxLen, buf)
			if err != nil {
				if errors.Is(err, io.EOF) && i > 0 {
					return nil // server budget reached
				}
				if errors.Is(err, io.EOF) {
					return io.ErrUnexpectedEOF
				}
				return err
			}
			switch typ {
			case msgBlock:
				b, err := chain.DecodeBlock(payload)
				if err != nil {
					return wrapErr(ErrMalformed, err, "block %d of reply", i)
				}
				if got := b.Hash(); got != hashes[i] {
					return newErr(ErrProtocol, "reply %d is block %s, asked for %s", i, got, hashes[i])
				}
				out = append(out, b)
			case msgNotFound:
				h, err := decodeNotFound(payload)
				if err != nil {
					return err
				}
				if h != hashes[i] {
					return newErr(ErrProtocol, "notfound %d names %s, asked for %s", i, h, hashes[i])
				}
				out = append(out, nil)
				return nil
			default:
				return newErr(ErrUnexpectedMsg, "message type %d in a blocks reply", typ)
			}
		}
		return nil
	})
	n.countRequest(kindBlocks, err)
	return out, err
}

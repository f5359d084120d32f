package p2p

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// Sync-protocol client: status requests, header and block downloads, and
// the loops that drive them. The server side is in serve.go.

// maxSyncRounds bounds the header rounds of one sync session (2,000
// headers each), so a peer with an endless cheap chain cannot hold the
// sync loop forever; the next status starts a new session.
const maxSyncRounds = 500

// request opens a stream to p, sends one request frame and hands the reply
// reader to read. The stream never dials (the peer must be connected) and
// carries a deadline of Config.RequestTimeout.
func (n *Node) request(parent context.Context, p peer.ID, typ byte, payload []byte, read func(r io.Reader) error) error {
	h := n.host()
	if h == nil {
		return newErr(ErrNotRunning, "request to %s", p)
	}
	ctx, cancel := context.WithTimeout(network.WithNoDial(parent, "sync"), n.cfg.RequestTimeout)
	defer cancel()
	s, err := h.NewStream(ctx, p, n.proto)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	_ = s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	if err := writeFrame(s, typ, payload); err != nil {
		_ = s.Reset()
		return err
	}
	_ = s.CloseWrite()
	if err := read(bufio.NewReader(s)); err != nil {
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

// onStatus records a peer's status (from either direction) and starts a
// sync when the peer has more work.
func (n *Node) onStatus(p peer.ID, st Status) error {
	if st.Genesis != n.cfg.Params.GenesisHash {
		err := newErr(ErrGenesisMismatch, "peer genesis %s, ours %s", st.Genesis, n.cfg.Params.GenesisHash)
		n.penalizeErr(p, err)
		return err
	}
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		ps.status, ps.hasStatus, ps.statusAt = st, true, n.cfg.Now()
	}
	if t := n.targets[p]; t != nil {
		// A working connection: the next redial after a loss is immediate.
		t.failures, t.next = 0, time.Time{}
	}
	n.mu.Unlock()
	best := n.cfg.Chain.Best()
	if best.ChainWork == nil || st.ChainWork.Cmp(best.ChainWork) > 0 {
		n.requestSync(p)
	}
	return nil
}

func (n *Node) countRequest(kind string, err error) {
	res := resultOK
	if err != nil {
		res = resultError
	}
	n.m.syncRequests.WithLabelValues(kind, res).Inc()
}

// requestSync flags p for a sync session.
func (n *Node) requestSync(p peer.ID) {
	n.mu.Lock()
	ps := n.peers[p]
	if ps != nil {
		ps.needSync = true
	}
	n.mu.Unlock()
	if ps != nil {
		n.wake(n.wakeSync)
	}
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
			n.mu.Lock()
			for _, ps := range n.peers {
				ps.needStatus = true
			}
			n.mu.Unlock()
		case <-n.wakeStatus:
		case p := <-done:
			inflight--
			n.mu.Lock()
			if ps := n.peers[p]; ps != nil {
				ps.statusBusy = false
			}
			n.mu.Unlock()
		}
		n.mu.Lock()
		var todo []peer.ID
		for p, ps := range n.peers {
			if ps.needStatus && !ps.statusBusy && inflight+len(todo) < cap(done) {
				ps.needStatus, ps.statusBusy = false, true
				todo = append(todo, p)
			}
		}
		n.mu.Unlock()
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

// syncLoop runs one sync session at a time, always with the flagged peer
// that claims the most work.
func (n *Node) syncLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-n.wakeSync:
		}
		for ctx.Err() == nil {
			p, ok := n.pickSyncPeer()
			if !ok {
				break
			}
			err := n.syncFrom(ctx, p)
			n.mu.Lock()
			if ps := n.peers[p]; ps != nil {
				ps.syncing = false
			}
			n.mu.Unlock()
			switch {
			case err == nil:
				n.m.syncs.WithLabelValues(resultOK).Inc()
			case ctx.Err() != nil:
				return nil
			default:
				n.m.syncs.WithLabelValues(resultError).Inc()
				n.log.Info("sync with peer failed", "peer", p, "err", err)
				n.penalizeErr(p, err)
			}
		}
	}
}

func (n *Node) pickSyncPeer() (peer.ID, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var best peer.ID
	var bestPS *peerState
	for p, ps := range n.peers {
		if !ps.needSync || !n.gate.allowed(p) {
			continue
		}
		if bestPS == nil || workOf(ps).Cmp(workOf(bestPS)) > 0 ||
			workOf(ps).Cmp(workOf(bestPS)) == 0 && compareIDs(p, best) < 0 {
			best, bestPS = p, ps
		}
	}
	if bestPS == nil {
		return "", false
	}
	bestPS.needSync, bestPS.syncing = false, true
	return best, true
}

// advertisedWork returns the chain work p claimed in its last status.
func (n *Node) advertisedWork(p peer.ID) *big.Int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ps := n.peers[p]; ps != nil {
		return new(big.Int).Set(workOf(ps))
	}
	return new(big.Int)
}

func workOf(ps *peerState) *big.Int {
	if ps.hasStatus && ps.status.ChainWork != nil {
		return ps.status.ChainWork
	}
	return new(big.Int)
}

// syncFrom downloads p's main chain from the fork point with ours: headers
// by locator (up to 2,000 a round), then the missing blocks in batches,
// each handed to the chain in order. It returns nil when p has nothing more
// to give, and an error of a peer-fault kind when p misbehaved.
func (n *Node) syncFrom(ctx context.Context, p peer.ID) error {
	c := n.cfg.Chain
	locator := c.Locator()
	fetched := 0
	start := time.Now()
	defer func() {
		if fetched > 0 {
			n.log.Info("synced blocks from peer", "peer", p, "blocks", fetched, "height", c.Best().Height,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}()
	// Blocks are fetched only once the headers received so far prove more
	// work than our tip (the work of the block they start from plus each
	// header's proof of work), so a peer that advertises more work than it
	// has cannot make us download and store a cheap low-work branch.
	// Until then the needed hashes wait in pending and headers rounds go on.
	var (
		pending []chain.Hash
		work    *big.Int   // cumulative work at the last header received
		prev    chain.Hash // last header of the previous reply
	)
	for round := 0; round < maxSyncRounds; round++ {
		hdrs, err := n.fetchHeaders(ctx, p, locator)
		if err != nil {
			return err
		}
		if len(hdrs) == 0 {
			// The peer has nothing after what we know (or what it sent):
			// what it proved is the work counted so far, or at least our
			// tip's when it sent nothing at all. A node's chain work only
			// grows, so less than its status claimed is a lie.
			proven := work
			if proven == nil {
				proven = c.Best().ChainWork
			}
			if claimed := n.advertisedWork(p); proven.Cmp(claimed) < 0 {
				return newErr(ErrProtocol, "headers prove chain work %s, less than the %s the peer advertised", proven, claimed)
			}
			break
		}
		continuing := pending != nil
		if continuing && hdrs[0].PrevBlock != prev {
			// The peer reorganised between two replies: not a fault; the
			// next status round starts over.
			n.log.Info("peer's headers changed during sync; retrying later", "peer", p)
			return nil
		}
		if err := checkHeaderChain(hdrs, c, n.cfg.Params, continuing); err != nil {
			return err
		}
		if work == nil || hdrs[0].PrevBlock != prev {
			// First reply, or the peer answered from another point of its
			// chain (it reorganised): count work from where it starts.
			info, ok := c.BlockInfo(hdrs[0].PrevBlock)
			if !ok {
				return newErr(ErrProtocol, "headers start at %s, which is not in our block index", hdrs[0].PrevBlock)
			}
			work = new(big.Int).Set(info.ChainWork)
		}
		need := pending
		for i := range hdrs {
			h := hdrs[i].BlockHash()
			if c.IsKnownInvalid(h) {
				n.log.Info("peer's chain contains a block marked invalid; stopping sync", "peer", p, "hash", h)
				return nil
			}
			work.Add(work, chain.CalcWork(hdrs[i].Bits))
			if !c.HaveBlock(h) {
				need = append(need, h)
			}
		}
		last := hdrs[len(hdrs)-1].BlockHash()
		prev = last
		full := len(hdrs) == MaxHeadersPerReply
		if work.Cmp(c.Best().ChainWork) <= 0 {
			if !full {
				// The peer's chain ends here. A node's own chain work only
				// grows, so headers proving less than the work it
				// advertised mean it lied to make us fetch its branch.
				if claimed := n.advertisedWork(p); work.Cmp(claimed) < 0 {
					return newErr(ErrProtocol, "headers prove chain work %s, less than the %s the peer advertised", work, claimed)
				}
				n.log.Info("peer's headers do not prove more work than our tip; not fetching its blocks", "peer", p, "blocks", len(need))
				return nil
			}
			pending = need
			locator = append([]chain.Hash{last}, c.Locator()...)
			continue
		}
		pending = nil
		got, err := n.fetchBlocks(ctx, p, need)
		fetched += got
		if err != nil {
			return err
		}
		if got < len(need) {
			return nil // the peer lost blocks it announced (reorg); try later
		}
		if !full {
			return nil
		}
		locator = append([]chain.Hash{last}, c.Locator()...)
	}
	if len(pending) > 0 {
		n.log.Info("peer's headers do not prove more work than our tip; not fetching its blocks", "peer", p, "blocks", len(pending))
	}
	return nil
}

// checkHeaderChain verifies that a headers reply connects to a block we
// have (unless it continues headers whose blocks we have not fetched yet;
// the caller checks that it links to the previous reply), links up, and
// that every header carries valid proof of work.
func checkHeaderChain(hdrs []chain.Header, c Chain, p *chain.Params, continuing bool) error {
	if !continuing && !c.HaveBlock(hdrs[0].PrevBlock) {
		return newErr(ErrProtocol, "headers start at unknown parent %s", hdrs[0].PrevBlock)
	}
	for i := range hdrs {
		if i > 0 && hdrs[i].PrevBlock != hdrs[i-1].BlockHash() {
			return newErr(ErrProtocol, "header %d does not link to its predecessor", i)
		}
		if err := chain.CheckHeaderSanity(&hdrs[i], p); err != nil {
			return wrapErr(ErrInvalidBlock, err, "header %d (%s)", i, hdrs[i].BlockHash())
		}
	}
	return nil
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

// fetchBlocks downloads need in batches and processes them in order. A
// fetcher goroutine keeps up to two batches in flight ahead of the chain,
// so download and validation overlap. It returns how many blocks were
// handed to the chain without error.
func (n *Node) fetchBlocks(ctx context.Context, p peer.ID, need []chain.Hash) (int, error) {
	type batch struct {
		hashes []chain.Hash
		blocks []*chain.Block // nil entry: notfound; may be short (server budget)
		err    error
	}
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan batch, 2)
	go func() {
		defer close(out)
		for off := 0; off < len(need); {
			hs := need[off:min(len(need), off+MaxBlocksPerRequest)]
			blocks, err := n.getBlocks(ctx, p, hs)
			select {
			case out <- batch{hs, blocks, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || len(blocks) == 0 || blocks[len(blocks)-1] == nil {
				return
			}
			off += len(blocks)
		}
	}()
	defer func() {
		cancel()
		for range out { // wait for the fetcher to exit
		}
	}()
	done := 0
	for bt := range out {
		for i, b := range bt.blocks {
			if b == nil {
				return done, nil // notfound: the peer lost it (reorg); try later
			}
			_, err := n.cfg.Chain.ProcessBlock(b)
			switch classifyBlockErr(err) {
			case blockOK, blockDuplicate:
			case blockInvalid:
				return done, wrapErr(ErrInvalidBlock, err, "block %s", bt.hashes[i])
			default:
				n.log.Info("sync stopped at a block that cannot be judged now", "peer", p, "hash", bt.hashes[i], "err", err)
				return done, nil
			}
			done++
			n.m.blocksFetched.Inc()
		}
		if bt.err != nil {
			return done, bt.err
		}
	}
	return done, nil
}

// getBlocks requests blocks by hash. The reply is one frame per hash in
// order (block or notfound); a server may stop early at its byte budget.
// A nil entry is a notfound; the slice may be shorter than hashes.
func (n *Node) getBlocks(ctx context.Context, p peer.ID, hashes []chain.Hash) ([]*chain.Block, error) {
	var out []*chain.Block
	maxLen := maxBlockFrame(n.cfg.Params)
	err := n.request(ctx, p, msgGetBlocks, encodeHashes(hashes), func(r io.Reader) error {
		for i := range hashes {
			typ, payload, err := readFrame(r, maxLen)
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

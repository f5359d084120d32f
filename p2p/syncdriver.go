package p2p

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// The sync loop drives the Planner: it owns it (one goroutine), feeds it
// what the network and the chain report, and performs its Ready actions.
// Requests run in their own goroutines and post their results back; blocks
// to connect go to the connector goroutine, in order, which posts the
// chain's verdicts back, so requests keep going out while blocks connect.

// syncTick is how often the loop lets the planner look at the time alone
// (stall detection).
const syncTick = 250 * time.Millisecond

// syncPlan is the node's planner configuration. Bitcoin Core keeps 16
// blocks in flight per peer, each its own getdata item; here every request
// is a stream that costs against the serving peer's rate limit (100
// requests/s) and its limit of serveInflight (8) concurrent requests, so
// blocks go in requests of MaxBlocksPerRequest, syncDepth in flight per
// peer: with 16 single blocks per peer a 2,000-block sync from one peer ran
// at about 3,500 blocks/s, with two requests of 64 at about 30,000 and
// with five at about 45,000 blocks/s.
func syncPlan() PlannerConfig {
	return PlannerConfig{PerPeer: syncDepth * MaxBlocksPerRequest, PerRequest: MaxBlocksPerRequest}
}

// syncDepth is how many block requests the sync keeps in flight per peer:
// the serving peer admits serveInflight, and leaves room for a headers
// request, a status exchange and a request whose reply we have read but
// whose slot the server has not released yet (a request over the limit is
// refused and penalised).
const syncDepth = serveInflight - 3

type syncInputKind int

const (
	inPeerUp syncInputKind = iota + 1
	inPeerDown
	inStatus    // claim
	inAnnounce  // a gossiped block did not connect
	inHeaders   // from, hdrs, err
	inBlocks    // hashes, blocks, bad, err
	inConnected // verdicts: the connector's results, in order
)

// syncInput is one report for the sync loop.
type syncInput struct {
	kind     syncInputKind
	peer     peer.ID
	claim    *big.Int
	from     chain.Hash
	hdrs     []chain.Header
	hashes   []chain.Hash
	blocks   []*chain.Block // nil entry: notfound
	bad      []error        // per block: the context-free check's verdict
	err      error
	verdicts []connectVerdict
}

// connectJob is a received block handed to the connector.
type connectJob struct {
	hash  chain.Hash
	block *chain.Block // nil: the block went missing; deferred at once
	from  peer.ID
}

// connectVerdict is the chain's answer to one connectJob.
type connectVerdict struct {
	hash chain.Hash
	from peer.ID
	err  error
	lost bool // no block was handed over
}

// connectReport is how many verdicts the connector collects before it
// reports them to the sync loop (each report frees window space).
const connectReport = 32

func (n *Node) pushSync(in syncInput) { n.syncQ.push(in) }

// requestSync asks p for headers once: it relayed a block we cannot
// connect, so it has blocks we lack even if its last claim said otherwise.
func (n *Node) requestSync(p peer.ID) { n.pushSync(syncInput{kind: inAnnounce, peer: p}) }

// syncDriver is the sync loop's state. Owned by the loop goroutine.
type syncDriver struct {
	n       *Node
	pl      *Planner
	blocks  map[chain.Hash]*chain.Block // received, not yet handed to the chain
	from    map[chain.Hash]peer.ID
	busy    map[peer.ID]int // requests in flight per peer
	lastTip chain.Hash
	wasDone bool
	cq      *inbox[connectJob] // to the connector, in the order the planner named the blocks
}

// syncLoop runs headers-first sync until ctx ends; it returns after every
// request goroutine it started has exited.
func (n *Node) syncLoop(ctx context.Context) error {
	best := n.cfg.Chain.Best()
	d := &syncDriver{
		n:       n,
		pl:      NewPlanner(syncPlan(), HeaderMeta{Hash: best.Hash, Height: best.Height, Work: best.ChainWork}),
		blocks:  make(map[chain.Hash]*chain.Block),
		from:    make(map[chain.Hash]peer.ID),
		busy:    make(map[peer.ID]int),
		lastTip: best.Hash,
		wasDone: true,
		cq:      newInbox[connectJob](),
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.connector(ctx, d.cq)
	}()
	t := time.NewTicker(syncTick)
	defer t.Stop()
	for {
		d.pl.Now(n.cfg.Now())
		for _, in := range n.syncQ.take() {
			d.apply(in)
		}
		n.planPeers.Store(int64(len(d.pl.peers)))
		d.noteTip()
		r := d.pl.Ready(n.cfg.Now())
		d.act(ctx, &wg, r)
		if r.Done != d.wasDone {
			d.wasDone = r.Done
			if r.Done {
				n.m.syncs.WithLabelValues(resultOK).Inc()
			}
		}
		if len(r.Connect) > 0 || len(r.Penalties) > 0 {
			continue // the chain moved or peers left: there may be more to do now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.syncQ.wake:
		case <-t.C:
		}
	}
}

// noteTip tells the planner about a tip the chain reached by other means
// (gossip, mining, RPC).
func (d *syncDriver) noteTip() {
	best := d.n.cfg.Chain.Best()
	if best.Hash == d.lastTip {
		return
	}
	d.lastTip = best.Hash
	if d.pl.Stored(best.Hash) {
		return // a block the sync handed over (the usual case while it runs)
	}
	info, ok := d.n.cfg.Chain.BlockInfo(best.Hash)
	if !ok {
		return
	}
	d.pl.BlockStored(HeaderMeta{Hash: info.Hash, Prev: info.Header.PrevBlock, Height: info.Height, Work: info.ChainWork})
}

func (d *syncDriver) setBusy(p peer.ID, delta int) {
	d.busy[p] += delta
	if d.busy[p] <= 0 {
		delete(d.busy, p)
	}
	n := d.n
	n.set.mu.Lock()
	if ps := n.set.peers[p]; ps != nil {
		ps.syncing = d.busy[p] > 0
	}
	n.set.mu.Unlock()
}

// act performs a Ready.
func (d *syncDriver) act(ctx context.Context, wg *sync.WaitGroup, r Ready) {
	n := d.n
	for _, pen := range r.Penalties {
		n.m.syncs.WithLabelValues(resultError).Inc()
		n.penalize(pen.Peer, pen.Points, pen.Reason, pen.Cause)
		if pen.Disconnect {
			n.queueClose(pen.Peer)
		}
	}
	for _, hr := range r.Headers {
		locator := append([]chain.Hash{hr.From}, n.cfg.Chain.Locator()...)
		d.setBusy(hr.Peer, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdrs, err := n.fetchHeaders(ctx, hr.Peer, locator)
			n.pushSync(syncInput{kind: inHeaders, peer: hr.Peer, from: hr.From, hdrs: hdrs, err: err})
		}()
	}
	for _, br := range r.Blocks {
		d.setBusy(br.Peer, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			blocks, err := n.getBlocks(ctx, br.Peer, br.Hashes)
			bad := make([]error, len(blocks))
			for i, b := range blocks {
				if b != nil {
					bad[i] = n.cfg.Chain.CheckBlock(b)
				}
			}
			n.pushSync(syncInput{kind: inBlocks, peer: br.Peer, hashes: br.Hashes, blocks: blocks, bad: bad, err: err})
		}()
	}
	if len(r.Connect) > 0 {
		jobs := make([]connectJob, len(r.Connect))
		for i, h := range r.Connect {
			jobs[i] = connectJob{hash: h, block: d.blocks[h], from: d.from[h]}
			delete(d.blocks, h)
			delete(d.from, h)
		}
		d.cq.push(jobs...)
	}
	if len(d.blocks) > 2*syncPlan().withDefaults().Window {
		// Blocks of a branch given up (invalid, or overtaken) are never
		// named by Connect.
		for h := range d.blocks {
			if !d.pl.Awaiting(h) {
				delete(d.blocks, h)
				delete(d.from, h)
			}
		}
	}
}

// connector hands blocks to the chain in the order the sync loop queued
// them, in its own goroutine so that the loop keeps requests flowing while
// blocks connect, and reports the verdicts back to the loop in groups of
// connectReport. It returns when ctx ends.
func (n *Node) connector(ctx context.Context, q *inbox[connectJob]) {
	var out []connectVerdict
	flush := func() {
		if len(out) > 0 {
			n.pushSync(syncInput{kind: inConnected, verdicts: out})
			out = nil
		}
	}
	for {
		for _, j := range q.take() {
			if ctx.Err() != nil {
				return
			}
			v := connectVerdict{hash: j.hash, from: j.from, lost: j.block == nil}
			if j.block != nil {
				_, v.err = n.cfg.Chain.ProcessBlock(j.block)
			}
			out = append(out, v)
			if len(out) >= connectReport {
				flush()
			}
		}
		flush()
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
	}
}

// connected reports the chain's verdict on one block to the planner.
func (d *syncDriver) connected(v connectVerdict) {
	n := d.n
	if v.lost {
		d.pl.BlockDeferred(v.hash)
		return
	}
	switch classifyBlockErr(v.err) {
	case blockOK, blockDuplicate:
		d.pl.BlockProcessed(v.from, v.hash, nil)
		n.m.blocksFetched.Inc()
	case blockInvalid:
		n.log.Info("peer sent an invalid block", "peer", v.from, "hash", v.hash, "err", v.err)
		d.pl.BlockProcessed(v.from, v.hash, wrapErr(ErrInvalidBlock, v.err, "block %s", v.hash))
	default:
		n.log.Info("sync deferred a block that cannot be judged now", "peer", v.from, "hash", v.hash, "err", v.err)
		d.pl.BlockDeferred(v.hash)
	}
}

// apply feeds one input to the planner.
func (d *syncDriver) apply(in syncInput) {
	switch in.kind {
	case inPeerUp:
		d.pl.AddPeer(in.peer)
	case inPeerDown:
		d.pl.RemovePeer(in.peer)
	case inStatus:
		// A status may arrive before the connection event, or after the
		// disconnection (a reply in flight when the peer left): only a
		// connected peer joins the planner, else it would stay there.
		if d.n.isConnected(in.peer) {
			d.pl.AddPeer(in.peer)
		}
		d.pl.Status(in.peer, in.claim)
	case inAnnounce:
		d.pl.Announce(in.peer)
	case inHeaders:
		d.setBusy(in.peer, -1)
		d.applyHeaders(in)
	case inBlocks:
		d.setBusy(in.peer, -1)
		d.applyBlocks(in)
	case inConnected:
		for _, v := range in.verdicts {
			d.connected(v)
		}
	}
}

// requestFailed reports a failed request: a peer fault is penalised, a
// timeout is a stall for the planner, anything else (transport, shutdown)
// only frees the request.
func (d *syncDriver) requestFailed(p peer.ID, hashes []chain.Hash, err error) {
	timeout := errors.Is(err, ErrTimeout)
	if !timeout {
		d.n.penalizeErr(p, err)
	}
	d.pl.RequestFailed(p, hashes, timeout, err) // nil hashes: the headers request
}

func (d *syncDriver) applyHeaders(in syncInput) {
	c := d.n.cfg.Chain
	if in.err != nil {
		d.requestFailed(in.peer, nil, in.err)
		return
	}
	if err := checkHeaderChain(in.hdrs, c); err != nil {
		d.pl.HeadersInvalid(in.peer, reasonProtocol, err)
		return
	}
	full := len(in.hdrs) == MaxHeadersPerReply
	if n := len(in.hdrs); n > 0 {
		// A reply we already hold entirely (several peers send the same
		// headers) only tells the planner where the peer's chain runs.
		if info, ok := c.BlockInfo(in.hdrs[n-1].BlockHash()); ok && !info.Invalid {
			m := metaOf(info)
			if info.HaveData {
				d.pl.BlockStored(m)
			}
			d.pl.Headers(in.peer, in.from, []HeaderMeta{m}, full)
			return
		}
	}
	err := c.ProcessHeaders(in.hdrs)
	var metas []HeaderMeta
	if err == nil && len(in.hdrs) > 0 {
		metas = d.metasOf(in.hdrs)
	} else {
		for i := range in.hdrs {
			info, ok := c.BlockInfo(in.hdrs[i].BlockHash())
			if !ok || info.Invalid {
				break
			}
			if info.HaveData {
				d.pl.BlockStored(metaOf(info))
			}
			metas = append(metas, metaOf(info))
		}
	}
	if err == nil {
		d.pl.Headers(in.peer, in.from, metas, full)
		return
	}
	switch k := chain.KindOf(err); {
	case k == chain.ErrUnknownParent:
		d.pl.HeadersInvalid(in.peer, reasonProtocol, wrapErr(ErrProtocol, err, "headers do not connect"))
	case k == "" || k == chain.ErrTimeTooNew || k == chain.ErrTooManyHeaders ||
		k == chain.ErrKnownInvalid || k == chain.ErrInvalidAncestor:
		// Not the peer's fault (an invalid mark may be the operator's).
		d.n.log.Info("peer's headers not accepted now", "peer", in.peer, "err", err)
		d.pl.HeadersDeferred(in.peer, metas)
	default:
		d.pl.HeadersInvalid(in.peer, reasonInvalidBlock, wrapErr(ErrInvalidBlock, err, "headers"))
	}
}

func metaOf(info chain.BlockInfo) HeaderMeta {
	return HeaderMeta{Hash: info.Hash, Prev: info.Header.PrevBlock, Height: info.Height, Work: info.ChainWork}
}

// metasOf describes headers the chain accepted (a linked run) from the
// index entry of the first one's parent, without a lookup per header. A
// run whose blocks are partly stored is described entry by entry.
func (d *syncDriver) metasOf(hdrs []chain.Header) []HeaderMeta {
	c := d.n.cfg.Chain
	first, ok := c.BlockInfo(hdrs[0].BlockHash())
	if !ok {
		return nil
	}
	if first.HaveData {
		var out []HeaderMeta
		for i := range hdrs {
			info, ok := c.BlockInfo(hdrs[i].BlockHash())
			if !ok {
				break
			}
			if info.HaveData {
				d.pl.BlockStored(metaOf(info))
			}
			out = append(out, metaOf(info))
		}
		return out
	}
	// The first block is missing, so are all after it.
	out := make([]HeaderMeta, len(hdrs))
	out[0] = metaOf(first)
	var bits uint32
	var work *big.Int // of bits: consecutive headers mostly share them
	for i := 1; i < len(hdrs); i++ {
		prev := out[i-1]
		if work == nil || hdrs[i].Bits != bits {
			bits, work = hdrs[i].Bits, chain.CalcWork(hdrs[i].Bits)
		}
		out[i] = HeaderMeta{Hash: hdrs[i].BlockHash(), Prev: prev.Hash, Height: prev.Height + 1,
			Work: new(big.Int).Add(prev.Work, work)}
	}
	return out
}

func (d *syncDriver) applyBlocks(in syncInput) {
	for i, b := range in.blocks {
		h := in.hashes[i]
		switch {
		case b == nil:
			d.pl.BlockNotFound(in.peer, h)
		case in.bad[i] != nil:
			d.pl.BlockBad(in.peer, h, wrapErr(ErrInvalidBlock, in.bad[i], "block %s", h))
		default:
			d.pl.BlockReceived(in.peer, h)
			if _, dup := d.blocks[h]; !dup && d.pl.Awaiting(h) {
				d.blocks[h], d.from[h] = b, in.peer // kept until Connect
			}
		}
	}
	rest := in.hashes[len(in.blocks):]
	if in.err != nil {
		d.requestFailed(in.peer, rest, in.err)
		return
	}
	if len(rest) > 0 {
		d.pl.RequestFailed(in.peer, rest, false, nil) // the server's budget: ask again
	}
}

// checkHeaderChain checks that a headers reply starts at a block or header
// we know and links up (the locator guarantees both for an honest peer).
func checkHeaderChain(hdrs []chain.Header, c Chain) error {
	if len(hdrs) == 0 {
		return nil
	}
	if _, ok := c.BlockInfo(hdrs[0].PrevBlock); !ok {
		return newErr(ErrProtocol, "headers start at unknown parent %s", hdrs[0].PrevBlock)
	}
	for i := 1; i < len(hdrs); i++ {
		if hdrs[i].PrevBlock != hdrs[i-1].BlockHash() {
			return newErr(ErrProtocol, "header %d does not link to its predecessor", i)
		}
	}
	return nil
}

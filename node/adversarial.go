package node

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/adversary"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// adversaryDriver runs a dishonest strategy (package adversary) inside the
// node. It sits between the miner and the network: the node's own blocks
// are connected locally and then handed to the strategy, which decides
// when they are announced; blocks from peers are counted as growth of the
// public chain. Until a private block is published it is hidden from the
// network: p2p sees the chain through advView, which reports the last
// published block as the tip (status exchange), serves no header or block
// above it (getheaders, getblocks) and forwards everything else to the
// real chain. All methods are safe for concurrent use.
type adversaryDriver struct {
	mode    adversary.Mode
	c       *chain.Chain
	log     *slog.Logger
	publish func(*chain.Block) // announce on gossip
	net     adversaryNet       // nil without networking

	mu       sync.Mutex
	strat    adversary.Strategy     // selfish, withhold
	withhold *adversary.Withhold    // strat, when withholding
	wr       withholdRaces          // withhold: kept public blocks, double spends
	eq       *adversary.Equivocator // equivocate
	hidden   map[chain.Hash]*chain.Block
	// pubHeight is the height of the public chain: the highest block a
	// peer sent or this node published.
	pubHeight uint64
	// ignored are peers' blocks not processed while the withhold
	// strategy mines a private branch, by hash, with their heights.
	ignored map[chain.Hash]uint64
	dropped uint64
	recent  []string // recent actions, newest last

	stop       chan struct{} // closed when the node stops (ends stalls)
	stalls     uint64
	junkByKind [junkKinds]uint64
	junkEvery  time.Duration
	twinSends  []twinSend // recent equivocation deliveries, oldest first
	// races counts the selfish races (state 0') decided by an honest
	// block, onOurs those where it was mined on this node's block: their
	// ratio estimates the paper's gamma.
	races, onOurs uint64
}

// stallFor is how long the stall mode holds a block request: longer than
// any peer's request timeout. It answers status and headers, so that its
// peers count on it for blocks.
const stallFor = 2 * time.Minute

// junkEvery is the period of the junk mode's junk.
const junkEvery = 5 * time.Second

// liedWork is the chain work the lie-work mode advertises: 2^200.
var liedWork = new(big.Int).Lsh(big.NewInt(1), 200)

// run is the driver's goroutine: it ends the stalls when ctx ends and, in
// junk mode, sends a piece of junk every junkEvery, each kind in turn.
func (d *adversaryDriver) run(ctx context.Context) error {
	defer close(d.stop)
	if d.mode != adversary.ModeJunk {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(d.junkEvery)
	defer t.Stop()
	for kind := 0; ; kind = (kind + 1) % junkKinds {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			d.sendJunk(ctx, kind)
		}
	}
}

// stall holds a peer's block request until stallFor passes or the node
// stops.
func (d *adversaryDriver) stall() {
	d.mu.Lock()
	d.stalls++
	d.mu.Unlock()
	t := time.NewTimer(stallFor)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.stop:
	}
}

const adversaryLogMax = 32

// withholdConfig is the withhold mode's settings: the release depth, the
// give-up distance (0: adversary.DefaultGiveUp) and whether it races only
// to double-spend its wallet's payments (--withhold-spend).
type withholdConfig struct {
	depth, giveUp int
	spend         bool
}

func newAdversaryDriver(mode adversary.Mode, wh withholdConfig, c *chain.Chain, log *slog.Logger) *adversaryDriver {
	d := &adversaryDriver{mode: mode, c: c, log: log.With("component", "adversary", "mode", string(mode)),
		hidden: map[chain.Hash]*chain.Block{}, ignored: map[chain.Hash]uint64{}, pubHeight: c.Height(),
		stop: make(chan struct{}), junkEvery: junkEvery}
	switch mode {
	case adversary.ModeSelfish:
		d.strat = adversary.NewSelfish()
	case adversary.ModeWithhold:
		if wh.spend {
			d.withhold = adversary.NewWithholdSpend(wh.depth, wh.giveUp)
		} else {
			d.withhold = adversary.NewWithhold(wh.depth, wh.giveUp)
		}
		d.strat = d.withhold
		d.wr.spend = wh.spend
	case adversary.ModeEquivocate:
		d.eq = &adversary.Equivocator{}
	}
	return d
}

func (d *adversaryDriver) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.log.Info(msg)
	d.recent = append(d.recent, msg)
	if len(d.recent) > adversaryLogMax {
		d.recent = d.recent[len(d.recent)-adversaryLogMax:]
	}
}

// ownBlock handles a block this node's miner found, in place of the
// honest connect-and-announce.
func (d *adversaryDriver) ownBlock(tc timedChain, b *chain.Block) error {
	h := b.Hash()
	if d.eq != nil {
		d.mu.Lock()
		stale, wasHolding := d.eq.Holding()
		hold, twins := d.eq.Found(h, b.Header.PrevBlock)
		if hold {
			if wasHolding {
				delete(d.hidden, stale) // its parent is no longer the tip
			}
			d.hidden[h] = b
			d.note("holding block %s at height %d: mining its twin", h, d.heightOf(b))
			d.mu.Unlock()
			return nil
		}
		first := d.hidden[twins[0]]
		delete(d.hidden, twins[0])
		height := d.heightOf(b)
		d.note("equivocating at height %d: twins %s and %s", height, twins[0], h)
		d.mu.Unlock()
		if first == nil {
			first = b // not reached: the held block is kept until published
		}
		var firstErr error
		for _, x := range []*chain.Block{first, b} {
			if _, err := tc.ProcessBlock(x); err != nil && firstErr == nil {
				firstErr = err
			}
		}
		d.sendTwins(height, first, b)
		return firstErr
	}
	d.mu.Lock()
	d.hidden[h] = b // hidden before it connects: p2p never sees it as ours
	d.mu.Unlock()
	if _, err := tc.ProcessBlock(b); err != nil {
		d.mu.Lock()
		delete(d.hidden, h)
		d.mu.Unlock()
		return err
	}
	d.mu.Lock()
	d.ownRaceBlock(b)
	act := d.strat.OwnBlock(h)
	d.raceStep(act)
	priv, pub := d.strat.Lead()
	if len(act.Publish) == 0 {
		d.note("withholding block %s (private %d, public %d, state %s)", h, priv, pub, d.strat.State())
	}
	out := d.release(act)
	d.mu.Unlock()
	for _, x := range out {
		d.publish(x)
	}
	return nil
}

// heightOf returns the height of b from its parent. d.mu is held.
func (d *adversaryDriver) heightOf(b *chain.Block) uint64 {
	if i, ok := d.c.BlockInfo(b.Header.PrevBlock); ok {
		return i.Height + 1
	}
	if hp, ok := d.ignored[b.Header.PrevBlock]; ok {
		return hp + 1
	}
	return 0
}

// release un-hides the blocks act publishes and returns them in order.
// d.mu is held.
func (d *adversaryDriver) release(act adversary.Action) []*chain.Block {
	var out []*chain.Block
	for _, h := range act.Publish {
		b := d.hidden[h]
		if b == nil {
			continue
		}
		delete(d.hidden, h)
		if ht := d.heightOf(b); ht > d.pubHeight {
			d.pubHeight = ht
		}
		out = append(out, b)
	}
	if len(out) > 0 {
		d.note("publishing %d block(s) up to %s (public height now %d)", len(out), out[len(out)-1].Hash(), d.pubHeight)
	}
	if act.Adopt && d.withhold != nil && len(d.ignored) > 0 {
		d.note("abandoning the private branch: the public chain won")
	}
	if d.withhold != nil && !d.withhold.Private() {
		// The peers' blocks ignored meanwhile are fetched again by sync
		// if they are still wanted.
		clear(d.ignored)
	}
	return out
}

// ignoring reports whether a peer's block is to be counted but not
// processed: the withhold strategy keeps mining its private branch even
// when the public chain has more work.
func (d *adversaryDriver) ignoring(b *chain.Block) bool {
	if d.withhold == nil {
		return false
	}
	out, ignore := d.countIgnored(b)
	for _, x := range out {
		d.publish(x)
	}
	d.adoptPublic() // an abandoned race: connect the public blocks kept
	return ignore
}

// countIgnored records b as ignored while a private branch is being mined
// and feeds the public chain's growth to the strategy; it returns the
// blocks to publish.
func (d *adversaryDriver) countIgnored(b *chain.Block) ([]*chain.Block, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.withhold.Private() {
		return nil, false
	}
	h := b.Hash()
	if _, seen := d.ignored[h]; seen || d.c.HaveBlock(h) {
		return nil, true
	}
	ht := d.heightOf(b)
	d.ignored[h] = ht
	d.dropped++
	d.keepIgnored(b, ht)
	return d.othersUpTo(ht), true
}

// peerBlock reports a peer's block that the chain stored.
func (d *adversaryDriver) peerBlock(h chain.Hash, height uint64) {
	d.mu.Lock()
	if d.strat == nil {
		d.mu.Unlock()
		return
	}
	if sel, ok := d.strat.(*adversary.Selfish); ok && height == d.pubHeight+1 {
		if ours, racing := sel.Racing(); racing {
			if i, ok := d.c.BlockInfo(h); ok {
				d.races++
				if i.Header.PrevBlock == ours {
					d.onOurs++
				}
			}
		}
	}
	out := d.othersUpTo(height)
	d.mu.Unlock()
	for _, x := range out {
		d.publish(x)
	}
}

// othersUpTo feeds the strategy one OthersBlock per height the public
// chain grew to reach height. d.mu is held.
func (d *adversaryDriver) othersUpTo(height uint64) []*chain.Block {
	var out []*chain.Block
	for d.pubHeight < height {
		d.pubHeight++
		act := d.strat.OthersBlock()
		d.raceStep(act)
		priv, pub := d.strat.Lead()
		if len(act.Publish) > 0 || priv > 0 || pub > 0 {
			d.note("public chain at height %d (private %d, public %d, state %s)", d.pubHeight, priv, pub, d.strat.State())
		}
		out = append(out, d.release(act)...)
	}
	return out
}

// isHidden reports whether h is an unpublished private block.
func (d *adversaryDriver) isHidden(h chain.Hash) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.hidden[h]
	return ok
}

// publicTip returns the tip as the network may see it: the best block
// that is not hidden.
func (d *adversaryDriver) publicTip() chain.Snapshot {
	best := d.c.Best()
	if !d.isHidden(best.Hash) {
		return best
	}
	h := best.Hash
	for d.isHidden(h) {
		i, ok := d.c.BlockInfo(h)
		if !ok {
			return best
		}
		h = i.Header.PrevBlock
	}
	i, ok := d.c.BlockInfo(h)
	if !ok {
		return best
	}
	return chain.Snapshot{Hash: i.Hash, Height: i.Height, ChainWork: i.ChainWork, Bits: i.Header.Bits,
		Timestamp: i.Header.Timestamp, MedianTime: i.MedianTime, NextBits: best.NextBits}
}

// AdversaryInfo is what RPC getadversaryinfo reports.
type AdversaryInfo struct {
	Mode        string
	State       string
	Private     int
	Public      int
	Unpublished []chain.Hash
	Stats       adversary.Stats
	Twins       uint64
	Ignored     uint64
	Stalls      uint64
	Junk        uint64
	Races       uint64
	RacesOnOurs uint64
	Recent      []string
	Spends      []SpendRecord // withhold: the double spends
}

func (d *adversaryDriver) info() AdversaryInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := AdversaryInfo{Mode: string(d.mode), Ignored: d.dropped, Stalls: d.stalls, Races: d.races, RacesOnOurs: d.onOurs, Recent: append([]string(nil), d.recent...)}
	for _, n := range d.junkByKind {
		out.Junk += n
	}
	switch {
	case d.strat != nil:
		if d.withhold != nil {
			out.Spends = d.spendRecords()
		}
		out.State = d.strat.State()
		out.Private, out.Public = d.strat.Lead()
		out.Unpublished = d.strat.Unpublished()
		out.Stats = d.strat.Stats()
	case d.eq != nil:
		out.Stats, out.Twins = d.eq.Stats(), d.eq.Twins()
		if h, ok := d.eq.Holding(); ok {
			out.State, out.Unpublished = "holding", []chain.Hash{h}
		} else {
			out.State = "idle"
		}
	}
	return out
}

// advView is the chain as p2p sees it on an adversarial node: private
// blocks are invisible until published (status reports the public tip;
// headers and blocks above it are not served), and peers' blocks are
// reported to the strategy. It embeds the node's timedChain, so every
// method p2p may need is forwarded unchanged unless overridden here; in
// particular Locator is the real one, so the locators this node sends may
// name private blocks (hashes only: peers do not know them and skip them,
// and no work is revealed). Abandoned private blocks stay hidden.
type advView struct {
	timedChain
	d *adversaryDriver
}

func (v advView) Best() chain.Snapshot {
	s := v.d.publicTip()
	if v.d.mode == adversary.ModeLieWork {
		s.ChainWork = new(big.Int).Set(liedWork)
	}
	return s
}

func (v advView) HaveBlock(h chain.Hash) bool {
	if v.timedChain.HaveBlock(h) {
		return true
	}
	v.d.mu.Lock()
	defer v.d.mu.Unlock()
	_, ok := v.d.ignored[h]
	return ok
}

func (v advView) BlockInfo(h chain.Hash) (chain.BlockInfo, bool) {
	if v.d.isHidden(h) {
		return chain.BlockInfo{}, false
	}
	return v.timedChain.BlockInfo(h)
}

func (v advView) Block(h chain.Hash) (*chain.Block, error) {
	if v.d.mode == adversary.ModeStall {
		v.d.stall()
		return nil, fmt.Errorf("block %s: %w", h, chain.ErrNotFound)
	}
	if v.d.isHidden(h) {
		return nil, fmt.Errorf("block %s: %w", h, chain.ErrNotFound)
	}
	return v.timedChain.Block(h)
}

// BlockBytes is how p2p serves blocks: it must hide private blocks (and
// stall) exactly as Block does, or the embedded chain would serve them.
func (v advView) BlockBytes(h chain.Hash) ([]byte, error) {
	if v.d.mode == adversary.ModeStall {
		v.d.stall()
		return nil, fmt.Errorf("block %s: %w", h, chain.ErrNotFound)
	}
	if v.d.isHidden(h) {
		return nil, fmt.Errorf("block %s: %w", h, chain.ErrNotFound)
	}
	return v.timedChain.BlockBytes(h)
}

func (v advView) HeadersAfter(locator []chain.Hash, stop chain.Hash, max int) []chain.Header {
	hdrs := v.timedChain.HeadersAfter(locator, stop, max)
	for i := range hdrs {
		if v.d.isHidden(hdrs[i].BlockHash()) {
			return hdrs[:i]
		}
	}
	return hdrs
}

func (v advView) ProcessBlock(b *chain.Block) (chain.ProcessResult, error) {
	if v.d.ignoring(b) {
		return chain.ProcessResult{Hash: b.Hash(), Status: chain.StatusSideChain}, nil
	}
	res, err := v.timedChain.ProcessBlock(b)
	v.after(res, err)
	return res, err
}

// ProcessUnrequestedBlock is ProcessBlock: an adversary wants to see the
// public chain even where it has less work than its private branch.
func (v advView) ProcessUnrequestedBlock(b *chain.Block) (chain.ProcessResult, error) {
	return v.ProcessBlock(b)
}

func (v advView) after(res chain.ProcessResult, err error) {
	if err == nil && (res.Status == chain.StatusConnected || res.Status == chain.StatusSideChain) {
		v.d.peerBlock(res.Hash, res.Height)
	}
}

// AdversaryInfo implements rpc.AdversaryBackend.
func (b *backend) AdversaryInfo() rpcjson.AdversaryInfo {
	out := rpcjson.AdversaryInfo{Mode: "honest", ClockOffset: b.n.cfg.ClockOffset.Seconds(), Unpublished: []string{}, Recent: []string{}}
	if b.n.adv == nil {
		return out
	}
	i := b.n.adv.info()
	b.n.adv.netInfo(&out)
	out.Mode, out.State, out.Private, out.Public = i.Mode, i.State, i.Private, i.Public
	for _, h := range i.Unpublished {
		out.Unpublished = append(out.Unpublished, h.String())
	}
	s := i.Stats
	out.Mined, out.Withheld, out.Published, out.Releases = s.Mined, s.Withheld, s.Published, s.Releases
	out.Overrides, out.OrphansCaused, out.Abandoned = s.Overrides, s.OrphansCaused, s.Abandoned
	out.Twins, out.Ignored, out.Stalls, out.Junk = i.Twins, i.Ignored, i.Stalls, i.Junk
	out.Races, out.RacesOnOurs = i.Races, i.RacesOnOurs
	if i.Recent != nil {
		out.Recent = i.Recent
	}
	for _, s := range i.Spends {
		out.DoubleSpends = append(out.DoubleSpends, spendJSON(s))
	}
	return out
}

package chain_test

import (
	"errors"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// headersOf returns the headers of the named blocks, in order.
func headersOf(g *chaintest.Generator, names ...string) []chain.Header {
	out := make([]chain.Header, len(names))
	for i, n := range names {
		out[i] = g.Block(n).Header
	}
	return out
}

func hashesOf(g *chaintest.Generator, names ...string) []chain.Hash {
	out := make([]chain.Hash, len(names))
	for i, n := range names {
		out[i] = g.Hash(n)
	}
	return out
}

func tipByHash(tips []chain.TipInfo, h chain.Hash) (chain.TipInfo, bool) {
	for _, t := range tips {
		if t.Hash == h {
			return t, true
		}
	}
	return chain.TipInfo{}, false
}

// TestHeadersOnlyEntries: headers ahead of the stored blocks become
// headers-only entries: the best header moves, the tip does not, the
// missing blocks are listed lowest first, getchaintips shows the branch as
// headers-only, and downloading the blocks turns them into stored blocks.
func TestHeadersOnlyEntries(t *testing.T) {
	g, c := regtestEnv(t)
	g.Chain("b", gen, 20)
	g.AcceptAll(t, c, chaintest.Names("b", 1, 5)...)
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("b", 1, 20)...)); err != nil {
		t.Fatalf("ProcessHeaders: %v", err)
	}
	if got := c.Best().Hash; got != g.Hash("b5") {
		t.Fatalf("tip moved to %s on headers alone", got)
	}
	bh := c.BestHeader()
	if bh.Hash != g.Hash("b20") || bh.Height != 20 || bh.HaveData {
		t.Fatalf("best header %+v, want b20 without data", bh)
	}
	if got, want := c.MissingBlocks(4), hashesOf(g, "b6", "b7", "b8", "b9"); !equalHashes(got, want) {
		t.Fatalf("MissingBlocks(4) = %v, want %v", got, want)
	}
	if got := len(c.MissingBlocks(100)); got != 15 {
		t.Fatalf("%d missing blocks, want 15", got)
	}
	info, ok := c.BlockInfo(g.Hash("b10"))
	if !ok || info.HaveData || info.Height != 10 || info.InMainChain || info.Invalid {
		t.Fatalf("BlockInfo(b10) = %+v, %v", info, ok)
	}
	if info, ok := c.BlockInfo(g.Hash("b5")); !ok || !info.HaveData {
		t.Fatalf("BlockInfo(b5) = %+v, %v", info, ok)
	}
	if c.HaveBlock(g.Hash("b10")) {
		t.Fatal("HaveBlock true for a headers-only entry")
	}
	tip, ok := tipByHash(c.Tips(), g.Hash("b20"))
	if !ok || tip.Status != "headers-only" || tip.BranchLen != 15 || tip.Height != 20 {
		t.Fatalf("getchaintips entry %+v, %v; want headers-only, branch 15", tip, ok)
	}
	if loc := c.HeaderLocator(); loc[0] != g.Hash("b20") || loc[len(loc)-1] != c.Params().GenesisHash {
		t.Fatalf("header locator %v", loc)
	}

	g.AcceptAll(t, c, chaintest.Names("b", 6, 12)...)
	if got, want := c.MissingBlocks(2), hashesOf(g, "b13", "b14"); !equalHashes(got, want) {
		t.Fatalf("after download MissingBlocks(2) = %v, want %v", got, want)
	}
	if tip, _ := tipByHash(c.Tips(), g.Hash("b20")); tip.BranchLen != 8 {
		t.Fatalf("branch length %d after download, want 8", tip.BranchLen)
	}
	g.AcceptAll(t, c, chaintest.Names("b", 13, 20)...)
	g.AssertTip(t, c, "b20")
	if bh := c.BestHeader(); bh.Hash != g.Hash("b20") || !bh.HaveData {
		t.Fatalf("best header %+v after download", bh)
	}
	if m := c.MissingBlocks(10); len(m) != 0 {
		t.Fatalf("missing %v after download", m)
	}
	for _, tip := range c.Tips() {
		if tip.Status == "headers-only" {
			t.Fatalf("headers-only tip %+v left after download", tip)
		}
	}
	// Known headers are skipped.
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("b", 1, 20)...)); err != nil {
		t.Fatalf("known headers: %v", err)
	}
}

func equalHashes(a, b []chain.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHeadersRejected: a header must connect and follow the rules; one that
// breaks a header rule marks itself and its descendants invalid, a header
// from the future is not recorded and is accepted once its time comes.
func TestHeadersRejected(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	clock := chaintest.NewClock(chaintest.FarFuture(p))
	c := chaintest.NewChain(t, p, clock.Now)
	g.Chain("b", gen, 3)

	// Unknown parent: transient, nothing recorded.
	err := c.ProcessHeaders(headersOf(g, "b2", "b3"))
	if !errors.Is(err, chain.ErrUnknownParent) {
		t.Fatalf("unconnected headers: %v", err)
	}
	if _, ok := c.BlockInfo(g.Hash("b2")); ok {
		t.Fatal("an unconnected header was recorded")
	}
	// Headers that do not link are caught as unknown parents.
	if err := c.ProcessHeaders(headersOf(g, "b1", "b3")); !errors.Is(err, chain.ErrUnknownParent) {
		t.Fatalf("gap: %v", err)
	}

	// Bad proof of work: refused, not recorded (no context needed).
	g.Next("highhash", "b1", chaintest.HighHash())
	if err := c.ProcessHeaders(headersOf(g, "highhash")); !errors.Is(err, chain.ErrHighHash) {
		t.Fatalf("high hash: %v", err)
	}

	// Wrong bits: marked invalid, and so is a child header.
	g.Next("badbits", "b1", chaintest.Bits(0x207ffffe))
	g.Next("badchild", "badbits")
	if err := c.ProcessHeaders(headersOf(g, "badbits")); !errors.Is(err, chain.ErrUnexpectedBits) {
		t.Fatalf("bad bits: %v", err)
	}
	if info, ok := c.BlockInfo(g.Hash("badbits")); !ok || !info.Invalid || info.HaveData {
		t.Fatalf("bad-bits header %+v, %v: want an invalid headers-only entry", info, ok)
	}
	if err := c.ProcessHeaders(headersOf(g, "badchild")); !errors.Is(err, chain.ErrInvalidAncestor) {
		t.Fatalf("child of invalid header: %v", err)
	}
	if err := c.ProcessHeaders(headersOf(g, "badbits")); !errors.Is(err, chain.ErrUnexpectedBits) {
		t.Fatalf("bad bits again: %v", err)
	}
	if tip, ok := tipByHash(c.Tips(), g.Hash("badchild")); !ok || tip.Status != "invalid" {
		t.Fatalf("tips: %+v %v", tip, ok)
	}
	// The block of an invalid header is refused too.
	if _, err := c.ProcessBlock(g.Block("badbits")); err == nil {
		t.Fatal("block of an invalid header accepted")
	}

	// Time not after the median time past.
	g.Next("old", "b1", chaintest.Timestamp(g.Block("b1").Header.Timestamp-1))
	if err := c.ProcessHeaders(headersOf(g, "old")); !errors.Is(err, chain.ErrTimeTooOld) {
		t.Fatalf("old header: %v", err)
	}

	// From the future: not recorded, accepted once the clock catches up.
	future := uint32(clock.Now().Add(p.MaxFutureBlockTime + time.Hour).Unix())
	g.Next("future", "b1", chaintest.Timestamp(future))
	if err := c.ProcessHeaders(headersOf(g, "future")); !errors.Is(err, chain.ErrTimeTooNew) {
		t.Fatalf("future header: %v", err)
	}
	if _, ok := c.BlockInfo(g.Hash("future")); ok {
		t.Fatal("a header from the future was recorded")
	}
	clock.Advance(2 * time.Hour)
	if err := c.ProcessHeaders(headersOf(g, "future")); err != nil {
		t.Fatalf("future header after the clock moved: %v", err)
	}

	// None of it moved the best header off the valid branch.
	if err := c.ProcessHeaders(headersOf(g, "b1", "b2", "b3")); err != nil {
		t.Fatal(err)
	}
	if bh := c.BestHeader(); bh.Hash != g.Hash("b3") {
		t.Fatalf("best header %s, want b3", bh.Hash)
	}
}

// TestHeadersBelowInvalidatedBlock: headers-only entries above a stored
// block that is invalidated become invalid and stop being the best header;
// reconsidering the block restores them.
func TestHeadersBelowInvalidatedBlock(t *testing.T) {
	g, c := regtestEnv(t)
	g.Chain("b", gen, 8)
	g.AcceptAll(t, c, chaintest.Names("b", 1, 4)...)
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("b", 5, 8)...)); err != nil {
		t.Fatal(err)
	}
	if err := c.InvalidateBlock(g.Hash("b3")); err != nil {
		t.Fatal(err)
	}
	if bh := c.BestHeader(); bh.Hash != g.Hash("b2") || !bh.HaveData {
		t.Fatalf("best header %+v after invalidating b3, want b2", bh)
	}
	if m := c.MissingBlocks(10); len(m) != 0 {
		t.Fatalf("missing blocks below an invalid block: %v", m)
	}
	if info, _ := c.BlockInfo(g.Hash("b8")); !info.Invalid {
		t.Fatal("headers-only entry above an invalidated block not invalid")
	}
	if err := c.ReconsiderBlock(g.Hash("b3")); err != nil {
		t.Fatal(err)
	}
	if bh := c.BestHeader(); bh.Hash != g.Hash("b8") {
		t.Fatalf("best header %s after reconsider, want b8", bh.Hash)
	}
}

// TestHeadersForkChoice: of two header branches the one with more work is
// the best header, equal work keeps the first seen, and headers never
// outrank a stored chain of equal work.
func TestHeadersForkChoice(t *testing.T) {
	g, c := regtestEnv(t)
	g.Chain("a", gen, 3)
	g.Chain("x", gen, 5)
	g.Chain("z", gen, 5)
	g.Chain("w", gen, 6)
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("a", 1, 3)...)); err != nil {
		t.Fatal(err)
	}
	if bh := c.BestHeader(); bh.Hash != g.Hash("a3") {
		t.Fatalf("best header %s, want a3", bh.Hash)
	}
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("x", 1, 5)...)); err != nil {
		t.Fatal(err)
	}
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("z", 1, 5)...)); err != nil {
		t.Fatal(err)
	}
	if bh := c.BestHeader(); bh.Hash != g.Hash("x5") {
		t.Fatalf("best header %s, want x5 (more work, then first seen)", bh.Hash)
	}
	if got, want := c.MissingBlocks(10), hashesOf(g, chaintest.Names("x", 1, 5)...); !equalHashes(got, want) {
		t.Fatalf("missing %v, want x1..x5", got)
	}
	g.AcceptAll(t, c, chaintest.Names("z", 1, 5)...)
	if bh := c.BestHeader(); bh.Hash != g.Hash("z5") || !bh.HaveData {
		t.Fatalf("best header %+v, want the stored tip z5 (headers of equal work never outrank it)", bh)
	}
	if m := c.MissingBlocks(10); len(m) != 0 {
		t.Fatalf("missing %v with an equal-work stored tip", m)
	}
	if err := c.ProcessHeaders(headersOf(g, chaintest.Names("w", 1, 6)...)); err != nil {
		t.Fatal(err)
	}
	if bh := c.BestHeader(); bh.Hash != g.Hash("w6") || bh.HaveData {
		t.Fatalf("best header %+v, want w6 without data", bh)
	}
	if tip, ok := tipByHash(c.Tips(), g.Hash("w6")); !ok || tip.Status != "headers-only" || tip.BranchLen != 6 {
		t.Fatalf("w6 tip %+v %v", tip, ok)
	}
}

// TestHeadersASERT: on a retargeting network the expected bits of headers
// follow the ASERT schedule from headers-only parents.
func TestHeadersASERT(t *testing.T) {
	p := chain.DevParams()
	g := chaintest.NewGenerator(t, p)
	c := chaintest.NewChain(t, p, nil)
	g.Chain("d", gen, 3)
	g.Next("fast1", "d3", chaintest.Timestamp(g.Block("d3").Header.Timestamp+1))
	g.Next("fast2", "fast1", chaintest.Timestamp(g.Block("fast1").Header.Timestamp+1))
	g.Next("fast3", "fast2", chaintest.Timestamp(g.Block("fast2").Header.Timestamp+1))
	if g.Block("fast3").Header.Bits == p.PowLimitBits {
		t.Fatal("fast blocks did not raise the difficulty; the test needs another schedule")
	}
	if err := c.ProcessHeaders(headersOf(g, "d1", "d2", "d3", "fast1", "fast2", "fast3")); err != nil {
		t.Fatalf("ProcessHeaders: %v", err)
	}
	g.Next("easy", "fast3", chaintest.Bits(p.PowLimitBits))
	if err := c.ProcessHeaders(headersOf(g, "easy")); !errors.Is(err, chain.ErrUnexpectedBits) {
		t.Fatalf("header at the PoW limit after fast blocks: %v", err)
	}
	g.AcceptAll(t, c, "d1", "d2", "d3", "fast1", "fast2", "fast3")
	g.AssertTip(t, c, "fast3")
}

package chain_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"

	"github.com/quarrychain/quarry/chain/leveldbstore"
)

// freshBest feeds the branch ending at tip to a new node that never saw any
// other block and returns its tip snapshot.
func freshBest(t *testing.T, g *chaintest.Generator, tip string) chain.Snapshot {
	t.Helper()
	c := chaintest.NewChain(t, g.Params(), nil)
	for _, name := range g.Path(tip) {
		if _, err := c.ProcessBlock(g.Block(name)); err != nil {
			t.Fatalf("fresh node, block %s: %v", name, err)
		}
	}
	return c.Best()
}

// assertSameState checks that c's tip and state equal those of a fresh node
// that only saw the branch ending at tip, and the generator's expectation.
func assertSameState(t *testing.T, g *chaintest.Generator, c *chain.Chain, tip string) {
	t.Helper()
	g.AssertTip(t, c, tip)
	got, want := c.Best(), freshBest(t, g, tip)
	if got.Hash != want.Hash || got.StateDigest != want.StateDigest || got.ChainWork.Cmp(want.ChainWork) != 0 ||
		got.NextBits != want.NextBits || got.MedianTime != want.MedianTime {
		t.Fatalf("state at %s differs from a fresh node's:\n got %+v\nwant %+v", tip, got, want)
	}
	for a, acc := range g.Accounts(tip) {
		if have := c.Account(a); have != acc {
			t.Fatalf("account %x: %+v, want %+v", a[:4], have, acc)
		}
	}
}

func TestReorgEqualWorkKeepsFirstSeen(t *testing.T) {
	for _, order := range [][2]string{{"a", "b"}, {"b", "a"}} {
		t.Run(order[0]+"-first", func(t *testing.T) {
			g, c := regtestEnv(t)
			g.Next("a", gen)
			g.Next("b", gen, chaintest.ExtraNonce(1))
			first, second := order[0], order[1]
			if res := g.Accept(t, c, first); res.Status != chain.StatusConnected {
				t.Fatalf("first: %v", res.Status)
			}
			if res := g.Accept(t, c, second); res.Status != chain.StatusSideChain || res.Reorged {
				t.Fatalf("second: %v reorged=%v", res.Status, res.Reorged)
			}
			g.AssertTip(t, c, first)
			tips := c.Tips()
			if len(tips) != 2 || tips[0].Status != "active" || tips[0].Hash != g.Hash(first) ||
				tips[1].Hash != g.Hash(second) || tips[1].Status != "valid-headers" || tips[1].BranchLen != 1 {
				t.Fatalf("tips %+v", tips)
			}
			// One more block on the second branch wins; then a tie again
			// keeps the branch that got there first.
			g.Next(second+"2", second)
			if res := g.Accept(t, c, second+"2"); res.Status != chain.StatusConnected || !res.Reorged {
				t.Fatalf("heavier branch: %v reorged=%v", res.Status, res.Reorged)
			}
			g.Next(first+"2", first)
			if res := g.Accept(t, c, first+"2"); res.Status != chain.StatusSideChain {
				t.Fatalf("tie after reorg: %v", res.Status)
			}
			assertSameState(t, g, c, second+"2")
		})
	}
}

// TestReorgLong reorganises 1,000 blocks deep and back: branch A (1,000
// blocks, a transfer in every tenth), branch B (1,001 empty blocks from
// genesis paying another miner), then A extended to 1,002. Transfers are
// sparse because signature checks dominate the run time under -race.
func TestReorgLong(t *testing.T) {
	const n = 1000
	g, c := regtestEnv(t)
	rng := rand.New(rand.NewPCG(1, 2))
	sub := c.Subscribe(4 * n)
	defer sub.Close()
	parent := gen
	var txs []chain.Hash
	var txBlock []string
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("A%d", i)
		if i%10 == 2 {
			tx := g.Transfer(parent, 0, 1+rng.IntN(4), 1+rng.Uint64N(chain.Coin), rng.Uint64N(1000))
			txs = append(txs, tx.TxID())
			txBlock = append(txBlock, name)
		}
		g.Next(name, parent)
		if _, err := c.ProcessBlock(g.Block(name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		parent = name
	}
	g.AssertTip(t, c, "A1000")
	digestA := c.Best().StateDigest
	drain(sub)
	mainA := mainHashes(t, c)

	parent = gen
	for i := 1; i <= n+1; i++ {
		name := fmt.Sprintf("B%d", i)
		g.Next(name, parent, chaintest.CoinbaseTo(g.Addr(9)))
		res, err := c.ProcessBlock(g.Block(name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if want := i == n+1; res.Reorged != want {
			t.Fatalf("%s: reorged=%v", name, res.Reorged)
		}
		parent = name
	}
	assertSameState(t, g, c, "B1001")
	if acc := c.Account(g.Addr(0)); acc != (chain.Account{}) {
		t.Fatalf("A's miner after reorg: %+v", acc)
	}
	if _, _, _, err := c.Transaction(txs[len(txs)/2]); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("transaction of the losing branch still indexed: %v", err)
	}
	evs := drain(sub)
	if got := replayEvents(t, mainA, evs); fmt.Sprint(got) != fmt.Sprint(mainHashes(t, c)) {
		t.Fatal("replayed events do not end on branch B")
	}
	r := evs[len(evs)-2].Reorg
	if r == nil {
		t.Fatal("no reorg summary before the new tip")
	}
	// Sync helpers see branch B only.
	loc := c.Locator()
	if loc[0] != g.Hash("B1001") || loc[len(loc)-1] != g.Params().GenesisHash || len(loc) > 30 {
		t.Fatalf("locator of %d entries", len(loc))
	}
	if hs := c.HeadersAfter([]chain.Hash{g.Hash("A500"), g.Hash("A1")}, chain.Hash{}, 3); len(hs) != 3 || hs[0].BlockHash() != g.Hash("B1") {
		t.Fatal("headers after a locator of the losing branch must start at the fork")
	}
	if r.Depth() != n || len(r.Added) != n+1 || r.ForkPoint != g.Params().GenesisHash || r.ForkHeight != 0 ||
		r.OldTip != g.Hash("A1000") || r.NewTip != g.Hash("B1001") || r.Added[0] != g.Hash("B1") || r.Removed[0] != g.Hash("A1000") {
		t.Fatalf("reorg summary: depth %d added %d fork %d", r.Depth(), len(r.Added), r.ForkHeight)
	}

	g.Next("A1001", "A1000")
	g.Accept(t, c, "A1001") // ties with B1001, which was there first
	g.AssertTip(t, c, "B1001")
	g.Next("A1002", "A1001")
	if res := g.Accept(t, c, "A1002"); !res.Reorged {
		t.Fatal("A1002 did not reorganise")
	}
	assertSameState(t, g, c, "A1002")
	if c.Best().StateDigest == digestA {
		t.Fatal("digest did not change with two more blocks")
	}
	mid := len(txs) / 2
	if _, h, height, err := c.Transaction(txs[mid]); err != nil || h != g.Hash(txBlock[mid]) || height != g.Height(txBlock[mid]) {
		t.Fatalf("transaction index after reorg back: %v height %d", err, height)
	}
	if r := lastReorg(t, sub); r.Depth() != n+1 || len(r.Added) != n+2 {
		t.Fatalf("reorg back: depth %d added %d", r.Depth(), len(r.Added))
	}
	if sub.Dropped() != 0 {
		t.Fatalf("dropped %d events", sub.Dropped())
	}
}

func drain(sub *chain.Subscription) []chain.Event {
	var out []chain.Event
	for {
		select {
		case ev := <-sub.Events():
			out = append(out, ev)
		default:
			return out
		}
	}
}

func lastReorg(t *testing.T, sub *chain.Subscription) *chain.Reorg {
	t.Helper()
	var r *chain.Reorg
	for _, ev := range drain(sub) {
		if ev.Kind == chain.EventReorg {
			r = ev.Reorg
		}
	}
	if r == nil {
		t.Fatal("no reorg event")
	}
	return r
}

// replayEvents applies an event stream to the main chain as it was before
// (hashes by height, genesis first) and checks that it is a consistent walk:
// every disconnection removes the current tip, every connection extends it,
// each reorg summary matches the walk since the last new tip, and every
// change ends with a new-tip event naming the resulting tip. It returns the
// main chain after the events.
func replayEvents(t *testing.T, main []chain.Hash, evs []chain.Event) []chain.Hash {
	t.Helper()
	main = append([]chain.Hash(nil), main...)
	var removed, added []chain.Hash
	startTip := main[len(main)-1]
	for i, ev := range evs {
		tip := main[len(main)-1]
		switch ev.Kind {
		case chain.EventBlockDisconnected:
			if ev.Hash != tip || ev.Height != uint64(len(main)-1) {
				t.Fatalf("event %d disconnects %s@%d, tip is %s@%d", i, ev.Hash, ev.Height, tip, len(main)-1)
			}
			main = main[:len(main)-1]
			if len(added) > 0 && added[len(added)-1] == ev.Hash {
				added = added[:len(added)-1] // a failed attempt takes back what it connected
			} else {
				removed = append(removed, ev.Hash)
			}
		case chain.EventBlockConnected:
			if ev.Block.Header.PrevBlock != tip || ev.Height != uint64(len(main)) {
				t.Fatalf("event %d connects %s@%d on %s, tip is %s@%d", i, ev.Hash, ev.Height, ev.Block.Header.PrevBlock, tip, len(main)-1)
			}
			main = append(main, ev.Hash)
			if len(removed) > 0 && removed[len(removed)-1] == ev.Hash {
				removed = removed[:len(removed)-1] // reconnecting what this change removed
			} else {
				added = append(added, ev.Hash)
			}
		case chain.EventReorg:
			r := ev.Reorg
			if fmt.Sprint(r.Removed) != fmt.Sprint(removed) || fmt.Sprint(r.Added) != fmt.Sprint(added) ||
				r.OldTip != startTip || r.NewTip != tip || r.ForkHeight != uint64(len(main)-1-len(added)) {
				t.Fatalf("event %d: reorg summary %+v does not match the walk (removed %v added %v)", i, r, removed, added)
			}
		case chain.EventNewTip:
			if ev.Hash != tip || ev.Tip.Hash != tip {
				t.Fatalf("event %d: new tip %s, walk ends at %s", i, ev.Hash, tip)
			}
			removed, added, startTip = nil, nil, tip
		}
	}
	if n := len(evs); n > 0 && evs[n-1].Kind != chain.EventNewTip {
		t.Fatalf("event stream ends with %v", evs[n-1].Kind)
	}
	return main
}

// mainHashes returns the chain's main-chain hashes by height.
func mainHashes(t *testing.T, c *chain.Chain) []chain.Hash {
	t.Helper()
	var out []chain.Hash
	for h := uint64(0); h <= c.Height(); h++ {
		x, ok := c.HashAtHeight(h)
		if !ok {
			t.Fatalf("no main-chain block at %d", h)
		}
		out = append(out, x)
	}
	return out
}

// invalidBranch builds branch x2..x6 on a1 whose third block (x4) carries a
// transfer with a bad signature.
func invalidBranch(g *chaintest.Generator) {
	parent := "a1"
	for i := 2; i <= 6; i++ {
		name := fmt.Sprintf("x%d", i)
		tx := g.Transfer(parent, 0, 2, chain.Coin, 5)
		if i == 4 {
			tx.Sig[5] ^= 1
		}
		g.Next(name, parent, chaintest.CoinbaseTo(g.Addr(8)))
		parent = name
	}
}

func TestReorgOntoInvalidBranch(t *testing.T) {
	t.Run("falls-back", func(t *testing.T) {
		// Main a1..a4; x5 makes the x branch heavier, the reorg fails at x4
		// and the remaining valid part (up to x3) is lighter than a4.
		g, c := regtestEnv(t)
		g.Chain("a", gen, 4)
		g.AcceptAll(t, c, g.Path("a4")...)
		invalidBranch(g)
		before, beforeMain := c.Best(), mainHashes(t, c)
		sub := c.Subscribe(64)
		defer sub.Close()
		g.AcceptAll(t, c, "x2", "x3", "x4") // side branch, not validated yet
		g.Reject(t, c, "x5", chain.ErrInvalidAncestor)
		// The failed attempt shows in the events (a2..a4 out, x2, x3 in
		// and out again, a2..a4 back in) as a consistent walk with no net
		// reorg.
		evs := drain(sub)
		if len(evs) != 11 {
			t.Fatalf("%d events for the failed reorg", len(evs))
		}
		if got := replayEvents(t, beforeMain, evs); fmt.Sprint(got) != fmt.Sprint(mainHashes(t, c)) {
			t.Fatal("replayed events do not end on the main chain")
		}
		for i, name := range []string{"x2", "x3", "x4", "x5"} {
			assertMarked(t, g, c, name, i >= 2)
		}
		g.Reject(t, c, "x6", chain.ErrInvalidAncestor)
		g.Reject(t, c, "x4", chain.ErrKnownInvalid)
		tips := sortedTips(c)
		if len(tips) != 2 || tips[0].Hash != g.Hash("a4") || tips[1].Hash != g.Hash("x6") || tips[1].Status != "invalid" || tips[1].BranchLen != 5 {
			t.Fatalf("tips %+v", tips)
		}
		if c.Best().StateDigest != before.StateDigest {
			t.Fatal("state changed")
		}
		assertSameState(t, g, c, "a4")
	})
	t.Run("stops-at-last-valid", func(t *testing.T) {
		// The x branch is stored while a1..a7 is heavier; invalidating a3
		// rewinds to a2 and makes x6 the best candidate: the reorg fails at
		// x4 and stops at x3, which is heavier than a2.
		g, c := regtestEnv(t)
		g.Chain("a", gen, 7)
		g.AcceptAll(t, c, g.Path("a7")...)
		invalidBranch(g)
		g.AcceptAll(t, c, "x2", "x3", "x4", "x5", "x6")
		g.AssertTip(t, c, "a7")
		beforeMain := mainHashes(t, c)
		sub := c.Subscribe(64)
		defer sub.Close()
		if err := c.InvalidateBlock(g.Hash("a3")); err != nil {
			t.Fatal(err)
		}
		assertSameState(t, g, c, "x3")
		if got := replayEvents(t, beforeMain, drain(sub)); fmt.Sprint(got) != fmt.Sprint(mainHashes(t, c)) {
			t.Fatal("replayed events do not end on the main chain")
		}
		for _, name := range []string{"x4", "x5", "x6", "a3", "a7"} {
			assertMarked(t, g, c, name, true)
		}
		// Reconsidering a3 brings a7 back (heavier than x3).
		if err := c.ReconsiderBlock(g.Hash("a3")); err != nil {
			t.Fatal(err)
		}
		assertSameState(t, g, c, "a7")
	})
}

func TestReorgInvalidateReconsider(t *testing.T) {
	g, c := regtestEnv(t)
	for i := 1; i <= 4; i++ {
		parent := gen
		if i > 1 {
			parent = fmt.Sprintf("a%d", i-1)
			g.Transfer(parent, 0, i, chain.Coin, 10)
		}
		g.Next(fmt.Sprintf("a%d", i), parent)
	}
	g.AcceptAll(t, c, g.Path("a4")...)
	g.Chain("b", "a1", 2) // b1, b2 at heights 2, 3
	g.AcceptAll(t, c, "b1", "b2")
	digestA := c.Best().StateDigest

	if err := c.InvalidateBlock(g.Hash("a3")); err != nil {
		t.Fatal(err)
	}
	assertSameState(t, g, c, "b2") // b2 (height 3) beats a2
	assertMarked(t, g, c, "a4", true)
	g.Reject(t, c, "a4", chain.ErrKnownInvalid)
	// Invalidating a side block that is not on the main chain changes nothing.
	if err := c.InvalidateBlock(g.Hash("a4")); err != nil {
		t.Fatal(err)
	}
	g.AssertTip(t, c, "b2")

	if err := c.ReconsiderBlock(g.Hash("a4")); err != nil {
		t.Fatal(err)
	}
	assertSameState(t, g, c, "a4")
	if c.Best().StateDigest != digestA {
		t.Fatal("digest after reconsider differs from before the invalidation")
	}
	// Invalidating b1 leaves a4 in place.
	if err := c.InvalidateBlock(g.Hash("b1")); err != nil {
		t.Fatal(err)
	}
	assertMarked(t, g, c, "b2", true)
	g.AssertTip(t, c, "a4")

	if err := c.InvalidateBlock(g.Params().GenesisHash); err == nil {
		t.Fatal("genesis invalidated")
	}
	if err := c.InvalidateBlock(chain.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown block: %v", err)
	}
	if err := c.ReconsiderBlock(chain.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown block: %v", err)
	}
}

type evWant struct {
	kind chain.EventKind
	name string
}

// checkEvents compares the events with the expected kinds and blocks, checks
// consecutive sequence numbers, and returns the reorg summary if any.
func checkEvents(t *testing.T, g *chaintest.Generator, evs []chain.Event, want []evWant) *chain.Reorg {
	t.Helper()
	if len(evs) != len(want) {
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Kind.String())
		}
		t.Fatalf("got %d events %v, want %d", len(evs), got, len(want))
	}
	var r *chain.Reorg
	for i, ev := range evs {
		w := want[i]
		if ev.Kind != w.kind || ev.Hash != g.Hash(w.name) || ev.Height != g.Height(w.name) {
			t.Fatalf("event %d: %v %s@%d, want %v %s", i, ev.Kind, ev.Hash, ev.Height, w.kind, w.name)
		}
		if i > 0 && ev.Seq != evs[i-1].Seq+1 {
			t.Fatalf("event %d: seq %d after %d", i, ev.Seq, evs[i-1].Seq)
		}
		switch ev.Kind {
		case chain.EventBlockConnected, chain.EventBlockDisconnected:
			if ev.Block == nil || ev.Block.Hash() != ev.Hash {
				t.Fatalf("event %d: block missing or wrong", i)
			}
		case chain.EventReorg:
			r = ev.Reorg
		case chain.EventNewTip:
			if ev.Tip.Hash != ev.Hash || ev.Tip.Height != ev.Height {
				t.Fatalf("new tip event: snapshot %s", ev.Tip.Hash)
			}
		}
	}
	return r
}

// checkReorg compares a reorg summary: removed old tip first, added lowest first.
func checkReorg(t *testing.T, g *chaintest.Generator, r *chain.Reorg, fork, newTip string, removed, added []string) {
	t.Helper()
	hashes := func(names []string) string {
		var out []chain.Hash
		for _, n := range names {
			out = append(out, g.Hash(n))
		}
		return fmt.Sprint(out)
	}
	if r == nil || r.ForkPoint != g.Hash(fork) || r.ForkHeight != g.Height(fork) || r.Depth() != len(removed) ||
		fmt.Sprint(r.Removed) != hashes(removed) || fmt.Sprint(r.Added) != hashes(added) ||
		r.OldTip != g.Hash(removed[0]) || r.NewTip != g.Hash(newTip) {
		t.Fatalf("reorg %+v, want fork %s removed %v added %v", r, fork, removed, added)
	}
}

func TestReorgEvents(t *testing.T) {
	g, c := regtestEnv(t)
	g.Chain("a", gen, 3)
	g.AcceptAll(t, c, "a1", "a2", "a3")
	g.Chain("b", "a1", 4) // b1..b4 at heights 2..5
	sub := c.Subscribe(64)
	defer sub.Close()
	g.AcceptAll(t, c, "b1", "b2")
	if evs := drain(sub); len(evs) != 0 {
		t.Fatalf("side-chain blocks published %d events", len(evs))
	}
	g.Accept(t, c, "b3")
	D, C, R, N := chain.EventBlockDisconnected, chain.EventBlockConnected, chain.EventReorg, chain.EventNewTip
	r := checkEvents(t, g, drain(sub), []evWant{{D, "a3"}, {D, "a2"}, {C, "b1"}, {C, "b2"}, {C, "b3"}, {R, "b3"}, {N, "b3"}})
	checkReorg(t, g, r, "a1", "b3", []string{"a3", "a2"}, []string{"b1", "b2", "b3"})
	if info, _ := c.BlockInfo(g.Hash("a3")); info.InMainChain || info.Confirmations != 0 || info.NextHash != (chain.Hash{}) {
		t.Fatalf("disconnected block info %+v", info)
	}
	if info, _ := c.BlockInfo(g.Hash("b1")); !info.InMainChain || info.Confirmations != 3 || info.NextHash != g.Hash("b2") {
		t.Fatalf("connected block info %+v", info)
	}

	g.Accept(t, c, "b4")
	checkEvents(t, g, drain(sub), []evWant{{C, "b4"}, {N, "b4"}})

	if err := c.InvalidateBlock(g.Hash("b2")); err != nil {
		t.Fatal(err)
	}
	r = checkEvents(t, g, drain(sub), []evWant{{D, "b4"}, {D, "b3"}, {D, "b2"}, {D, "b1"}, {C, "a2"}, {C, "a3"}, {R, "a3"}, {N, "a3"}})
	checkReorg(t, g, r, "a1", "a3", []string{"b4", "b3", "b2", "b1"}, []string{"a2", "a3"})

	if err := c.ReconsiderBlock(g.Hash("b2")); err != nil {
		t.Fatal(err)
	}
	r = checkEvents(t, g, drain(sub), []evWant{{D, "a3"}, {D, "a2"}, {C, "b1"}, {C, "b2"}, {C, "b3"}, {C, "b4"}, {R, "b4"}, {N, "b4"}})
	checkReorg(t, g, r, "a1", "b4", []string{"a3", "a2"}, []string{"b1", "b2", "b3", "b4"})
	// Invalidating the tip with no heavier alternative: the tip goes back
	// one block, a reorg of depth 1 that adds nothing.
	if err := c.InvalidateBlock(g.Hash("b4")); err != nil {
		t.Fatal(err)
	}
	r = checkEvents(t, g, drain(sub), []evWant{{D, "b4"}, {R, "b3"}, {N, "b3"}})
	checkReorg(t, g, r, "b3", "b3", []string{"b4"}, nil)
}

func TestEventsDropCounting(t *testing.T) {
	g, c := regtestEnv(t)
	sub := c.Subscribe(1)
	g.Chain("a", gen, 3)
	g.AcceptAll(t, c, "a1", "a2", "a3") // 3 x (connected, new tip)
	if sub.Dropped() != 5 {
		t.Fatalf("dropped %d, want 5", sub.Dropped())
	}
	ev := <-sub.Events()
	if ev.Kind != chain.EventBlockConnected || ev.Hash != g.Hash("a1") {
		t.Fatalf("kept event %v %s", ev.Kind, ev.Hash)
	}
	g.Next("a4", "a3")
	g.Accept(t, c, "a4")
	if ev2 := <-sub.Events(); ev2.Seq != ev.Seq+6 { // the gap shows the drops
		t.Fatalf("seq %d after %d", ev2.Seq, ev.Seq)
	}
	sub.Close()
	sub.Close() // idempotent
	if _, ok := <-sub.Events(); ok {
		t.Fatal("channel open after Close")
	}
	g.Next("a5", "a4")
	g.Accept(t, c, "a5") // publishing after Close must not panic
}

type diskChain struct {
	c     *chain.Chain
	store chain.Store
}

func openDisk(t *testing.T, dir string, p *chain.Params) (diskChain, error) {
	t.Helper()
	store, err := leveldbstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	far := chaintest.FarFuture(p)
	c, err := chain.New(chain.Config{Params: p, Store: store, Now: func() time.Time { return far }})
	if err != nil {
		_ = store.Close()
		return diskChain{}, err
	}
	return diskChain{c, store}, nil
}

func sortedTips(c *chain.Chain) []chain.TipInfo {
	tips := c.Tips()
	sort.Slice(tips[1:], func(i, j int) bool {
		return bytes.Compare(tips[1+i].Hash[:], tips[1+j].Hash[:]) < 0
	})
	return tips
}

func TestRestartKeepsState(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	dir := t.TempDir()
	d, err := openDisk(t, dir, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		parent := gen
		if i > 1 {
			parent = fmt.Sprintf("a%d", i-1)
			g.Transfer(parent, 0, i, chain.Coin, 10)
		}
		g.Next(fmt.Sprintf("a%d", i), parent)
	}
	g.AcceptAll(t, d.c, g.Path("a5")...)
	g.Chain("s", "a2", 2) // unvalidated side branch at heights 3, 4
	g.AcceptAll(t, d.c, "s1", "s2")
	bad := g.NewTransfer(0, g.Addr(1), 1, 0, 4)
	bad.Sig[3] ^= 1
	g.Next("x", "a5", chaintest.Txs(bad))
	rejectConnect(t, g, d.c, "x", chain.ErrBadSignature)
	g.Next("v", "a3", chaintest.ExtraNonce(7))
	g.Accept(t, d.c, "v")
	if err := d.c.InvalidateBlock(g.Hash("v")); err != nil {
		t.Fatal(err)
	}
	best, tips := d.c.Best(), sortedTips(d.c)
	if err := d.store.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = openDisk(t, dir, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.c.Best(); fmt.Sprint(got) != fmt.Sprint(best) {
		t.Fatalf("tip after restart:\n got %+v\nwant %+v", got, best)
	}
	if got := sortedTips(d.c); fmt.Sprint(got) != fmt.Sprint(tips) {
		t.Fatalf("tips after restart:\n got %+v\nwant %+v", got, tips)
	}
	assertMarked(t, g, d.c, "x", true)
	assertMarked(t, g, d.c, "v", true)
	assertMarked(t, g, d.c, "s2", false)
	g.Reject(t, d.c, "x", chain.ErrKnownInvalid)
	g.Reject(t, d.c, "s2", chain.ErrDuplicateBlock)
	assertSameState(t, g, d.c, "a5")

	// The side branch is usable after the restart: s+1 ties with a5, s+2 wins.
	g.Chain("s+", "s2", 2)
	if res := g.Accept(t, d.c, "s+1"); res.Status != chain.StatusSideChain {
		t.Fatalf("s+1 after restart: %v (the main chain counts as first seen)", res.Status)
	}
	g.Accept(t, d.c, "s+2")
	assertSameState(t, g, d.c, "s+2")
	if err := d.c.ReconsiderBlock(g.Hash("v")); err != nil {
		t.Fatal(err)
	}
	best = d.c.Best()
	if err := d.store.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = openDisk(t, dir, p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.store.Close() }()
	if got := d.c.Best(); fmt.Sprint(got) != fmt.Sprint(best) {
		t.Fatalf("tip after second restart:\n got %+v\nwant %+v", got, best)
	}
	assertSameState(t, g, d.c, "s+2")
	assertMarked(t, g, d.c, "v", false)
	assertMarked(t, g, d.c, "x", true)
	g.Next("s+3", "s+2")
	g.AcceptTip(t, d.c, "s+3")
}

// TestRestartFirstSeenAmongSideBranches: after a restart, a block seen for
// the first time must not win a work tie against a side branch stored before
// the restart.
func TestRestartFirstSeenAmongSideBranches(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	dir := t.TempDir()
	d, err := openDisk(t, dir, p)
	if err != nil {
		t.Fatal(err)
	}
	g.Next("a1", gen)
	g.Next("a2", "a1")
	g.Next("b2", "a1", chaintest.ExtraNonce(1))
	g.Next("c2", "a1", chaintest.ExtraNonce(2))
	g.AcceptAll(t, d.c, "a1", "a2", "b2") // b2 ties with a2: side branch
	_ = d.store.Close()
	d, err = openDisk(t, dir, p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = d.store.Close() }()
	g.Accept(t, d.c, "c2") // seen after b2
	if err := d.c.InvalidateBlock(g.Hash("a2")); err != nil {
		t.Fatal(err)
	}
	// b2 and c2 have equal work; b2 was seen first.
	g.AssertTip(t, d.c, "b2")
}

func TestOpenDataDirOfAnotherNetwork(t *testing.T) {
	dir := t.TempDir()
	d, err := openDisk(t, dir, chain.RegtestParams())
	if err != nil {
		t.Fatal(err)
	}
	_ = d.store.Close()
	for _, name := range []string{"dev", "main"} {
		p, _ := chain.ParamsByName(name)
		_, err := openDisk(t, dir, p)
		if err == nil {
			t.Fatalf("regtest data dir opened as %s", name)
		}
		if msg := err.Error(); !strings.Contains(msg, `"regtest"`) || !strings.Contains(msg, name) {
			t.Fatalf("unclear error for %s: %v", name, err)
		}
	}
	// Same network name, different genesis: refused, naming the genesis.
	other := chain.RegtestParams()
	other.GenesisBlock.Header.Timestamp++
	other.GenesisHash = other.GenesisBlock.Hash()
	if _, err := openDisk(t, dir, other); err == nil || !strings.Contains(err.Error(), "genesis") {
		t.Fatalf("other genesis: %v", err)
	}
	// The right network still opens it.
	d, err = openDisk(t, dir, chain.RegtestParams())
	if err != nil {
		t.Fatal(err)
	}
	_ = d.store.Close()
}

// TestConcurrentProcessBlock submits one set of blocks (a 60-block chain
// with transfers and invalid side blocks) from four goroutines in different
// orders while others read: the result must be the one chain, whatever the
// interleaving (run with -race).
func TestConcurrentProcessBlock(t *testing.T) {
	g, c := regtestEnv(t)
	var blocks []*chain.Block
	parent := gen
	for i := 1; i <= 60; i++ {
		name := fmt.Sprintf("a%d", i)
		if i%3 == 0 {
			g.Transfer(parent, 0, i%5+1, chain.Coin, 10)
		}
		blocks = append(blocks, g.Next(name, parent))
		if i%10 == 5 {
			bad := g.NewTransfer(0, g.Addr(1), 1, 1, g.Account(name, 0).Nonce)
			bad.Sig[7] ^= 1
			blocks = append(blocks, g.Next("bad"+name, name, chaintest.Txs(bad)))
		}
		parent = name
	}
	done := make(chan struct{})
	var readers, writers sync.WaitGroup
	for r := 0; r < 2; r++ {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				best := c.Best()
				_ = c.Account(g.Addr(0))
				_ = c.Tips()
				_ = c.Locator()
				if info, ok := c.BlockInfo(best.Hash); ok && info.Height < best.Height && info.InMainChain {
					t.Errorf("tip info height %d < snapshot %d", info.Height, best.Height)
				}
			}
		})
	}
	for w := 0; w < 4; w++ {
		order := rand.New(rand.NewPCG(uint64(w), 99)).Perm(len(blocks))
		writers.Go(func() {
			for _, i := range order {
				_, err := c.ProcessBlock(blocks[i])
				if err != nil && chain.KindOf(err) == "" {
					t.Errorf("untyped error: %v", err)
				}
			}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	assertSameState(t, g, c, "a60")
	if c.OrphanCount() != 0 {
		t.Fatalf("%d orphans left", c.OrphanCount())
	}
}

// BenchmarkNextBitsDepth measures the bits of the block after the tip on an
// ASERT network (trivial PoW) at several heights.
func BenchmarkNextBitsDepth(b *testing.B) {
	for _, depth := range []int{1_000, 10_000} {
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			p := chain.DevParams()
			p.PowLimitBits, p.InitialBits = 0x207fffff, 0x207fffff
			p.PowLimit, _ = chain.CompactToBig(p.PowLimitBits)
			g := chaintest.NewGenerator(b, p)
			c := chaintest.NewChain(b, p, nil)
			parent := gen
			for i := 1; i <= depth; i++ {
				name := fmt.Sprint(i)
				g.Next(name, parent)
				if _, err := c.ProcessBlock(g.Block(name)); err != nil {
					b.Fatal(err)
				}
				parent = name
			}
			tip := c.Best().Hash
			for b.Loop() {
				if _, err := c.NextBits(tip); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

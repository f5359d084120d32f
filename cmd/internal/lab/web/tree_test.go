package web

import (
	"math/big"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// builder names blocks for tree tests: each block's work is its height
// (one unit per block), hashes come from the names.
type builder struct {
	t      *Tree
	hashes map[string]chain.Hash
}

func newBuilder(keep uint64) *builder {
	return &builder{t: NewTree(keep), hashes: map[string]chain.Hash{"": {}}}
}

func (b *builder) add(name, parent string, height uint64) chain.Hash {
	h := chain.DoubleSHA256([]byte(name))
	b.hashes[name] = h
	b.t.Add(Block{Hash: h, Parent: b.hashes[parent], Height: height, Work: big.NewInt(int64(height))})
	return h
}

// chain adds blocks prefix<from>..prefix<to> on top of parent.
func (b *builder) chain(prefix, parent string, from, to uint64) {
	for h := from; h <= to; h++ {
		name := prefix + itoa(h)
		b.add(name, parent, h)
		parent = name
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var d []byte
	for ; n > 0; n /= 10 {
		d = append([]byte{byte('0' + n%10)}, d...)
	}
	return string(d)
}

func byHash(v View) map[chain.Hash]ViewBlock {
	m := make(map[chain.Hash]ViewBlock)
	for _, b := range v.Blocks {
		m[b.Hash] = b
	}
	return m
}

func TestTreeForkAndHeal(t *testing.T) {
	b := newBuilder(1000)
	b.chain("m", "", 0, 10)  // main chain m0..m10
	b.chain("s", "m5", 6, 8) // side branch s6..s8 forking after m5
	for _, n := range []string{"node0", "node1"} {
		b.t.SetTip(n, b.hashes["m10"])
	}
	for _, n := range []string{"node2", "node3"} {
		b.t.SetTip(n, b.hashes["s8"])
	}
	v := b.t.View(20, 0)
	if v.Low != 0 || v.High != 10 || v.Lanes != 2 || v.Branches != 2 || len(v.Blocks) != 14 {
		t.Fatalf("split view: low %d high %d lanes %d branches %d blocks %d", v.Low, v.High, v.Lanes, v.Branches, len(v.Blocks))
	}
	m := byHash(v)
	if got := m[b.hashes["m10"]]; got.Lane != 0 || !got.Active || len(got.Tips) != 2 || got.Tips[0] != "node0" {
		t.Errorf("m10: %+v", got)
	}
	if got := m[b.hashes["s8"]]; got.Lane != 1 || !got.Active || len(got.Tips) != 2 || got.Tips[1] != "node3" {
		t.Errorf("s8: %+v", got)
	}
	if got := m[b.hashes["m5"]]; got.Lane != 0 || !got.Active {
		t.Errorf("fork point m5: %+v", got)
	}
	if v.Fork != b.hashes["m5"] {
		t.Errorf("view fork %s, want m5", v.Fork)
	}

	// Heal: nodes 2 and 3 reorganise onto the main chain; the side branch
	// stays drawn in its lane but inactive.
	b.chain("m", "m10", 11, 11)
	for _, n := range []string{"node0", "node1", "node2", "node3"} {
		b.t.SetTip(n, b.hashes["m11"])
	}
	v = b.t.View(20, 0)
	m = byHash(v)
	if v.Branches != 1 || v.Lanes != 2 || !v.Fork.IsZero() {
		t.Fatalf("healed view: branches %d lanes %d fork %s", v.Branches, v.Lanes, v.Fork)
	}
	for _, s := range []string{"s6", "s7", "s8"} {
		if got := m[b.hashes[s]]; got.Active || got.Lane != 1 || len(got.Tips) != 0 {
			t.Errorf("%s after heal: %+v", s, got)
		}
	}
	if got := m[b.hashes["m11"]]; !got.Active || len(got.Tips) != 4 {
		t.Errorf("m11 after heal: %+v", got)
	}
}

func TestTreeLaggingNodeIsSameBranch(t *testing.T) {
	b := newBuilder(1000)
	b.chain("m", "", 0, 5)
	b.t.SetTip("node0", b.hashes["m5"])
	b.t.SetTip("node1", b.hashes["m4"])
	if v := b.t.View(10, 0); v.Branches != 1 || v.Lanes != 1 {
		t.Errorf("lagging node: branches %d lanes %d", v.Branches, v.Lanes)
	}
}

func TestTreeHeavierShorterBranchGetsLaneZero(t *testing.T) {
	b := newBuilder(1000)
	b.chain("m", "", 0, 3)
	b.chain("long", "m3", 4, 8) // 5 light blocks
	h := chain.DoubleSHA256([]byte("heavy"))
	b.t.Add(Block{Hash: h, Parent: b.hashes["m3"], Height: 4, Work: big.NewInt(100)})
	b.t.SetTip("a", b.hashes["long8"])
	b.t.SetTip("b", h)
	m := byHash(b.t.View(20, 0))
	if m[h].Lane != 0 || m[b.hashes["long8"]].Lane != 1 || m[b.hashes["m3"]].Lane != 0 {
		t.Errorf("lanes: heavy %d long8 %d m3 %d", m[h].Lane, m[b.hashes["long8"]].Lane, m[b.hashes["m3"]].Lane)
	}
}

func TestTreeWindowAndPaging(t *testing.T) {
	b := newBuilder(1000)
	b.chain("m", "", 0, 300)
	b.t.SetTip("n", b.hashes["m300"])
	v := b.t.View(100, 0)
	if v.Low != 201 || v.High != 300 || len(v.Blocks) != 100 {
		t.Fatalf("latest window: %d..%d, %d blocks", v.Low, v.High, len(v.Blocks))
	}
	v = b.t.View(100, 150)
	if v.Low != 51 || v.High != 150 || len(v.Blocks) != 100 || v.Lanes != 1 {
		t.Fatalf("paged window: %d..%d, %d blocks, %d lanes", v.Low, v.High, len(v.Blocks), v.Lanes)
	}
	// A tip above the window still marks the window's blocks active.
	for _, blk := range v.Blocks {
		if !blk.Active {
			t.Fatalf("block %d inactive in a paged window", blk.Height)
		}
	}
}

func TestTreePrunesOldHeights(t *testing.T) {
	b := newBuilder(50)
	b.chain("m", "", 0, 1000)
	if n := b.t.Len(); n > 51 {
		t.Errorf("tree holds %d blocks with keep 50", n)
	}
	if len(b.t.children) > 52 {
		t.Errorf("tree holds %d child lists with keep 50", len(b.t.children))
	}
	if b.t.Add(Block{Hash: chain.DoubleSHA256([]byte("old")), Height: 10}) {
		t.Error("a block far below the kept heights was added")
	}
}

func TestTreeShortRacesShareALane(t *testing.T) {
	b := newBuilder(1000)
	b.chain("m", "", 0, 30)
	// One-block races at heights 5, 12 and 20, each lost.
	for _, h := range []uint64{5, 12, 20} {
		b.add("race"+itoa(h), "m"+itoa(h-1), h)
	}
	// A lost side branch 21..25 next to the race at 20.
	b.chain("s", "m20", 21, 25)
	b.t.SetTip("n", b.hashes["m30"])
	v := b.t.View(40, 0)
	m := byHash(v)
	if v.Lanes != 3 {
		t.Errorf("lanes %d, want 3 (main, races and the side branch packed)", v.Lanes)
	}
	// The side branch has the most work of the lost leaves: lane 1. The
	// race at 20 touches its columns and moves to lane 2; the races at 5
	// and 12 fit beside the side branch in lane 1.
	r5, r12, r20 := m[b.hashes["race5"]].Lane, m[b.hashes["race12"]].Lane, m[b.hashes["race20"]].Lane
	if s := m[b.hashes["s21"]].Lane; s != 1 || r5 != 1 || r12 != 1 || r20 != 2 {
		t.Errorf("lanes: side %d, races %d %d %d; want 1, 1 1 2", s, r5, r12, r20)
	}
}

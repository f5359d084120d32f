package web

import (
	"bytes"
	"math/big"
	"slices"
	"sort"

	"github.com/quarrychain/quarry/chain"
)

// Block is one block as the lab page knows it: enough to place it in the
// tree. Work is the cumulative chain work up to and including the block.
type Block struct {
	Hash   chain.Hash
	Parent chain.Hash
	Height uint64
	Time   uint32
	Work   *big.Int
}

// Tree is the union of the block trees of every lab node: every block any
// node reported, and each node's current tip. It is pure data, fed by the
// collector and read by View; it is not safe for concurrent use.
type Tree struct {
	blocks   map[chain.Hash]*Block
	children map[chain.Hash][]chain.Hash
	tips     map[string]chain.Hash // node name -> tip hash
	high     uint64
	keep     uint64
}

// NewTree returns an empty tree that keeps at most keep heights below the
// highest block it has seen (older blocks are pruned, so a page left open
// for days stays bounded).
func NewTree(keep uint64) *Tree {
	return &Tree{
		blocks:   make(map[chain.Hash]*Block),
		children: make(map[chain.Hash][]chain.Hash),
		tips:     make(map[string]chain.Hash),
		keep:     keep,
	}
}

// Add records a block; it reports whether the block was new.
func (t *Tree) Add(b Block) bool {
	if _, ok := t.blocks[b.Hash]; ok {
		return false
	}
	if t.high > t.keep && b.Height < t.high-t.keep {
		return false
	}
	bc := b
	if bc.Work == nil {
		bc.Work = new(big.Int)
	}
	t.blocks[b.Hash] = &bc
	t.children[b.Parent] = append(t.children[b.Parent], b.Hash)
	if b.Height > t.high {
		t.high = b.Height
		t.prune()
	}
	return true
}

// Has reports whether the tree holds the block.
func (t *Tree) Has(h chain.Hash) bool {
	_, ok := t.blocks[h]
	return ok
}

// Get returns a block of the tree.
func (t *Tree) Get(h chain.Hash) (Block, bool) {
	b, ok := t.blocks[h]
	if !ok {
		return Block{}, false
	}
	return *b, true
}

// SetTip records node's current tip; it reports whether it changed.
func (t *Tree) SetTip(node string, h chain.Hash) bool {
	if t.tips[node] == h {
		return false
	}
	t.tips[node] = h
	return true
}

// High returns the highest height in the tree.
func (t *Tree) High() uint64 { return t.high }

// Len returns the number of blocks held.
func (t *Tree) Len() int { return len(t.blocks) }

func (t *Tree) prune() {
	if t.high <= t.keep {
		return
	}
	low := t.high - t.keep
	for h, b := range t.blocks {
		if b.Height < low {
			delete(t.blocks, h)
			delete(t.children, h)
		}
	}
	for parent, kids := range t.children {
		if _, ok := t.blocks[parent]; !ok && len(kids) > 0 {
			// Keep the edge list of a pruned parent only while one of its
			// children is still held.
			kept := kids[:0]
			for _, k := range kids {
				if _, ok := t.blocks[k]; ok {
					kept = append(kept, k)
				}
			}
			if len(kept) == 0 {
				delete(t.children, parent)
			} else {
				t.children[parent] = kept
			}
		}
	}
}

// ViewBlock is a block placed on the page: Lane 0 is the branch of the tip
// with the most work, other branches get their own lanes. Active means the
// block is on some node's current chain; inactive blocks lost (greyed out).
// Tips names the nodes whose tip it is.
type ViewBlock struct {
	Hash   chain.Hash `json:"hash"`
	Parent chain.Hash `json:"parent"`
	Height uint64     `json:"height"`
	Time   uint32     `json:"time"`
	Lane   int        `json:"lane"`
	Active bool       `json:"active"`
	Tips   []string   `json:"tips,omitempty"`
}

// View is the part of the tree the page draws: heights Low..High.
type View struct {
	Low    uint64      `json:"low"`
	High   uint64      `json:"high"`
	Lanes  int         `json:"lanes"`
	Blocks []ViewBlock `json:"blocks"`
	// Branches is the number of distinct branches the nodes are on (1
	// when every node is on one chain, possibly some blocks behind).
	Branches int `json:"branches"`
	// Fork is the last block the branches share while there are several
	// (zero otherwise, or when it is not in the tree).
	Fork chain.Hash `json:"fork,omitzero"`
}

// branches counts the distinct branches the nodes are on: tips that are
// not an ancestor of another node's tip (a node one block behind another is
// on the same branch).
func (t *Tree) branches() int {
	return len(t.branchTips())
}

// branchTips returns the distinct tips that are not an ancestor of
// another node's tip.
func (t *Tree) branchTips() []chain.Hash {
	behind := make(map[chain.Hash]bool)
	for _, h := range t.tips {
		b := t.blocks[h]
		if b == nil {
			continue
		}
		for p := t.blocks[b.Parent]; p != nil && !behind[p.Hash]; p = t.blocks[p.Parent] {
			behind[p.Hash] = true
		}
	}
	distinct := make(map[chain.Hash]bool)
	var out []chain.Hash
	for _, h := range t.tips {
		if !behind[h] && !distinct[h] {
			distinct[h] = true
			out = append(out, h)
		}
	}
	return out
}

// fork returns the last block shared by the branch tips (zero with fewer
// than two branches or when their common ancestor is not in the tree).
func (t *Tree) fork() chain.Hash {
	tips := t.branchTips()
	if len(tips) < 2 {
		return chain.Hash{}
	}
	// Ancestors of the first tip, then walk every other tip back to the
	// highest ancestor it shares; the fork is the lowest of those.
	anc := make(map[chain.Hash]bool)
	for b := t.blocks[tips[0]]; b != nil; b = t.blocks[b.Parent] {
		anc[b.Hash] = true
	}
	var fork *Block
	for _, h := range tips[1:] {
		b := t.blocks[h]
		for b != nil && !anc[b.Hash] {
			b = t.blocks[b.Parent]
		}
		if b == nil {
			return chain.Hash{}
		}
		if fork == nil || b.Height < fork.Height {
			fork = b
		}
	}
	return fork.Hash
}

// View lays out the blocks with heights in (top-window, top]; top 0 means
// the highest block. Lanes are assigned branch by branch: the leaf with
// the most work first (it gets lane 0), then the other active leaves, then
// the branches that lost, each walking back until it meets a block that
// already has a lane.
func (t *Tree) View(window int, top uint64) View {
	if top == 0 || top > t.high {
		top = t.high
	}
	var low uint64
	if uint64(window) <= top {
		low = top - uint64(window) + 1
	}
	in := func(b *Block) bool { return b.Height >= low && b.Height <= top }

	active := make(map[chain.Hash]bool)
	tipsOf := make(map[chain.Hash][]string)
	for name, h := range t.tips {
		tipsOf[h] = append(tipsOf[h], name)
		for b := t.blocks[h]; b != nil && !active[b.Hash] && b.Height >= low; b = t.blocks[b.Parent] {
			active[b.Hash] = true
		}
	}

	// Leaves of the window: blocks in it with no child in it.
	var leaves []*Block
	for _, b := range t.blocks {
		if !in(b) {
			continue
		}
		leaf := true
		for _, k := range t.children[b.Hash] {
			if kb := t.blocks[k]; kb != nil && in(kb) {
				leaf = false
				break
			}
		}
		if leaf {
			leaves = append(leaves, b)
		}
	}
	sort.Slice(leaves, func(i, j int) bool {
		a, b := leaves[i], leaves[j]
		if active[a.Hash] != active[b.Hash] {
			return active[a.Hash]
		}
		if c := a.Work.Cmp(b.Work); c != 0 {
			return c > 0
		}
		if a.Height != b.Height {
			return a.Height > b.Height
		}
		return bytes.Compare(a.Hash[:], b.Hash[:]) < 0
	})

	// Each leaf's branch is the run of blocks from the leaf back to the
	// first block that already has a lane. Lane 0 is the first (most-work)
	// branch; a later branch takes the lowest other lane whose branches do
	// not overlap its heights (with a column of room for the edge to its
	// parent), so short-lived one-block races share lanes.
	lane := make(map[chain.Hash]int)
	type span struct{ lo, hi uint64 }
	var occupied [][]span
	for _, leaf := range leaves {
		if _, ok := lane[leaf.Hash]; ok {
			continue
		}
		var run []chain.Hash
		lo := leaf.Height
		for b := leaf; b != nil && in(b); b = t.blocks[b.Parent] {
			if _, ok := lane[b.Hash]; ok {
				break
			}
			run = append(run, b.Hash)
			lo = b.Height
		}
		want := span{lo: lo, hi: leaf.Height}
		if want.lo > 0 {
			want.lo--
		}
		l := len(occupied)
		for i := range occupied {
			if i == 0 && len(occupied[0]) > 0 {
				continue
			}
			free := true
			for _, sp := range occupied[i] {
				if want.lo <= sp.hi && sp.lo <= want.hi {
					free = false
					break
				}
			}
			if free {
				l = i
				break
			}
		}
		if l == len(occupied) {
			occupied = append(occupied, nil)
		}
		occupied[l] = append(occupied[l], want)
		for _, h := range run {
			lane[h] = l
		}
	}
	lanes := len(occupied)

	v := View{Low: low, High: top, Lanes: lanes, Branches: t.branches(), Fork: t.fork()}
	for h, l := range lane {
		b := t.blocks[h]
		names := slices.Clone(tipsOf[h])
		slices.Sort(names)
		v.Blocks = append(v.Blocks, ViewBlock{
			Hash: h, Parent: b.Parent, Height: b.Height, Time: b.Time,
			Lane: l, Active: active[h], Tips: names,
		})
	}
	sort.Slice(v.Blocks, func(i, j int) bool {
		a, b := v.Blocks[i], v.Blocks[j]
		if a.Height != b.Height {
			return a.Height < b.Height
		}
		return a.Lane < b.Lane
	})
	return v
}

package chaintest

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
)

// GenesisName is the name of the genesis block in every Generator.
const GenesisName = "genesis"

// DefaultSeed is the seed NewGenerator derives its keys from.
const DefaultSeed = "quarry/chaintest/v1"

// Generator builds named blocks on named parents. See the package
// documentation. It is not safe for concurrent use.
type Generator struct {
	tb     testing.TB
	params *chain.Params
	seed   string
	keys   map[int]*secp256k1.PrivateKey
	addrs  map[int]chain.Address
	nodes  map[string]*node
	queued map[string][]*chain.Tx
	built  uint64 // blocks built by Next, the default coinbase extra-nonce
}

// node is one named block and the state the generator expects after it.
type node struct {
	name     string
	block    *chain.Block
	hash     chain.Hash
	parent   *node
	height   uint64
	anchor   *chain.Header // the branch's block 1 (nil for genesis)
	accounts map[chain.Address]chain.Account
}

// NewGenerator returns a generator for p whose keys derive from DefaultSeed.
func NewGenerator(tb testing.TB, p *chain.Params) *Generator {
	return NewGeneratorWithSeed(tb, p, DefaultSeed)
}

// NewGeneratorWithSeed returns a generator whose keys derive from seed.
func NewGeneratorWithSeed(tb testing.TB, p *chain.Params, seed string) *Generator {
	g := &Generator{
		tb: tb, params: p, seed: seed,
		keys:   make(map[int]*secp256k1.PrivateKey),
		addrs:  make(map[int]chain.Address),
		nodes:  make(map[string]*node),
		queued: make(map[string][]*chain.Tx),
	}
	gen := p.GenesisBlock
	g.nodes[GenesisName] = &node{
		name: GenesisName, block: gen, hash: gen.Hash(),
		accounts: applyLenient(nil, gen.Txs),
	}
	return g
}

// Params returns the network parameters the generator builds for.
func (g *Generator) Params() *chain.Params { return g.params }

// Key returns the deterministic private key number i.
func (g *Generator) Key(i int) *secp256k1.PrivateKey {
	if k, ok := g.keys[i]; ok {
		return k
	}
	// SHA-256 output is a valid scalar with overwhelming probability; the
	// counter makes the derivation total anyway.
	for ctr := 0; ; ctr++ {
		sum := sha256.Sum256(fmt.Appendf(nil, "%s/key/%d/%d", g.seed, i, ctr))
		var s secp256k1.ModNScalar
		if overflow := s.SetBytes(&sum); overflow != 0 || s.IsZero() {
			continue
		}
		k := secp256k1.PrivKeyFromBytes(sum[:])
		g.keys[i] = k
		return k
	}
}

// Addr returns the address of Key(i).
func (g *Generator) Addr(i int) chain.Address {
	if a, ok := g.addrs[i]; ok {
		return a
	}
	a := chain.AddressFromPubKey(g.Key(i).PubKey().SerializeCompressed())
	g.addrs[i] = a
	return a
}

func (g *Generator) node(name string) *node {
	g.tb.Helper()
	n, ok := g.nodes[name]
	if !ok {
		g.tb.Fatalf("chaintest: no block named %q", name)
	}
	return n
}

// Block returns the named block.
func (g *Generator) Block(name string) *chain.Block { return g.node(name).block }

// Hash returns the named block's hash.
func (g *Generator) Hash(name string) chain.Hash { return g.node(name).hash }

// Height returns the named block's height.
func (g *Generator) Height(name string) uint64 { return g.node(name).height }

// Parent returns the name of the named block's parent ("" for genesis).
func (g *Generator) Parent(name string) string {
	if p := g.node(name).parent; p != nil {
		return p.name
	}
	return ""
}

// Path returns the names of the blocks from height 1 up to and including
// the named block, in order: the branch a fresh node needs to reach it.
func (g *Generator) Path(name string) []string {
	var out []string
	for n := g.node(name); n.parent != nil; n = n.parent {
		out = append(out, n.name)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Has reports whether a block of that name exists.
func (g *Generator) Has(name string) bool { _, ok := g.nodes[name]; return ok }

// Account returns the expected state of Addr(i) after the named block.
func (g *Generator) Account(name string, i int) chain.Account {
	return g.node(name).accounts[g.Addr(i)]
}

// AccountOf returns the expected state of a after the named block.
func (g *Generator) AccountOf(name string, a chain.Address) chain.Account {
	return g.node(name).accounts[a]
}

// Accounts returns a copy of the expected account state after the named block.
func (g *Generator) Accounts(name string) map[chain.Address]chain.Account {
	src := g.node(name).accounts
	out := make(map[chain.Address]chain.Account, len(src))
	for a, acc := range src {
		out[a] = acc
	}
	return out
}

// MedianTimePast returns the median timestamp of the named block and its
// ten ancestors, computed independently of the chain.
func (g *Generator) MedianTimePast(name string) int64 {
	var ts []int64
	for n := g.node(name); n != nil && len(ts) < chain.MedianTimeBlocks; n = n.parent {
		ts = append(ts, int64(n.block.Header.Timestamp))
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i] < ts[j] })
	return ts[len(ts)/2]
}

// NextBits returns the bits a child of the named block must carry.
func (g *Generator) NextBits(parent string) uint32 {
	p := g.node(parent)
	switch {
	case g.params.NoRetarget:
		return g.params.PowLimitBits
	case p.height == 0:
		return g.params.InitialBits
	}
	spacing := int64(g.params.TargetSpacing.Seconds())
	anchor := chain.AsertAnchor{Height: 1, Bits: p.anchor.Bits, ParentTime: int64(p.anchor.Timestamp) - spacing}
	return chain.AsertNextBits(anchor, p.height, int64(p.block.Header.Timestamp), spacing,
		int64(g.params.AsertHalfLife.Seconds()), g.params.PowLimit)
}

// Transfer signs a transfer of amount (plus fee) from Addr(from) to
// Addr(to) with the sender's next nonce after the parent block, counting the
// transfers already queued for the next block on parent, and queues it: the
// next Next(_, parent) includes it. The returned tx may be changed (re-sign
// it with Sign) before that block is built.
func (g *Generator) Transfer(parent string, from, to int, amount, fee uint64) *chain.Tx {
	g.tb.Helper()
	p := g.node(parent)
	sender := g.Addr(from)
	nonce := p.accounts[sender].Nonce
	for _, tx := range g.queued[parent] {
		if tx.From() == sender {
			nonce++
		}
	}
	tx := g.NewTransfer(from, g.Addr(to), amount, fee, nonce)
	g.queued[parent] = append(g.queued[parent], tx)
	return tx
}

// NewTransfer signs a transfer with an explicit nonce and recipient without
// queueing it (pass it to Next with Txs).
func (g *Generator) NewTransfer(from int, to chain.Address, amount, fee, nonce uint64) *chain.Tx {
	tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: g.params.ChainID, Nonce: nonce, To: to, Amount: amount, Fee: fee}
	tx.Sign(g.Key(from))
	return tx
}

// Sign (re-)signs tx with Key(from), setting its public key.
func (g *Generator) Sign(tx *chain.Tx, from int) { tx.Sign(g.Key(from)) }

// Queued returns the transfers queued for the next block on parent.
func (g *Generator) Queued(parent string) []*chain.Tx {
	return append([]*chain.Tx(nil), g.queued[parent]...)
}

// Next builds the block name on parent, valid unless options say otherwise.
func (g *Generator) Next(name, parent string, opts ...Option) *chain.Block {
	g.tb.Helper()
	if _, dup := g.nodes[name]; dup {
		g.tb.Fatalf("chaintest: block name %q already used", name)
	}
	p := g.node(parent)
	var s blockSpec
	for _, o := range opts {
		o(&s)
	}
	height := p.height + 1
	var txs []*chain.Tx
	if !s.noQueued {
		txs = append(txs, g.queued[parent]...)
		delete(g.queued, parent)
	}
	txs = append(txs, s.txs...)
	var fees uint64
	for _, tx := range txs {
		fees = satAdd(fees, tx.Fee)
	}
	cb := &chain.Tx{
		Kind: chain.TxCoinbase, ChainID: g.params.ChainID, Height: height, To: g.Addr(0),
		Amount: satAdd(g.params.CalcSubsidy(height), fees), Memo: s.cbMemo,
	}
	setIf(&cb.Amount, s.cbAmount)
	setIf(&cb.Height, s.cbHeight)
	setIf(&cb.To, s.cbTo)
	setIf(&cb.ChainID, s.cbChainID)
	// A distinct default extra-nonce keeps sibling blocks built with the
	// same options distinct; the top bit keeps it apart from ExtraNonce(n).
	g.built++
	binary.LittleEndian.PutUint64(cb.ExtraNonce[:], 1<<63|g.built)
	setIf(&cb.ExtraNonce, s.extraNonce)

	b := &chain.Block{Txs: append([]*chain.Tx{cb}, txs...)}
	b.Header = chain.Header{Version: 1, PrevBlock: p.hash, Timestamp: g.defaultTime(p), Bits: g.NextBits(parent)}
	setIf(&b.Header.Version, s.version)
	setIf(&b.Header.Timestamp, s.timestamp)
	setIf(&b.Header.Bits, s.bits)
	if s.keepMerkle {
		b.Header.MerkleRoot, _ = chain.MerkleRoot(b.TxIDs())
	}
	for _, m := range s.mutate {
		m(b)
	}
	if !s.keepMerkle {
		b.Header.MerkleRoot, _ = chain.MerkleRoot(b.TxIDs())
	}
	switch {
	case s.highHash:
		if !solve(&b.Header, false) {
			g.tb.Fatalf("chaintest: block %q: no nonce gives a hash above the target of bits %08x", name, b.Header.Bits)
		}
	case !s.noSolve:
		if !solve(&b.Header, true) {
			g.tb.Fatalf("chaintest: block %q: cannot solve bits %08x (use NoSolve for invalid bits)", name, b.Header.Bits)
		}
	}
	g.register(name, p, b)
	return b
}

// Clone registers newName as a deep copy of the named block with fn applied
// and the header left untouched (same hash): a body that does not match its
// header, or a different body with the same merkle root.
func (g *Generator) Clone(newName, name string, fn func(*chain.Block)) *chain.Block {
	g.tb.Helper()
	if _, dup := g.nodes[newName]; dup {
		g.tb.Fatalf("chaintest: block name %q already used", newName)
	}
	src := g.node(name)
	b := CopyBlock(src.block)
	if fn != nil {
		fn(b)
	}
	g.register(newName, src.parent, b)
	return b
}

// Chain builds n empty blocks on parent named prefix1 ... prefixN and
// returns them in order.
func (g *Generator) Chain(prefix, parent string, n int) []*chain.Block {
	g.tb.Helper()
	out := make([]*chain.Block, 0, n)
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		out = append(out, g.Next(name, parent))
		parent = name
	}
	return out
}

func (g *Generator) register(name string, parent *node, b *chain.Block) {
	n := &node{name: name, block: b, hash: b.Hash(), parent: parent, height: parent.height + 1}
	n.anchor = parent.anchor
	if n.height == 1 {
		h := b.Header
		n.anchor = &h
	}
	n.accounts = applyLenient(parent.accounts, b.Txs)
	g.nodes[name] = n
}

// defaultTime is one target spacing after the parent, but at least one
// second after the parent's median time past.
func (g *Generator) defaultTime(p *node) uint32 {
	ts := int64(p.block.Header.Timestamp) + int64(g.params.TargetSpacing.Seconds())
	if mtp := g.MedianTimePast(p.name); ts <= mtp {
		ts = mtp + 1
	}
	if ts > math.MaxUint32 {
		g.tb.Fatalf("chaintest: timestamp overflow after block %q", p.name)
	}
	return uint32(ts)
}

// applyLenient returns the account state after txs on top of base, skipping
// transfers that would fail (bad nonce, balance) instead of failing.
func applyLenient(base map[chain.Address]chain.Account, txs []*chain.Tx) map[chain.Address]chain.Account {
	st := make(map[chain.Address]chain.Account, len(base)+len(txs))
	for a, acc := range base {
		st[a] = acc
	}
	for _, tx := range txs {
		if tx == nil {
			continue
		}
		if tx.IsCoinbase() {
			if tx.Amount > 0 {
				to := st[tx.To]
				to.Balance = satAdd(to.Balance, tx.Amount)
				st[tx.To] = to
			}
			continue
		}
		from := tx.From()
		acc := st[from]
		cost := tx.Amount + tx.Fee
		if tx.Nonce != acc.Nonce || cost < tx.Amount || acc.Balance < cost || tx.Amount == 0 || tx.To == from {
			continue
		}
		acc.Balance -= cost
		acc.Nonce++
		st[from] = acc
		to := st[tx.To]
		to.Balance = satAdd(to.Balance, tx.Amount)
		st[tx.To] = to
	}
	return st
}

// CopyBlock returns a deep copy of b.
func CopyBlock(b *chain.Block) *chain.Block {
	out := &chain.Block{Header: b.Header, Txs: make([]*chain.Tx, len(b.Txs))}
	for i, tx := range b.Txs {
		out.Txs[i] = CopyTx(tx)
	}
	return out
}

// CopyTx returns a deep copy of tx.
func CopyTx(tx *chain.Tx) *chain.Tx {
	if tx == nil {
		return nil
	}
	c := *tx
	if tx.Memo != nil {
		c.Memo = bytes.Clone(tx.Memo)
	}
	return &c
}

// solve searches nonces from zero for a header hash that meets (want) or
// misses (!want) the target of its bits. It reports false if the bits are
// invalid or no nonce qualifies.
func solve(h *chain.Header, want bool) bool {
	target, err := chain.CompactToBig(h.Bits)
	if err != nil {
		return false
	}
	tle := chain.TargetBytesLE(target)
	buf := h.Bytes()
	for nonce := uint32(0); ; nonce++ {
		binary.LittleEndian.PutUint32(buf[76:], nonce)
		first := sha256.Sum256(buf[:])
		hash := sha256.Sum256(first[:])
		if (cmpLE(hash[:], tle[:]) <= 0) == want {
			h.Nonce = nonce
			return true
		}
		if nonce == math.MaxUint32 {
			return false
		}
	}
}

// cmpLE compares two 32-byte little-endian numbers.
func cmpLE(a, b []byte) int {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func satAdd(a, b uint64) uint64 {
	if a+b < a {
		return math.MaxUint64
	}
	return a + b
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// Accept submits the named block and fails the test unless the chain accepts
// it (connected or stored on a side branch, not marked invalid).
func (g *Generator) Accept(tb testing.TB, c *chain.Chain, name string) chain.ProcessResult {
	tb.Helper()
	n := g.node(name)
	res, err := c.ProcessBlock(n.block)
	if err != nil {
		tb.Fatalf("block %q (height %d, %s): want accepted, got error: %v", name, n.height, n.hash, err)
	}
	if res.Status != chain.StatusConnected && res.Status != chain.StatusSideChain {
		tb.Fatalf("block %q (height %d): want connected or side-chain, got %v", name, n.height, res.Status)
	}
	if res.Hash != n.hash || res.Height != n.height {
		tb.Fatalf("block %q: result hash %s height %d, want %s height %d", name, res.Hash, res.Height, n.hash, n.height)
	}
	if c.IsKnownInvalid(n.hash) || !c.HaveBlock(n.hash) {
		tb.Fatalf("block %q: accepted but invalid=%v stored=%v", name, c.IsKnownInvalid(n.hash), c.HaveBlock(n.hash))
	}
	return res
}

// AcceptTip is Accept plus a check that the block is now the chain's tip.
func (g *Generator) AcceptTip(tb testing.TB, c *chain.Chain, name string) chain.ProcessResult {
	tb.Helper()
	res := g.Accept(tb, c, name)
	g.AssertTip(tb, c, name)
	return res
}

// AssertTip fails the test unless the named block is the chain's tip.
func (g *Generator) AssertTip(tb testing.TB, c *chain.Chain, name string) {
	tb.Helper()
	n := g.node(name)
	if best := c.Best(); best.Hash != n.hash || best.Height != n.height {
		tb.Fatalf("tip is %s at height %d, want %q (%s) at height %d", best.Hash, best.Height, name, n.hash, n.height)
	}
}

// Reject submits the named block and fails the test unless the chain rejects
// it with a *chain.RuleError matching kind (errors.Is) and the block did not
// become the tip (a block with the same hash may already be the tip, e.g.
// when a duplicate or a mutated copy is resubmitted). It returns the error.
func (g *Generator) Reject(tb testing.TB, c *chain.Chain, name string, kind chain.ErrorKind) error {
	tb.Helper()
	n := g.node(name)
	wasTip := c.Best().Hash == n.hash
	res, err := c.ProcessBlock(n.block)
	if err == nil {
		tb.Fatalf("block %q (height %d): want rejected with %q, got accepted (%v)", name, n.height, kind, res.Status)
	}
	if !errors.Is(err, kind) {
		tb.Fatalf("block %q (height %d): want error kind %q, got %q: %v", name, n.height, kind, chain.KindOf(err), err)
	}
	var re *chain.RuleError
	if !errors.As(err, &re) {
		tb.Fatalf("block %q: error %v (%T) is not a *chain.RuleError", name, err, err)
	}
	if !wasTip && c.Best().Hash == n.hash {
		tb.Fatalf("block %q: rejected (%v) but it became the tip", name, err)
	}
	return err
}

// Orphan submits the named block and fails the test unless the chain keeps
// it as an orphan.
func (g *Generator) Orphan(tb testing.TB, c *chain.Chain, name string) {
	tb.Helper()
	n := g.node(name)
	res, err := c.ProcessBlock(n.block)
	if err != nil || res.Status != chain.StatusOrphan {
		tb.Fatalf("block %q: want orphan, got %v, %v", name, res.Status, err)
	}
	if !c.HaveBlock(n.hash) {
		tb.Fatalf("block %q: orphan not reported by HaveBlock", name)
	}
}

// AcceptAll submits the named blocks in order with Accept.
func (g *Generator) AcceptAll(tb testing.TB, c *chain.Chain, names ...string) {
	tb.Helper()
	for _, name := range names {
		g.Accept(tb, c, name)
	}
}

// Names returns prefix+i for i in [from, to].
func Names(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

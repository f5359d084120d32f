package chain_test

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"

	"github.com/quarrychain/quarry/chain/memstore"
)

// Consensus rule tests in the style of btcd's fullblocktests: for every rule
// a block just inside the boundary is accepted and one just outside it is
// rejected with the typed error. Blocks come from chaintest.Generator.

const gen = chaintest.GenesisName

func regtestEnv(t *testing.T) (*chaintest.Generator, *chain.Chain) {
	t.Helper()
	p := chain.RegtestParams()
	return chaintest.NewGenerator(t, p), chaintest.NewChain(t, p, nil)
}

// fundedEnv is regtestEnv with block "b1" (50 coins to Addr(0)) connected.
func fundedEnv(t *testing.T) (*chaintest.Generator, *chain.Chain) {
	t.Helper()
	g, c := regtestEnv(t)
	g.Next("b1", gen)
	g.AcceptTip(t, c, "b1")
	return g, c
}

// assertMarked checks whether the chain records the named block as invalid.
func assertMarked(t *testing.T, g *chaintest.Generator, c *chain.Chain, name string, want bool) {
	t.Helper()
	if got := c.IsKnownInvalid(g.Hash(name)); got != want {
		t.Fatalf("block %q: IsKnownInvalid = %v, want %v", name, got, want)
	}
}

// assertNotStored checks that a rejected block left no trace.
func assertNotStored(t *testing.T, g *chaintest.Generator, c *chain.Chain, name string) {
	t.Helper()
	h := g.Hash(name)
	if c.HaveBlock(h) || c.IsKnownInvalid(h) {
		t.Fatalf("block %q: stored=%v invalid=%v, want neither", name, c.HaveBlock(h), c.IsKnownInvalid(h))
	}
	if _, ok := c.BlockInfo(h); ok {
		t.Fatalf("block %q: in the block index", name)
	}
}

// rejectConnect submits a block that breaks a rule checked when it connects:
// it must be rejected with kind, recorded as invalid, leave the tip and state
// unchanged, and be refused as known-invalid when resubmitted.
func rejectConnect(t *testing.T, g *chaintest.Generator, c *chain.Chain, name string, kind chain.ErrorKind) {
	t.Helper()
	before := c.Best()
	g.Reject(t, c, name, kind)
	assertMarked(t, g, c, name, true)
	if after := c.Best(); after.Hash != before.Hash || after.StateDigest != before.StateDigest {
		t.Fatalf("block %q: tip/state changed by a rejected block", name)
	}
	g.Reject(t, c, name, chain.ErrKnownInvalid)
}

func TestConsensusProofOfWorkBoundary(t *testing.T) {
	limit := chain.MainParams().PowLimit
	const bits = 0x1d00ffff
	target, err := chain.CompactToBig(bits)
	if err != nil {
		t.Fatal(err)
	}
	hashOf := func(v *big.Int) chain.Hash { return chain.Hash(chain.TargetBytesLE(v)) }
	one := big.NewInt(1)
	if err := chain.CheckProofOfWork(hashOf(target), bits, limit); err != nil {
		t.Fatalf("hash == target: %v", err)
	}
	if err := chain.CheckProofOfWork(hashOf(new(big.Int).Sub(target, one)), bits, limit); err != nil {
		t.Fatalf("hash == target-1: %v", err)
	}
	if err := chain.CheckProofOfWork(hashOf(new(big.Int).Add(target, one)), bits, limit); !errors.Is(err, chain.ErrHighHash) {
		t.Fatalf("hash == target+1: got %v, want ErrHighHash", err)
	}
	// The limit itself is allowed; one compact step above it is not.
	mp := chain.MainParams()
	if err := chain.CheckProofOfWork(hashOf(mp.PowLimit), mp.PowLimitBits, mp.PowLimit); err != nil {
		t.Fatalf("hash == pow limit: %v", err)
	}
	if err := chain.CheckProofOfWork(chain.ZeroHash, 0x1e010000, mp.PowLimit); !errors.Is(err, chain.ErrBadBits) {
		t.Fatalf("bits above limit: got %v, want ErrBadBits", err)
	}
}

func TestConsensusHighHash(t *testing.T) {
	g, c := regtestEnv(t)
	b := g.Next("high", gen, chaintest.HighHash())
	if err := chain.CheckHeaderSanity(&b.Header, g.Params()); !errors.Is(err, chain.ErrHighHash) {
		t.Fatalf("CheckHeaderSanity: %v", err)
	}
	g.Reject(t, c, "high", chain.ErrHighHash)
	assertNotStored(t, g, c, "high")
	g.Next("b1", gen)
	g.AcceptTip(t, c, "b1")
}

func TestConsensusBits(t *testing.T) {
	g, c := regtestEnv(t)
	for _, tc := range []struct {
		name string
		bits uint32
		kind chain.ErrorKind
	}{
		{"negative", 0x20ffffff, chain.ErrBadBits},
		{"negative-small", 0x04923456, chain.ErrBadBits},
		{"zero-mantissa", 0x20000000, chain.ErrBadBits},
		{"overflow", 0xff7fffff, chain.ErrBadBits},
		{"above-limit", 0x2100ffff, chain.ErrBadBits},
	} {
		g.Next(tc.name, gen, chaintest.Bits(tc.bits), chaintest.NoSolve())
		g.Reject(t, c, tc.name, tc.kind)
		assertNotStored(t, g, c, tc.name)
	}
	// Valid encodings below the limit, but not what regtest requires: a
	// header fault of the block itself, so the hash is marked invalid.
	for i, bits := range []uint32{0x207ffffe, 0x2000ffff} {
		name := "unexpected" + string(rune('a'+i))
		g.Next(name, gen, chaintest.Bits(bits))
		rejectConnect(t, g, c, name, chain.ErrUnexpectedBits)
	}
	g.Next("b1", gen)
	if got := g.Block("b1").Header.Bits; got != 0x207fffff {
		t.Fatalf("regtest bits %08x", got)
	}
	g.AcceptTip(t, c, "b1")
	if c.Best().NextBits != 0x207fffff {
		t.Fatalf("Best().NextBits %08x", c.Best().NextBits)
	}
}

// TestConsensusAsertBits checks the required bits on the dev network (ASERT)
// for blocks on schedule, early and late. The dev params copy starts at a
// target of half the PoW limit (InitialBits 0x1e7fff00 instead of 0x1e00ffff,
// which needs 2^24 hashes per block) so blocks solve in ~2^17 hashes and a
// late block can ease the target.
func TestConsensusAsertBits(t *testing.T) {
	p := chain.DevParams()
	p.InitialBits = 0x1e7fff00 // normalised compact form of 0x7fff << 224
	g := chaintest.NewGenerator(t, p)
	c := chaintest.NewChain(t, p, nil)
	checkBits := func(name string) uint32 {
		t.Helper()
		got, err := c.NextBits(g.Hash(name))
		if err != nil {
			t.Fatal(err)
		}
		if want := g.NextBits(name); got != want {
			t.Fatalf("NextBits(%s): chain %08x, generator %08x", name, got, want)
		}
		return got
	}
	target := func(bits uint32) *big.Int {
		v, err := chain.CompactToBig(bits)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	// Block 1 carries InitialBits, not the limit.
	g.Next("d1-limit", gen, chaintest.Bits(p.PowLimitBits))
	rejectConnect(t, g, c, "d1-limit", chain.ErrUnexpectedBits)
	d1 := g.Next("d1", gen)
	if d1.Header.Bits != p.InitialBits {
		t.Fatalf("block 1 bits %08x", d1.Header.Bits)
	}
	g.AcceptTip(t, c, "d1")
	if checkBits("d1") != p.InitialBits {
		t.Fatal("block 2 on schedule must keep the anchor bits")
	}
	t1 := d1.Header.Timestamp
	spacing := uint32(p.TargetSpacing.Seconds())
	halfLife := uint32(p.AsertHalfLife.Seconds())

	// On schedule: the target stays.
	g.Next("d2", "d1", chaintest.Timestamp(t1+spacing))
	g.AcceptTip(t, c, "d2")
	if checkBits("d2") != p.InitialBits {
		t.Fatal("on-schedule block changed the bits")
	}

	// Early (4 s instead of 5): the next target is smaller (harder).
	g.Next("d2e", "d1", chaintest.Timestamp(t1+1))
	g.Accept(t, c, "d2e")
	early := checkBits("d2e")
	if target(early).Cmp(target(p.InitialBits)) >= 0 {
		t.Fatalf("early block: bits %08x not harder than %08x", early, p.InitialBits)
	}
	g.Next("d3e-anchor-bits", "d2e", chaintest.Bits(p.InitialBits))
	rejectConnect(t, g, c, "d3e-anchor-bits", chain.ErrUnexpectedBits)
	g.Next("d3e", "d2e")
	g.AcceptTip(t, c, "d3e")

	// One half-life late: the target doubles exactly (the fraction is zero).
	g.Next("d2l", "d1", chaintest.Timestamp(t1+spacing+halfLife))
	g.Accept(t, c, "d2l")
	late := checkBits("d2l")
	if want := chain.BigToCompact(new(big.Int).Lsh(target(p.InitialBits), 1)); late != want {
		t.Fatalf("late block: bits %08x, want %08x", late, want)
	}
	g.Next("d3l-anchor-bits", "d2l", chaintest.Bits(p.InitialBits))
	rejectConnect(t, g, c, "d3l-anchor-bits", chain.ErrUnexpectedBits)
	g.Next("d3l-one-off", "d2l", chaintest.Bits(late-1))
	rejectConnect(t, g, c, "d3l-one-off", chain.ErrUnexpectedBits)
	g.Next("d3l", "d2l")
	g.Accept(t, c, "d3l")
	// d3l is easier than d3e: less work, so d3e stays the tip.
	g.AssertTip(t, c, "d3e")

	// Another block 1 anchors its own branch's schedule: e2 is on time for
	// e1's anchor (30 s late for d1's), so its child keeps InitialBits.
	g.Next("e1", gen, chaintest.Timestamp(t1+30))
	g.Accept(t, c, "e1")
	g.Next("e2", "e1")
	g.Accept(t, c, "e2")
	if checkBits("e2") != p.InitialBits {
		t.Fatal("branch schedule not anchored at the branch's own block 1")
	}
}

func TestConsensusBadVersion(t *testing.T) {
	g, c := regtestEnv(t)
	g.Next("v0", gen, chaintest.Version(0))
	g.Reject(t, c, "v0", chain.ErrBadVersion)
	g.Next("v2", gen, chaintest.Version(2))
	g.AcceptTip(t, c, "v2")
}

func TestConsensusMedianTimePast(t *testing.T) {
	g, c := regtestEnv(t)
	base := g.Block(gen).Header.Timestamp
	// Out-of-order timestamps, each after the median of its predecessors.
	offsets := []uint32{1000, 3000, 2000, 5000, 4000, 7000, 6000, 9000, 8000, 11000, 10000}
	parent := gen
	for i, off := range offsets {
		name := chaintest.Names("m", i+1, i+1)[0]
		g.Next(name, parent, chaintest.Timestamp(base+off))
		g.AcceptTip(t, c, name)
		parent = name
	}
	mtp, err := c.MedianTimePast(g.Hash(parent))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(base + 6000); mtp != want || g.MedianTimePast(parent) != want || c.Best().MedianTime != want {
		t.Fatalf("median time past %d (generator %d, best %d), want %d", mtp, g.MedianTimePast(parent), c.Best().MedianTime, want)
	}
	g.Next("at-mtp", parent, chaintest.Timestamp(uint32(mtp)))
	rejectConnect(t, g, c, "at-mtp", chain.ErrTimeTooOld)
	g.Next("below-mtp", parent, chaintest.Timestamp(uint32(mtp)-1))
	rejectConnect(t, g, c, "below-mtp", chain.ErrTimeTooOld)
	// After the median but before the parent's own time: fine.
	g.Next("mtp+1", parent, chaintest.Timestamp(uint32(mtp)+1))
	g.AcceptTip(t, c, "mtp+1")
}

func TestConsensusFutureTime(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	clock := chaintest.NewClock(g.Block(gen).Header.Time().Add(time.Hour + 400*time.Millisecond))
	c := chaintest.NewChain(t, p, clock.Now)
	g.Next("b1", gen)
	g.AcceptTip(t, c, "b1")

	limit := clock.Now().Add(p.MaxFutureBlockTime).Unix()
	g.Next("over", "b1", chaintest.Timestamp(uint32(limit+1)))
	g.Next("over-child", "over", chaintest.Timestamp(uint32(limit+2)))
	g.Next("at", "b1", chaintest.Timestamp(uint32(limit)))
	for i := 0; i < 2; i++ { // still too new when resubmitted: not remembered
		g.Reject(t, c, "over", chain.ErrTimeTooNew)
		assertNotStored(t, g, c, "over")
	}
	g.AcceptTip(t, c, "at")
	g.Orphan(t, c, "over-child") // its parent was not stored
	clock.Advance(time.Second)
	// One second later the same block is valid: stored next to "at" (equal
	// work, the first seen stays the tip).
	g.Accept(t, c, "over")
	g.AssertTip(t, c, "at")
	// Its child was still a second too new when adopted; once it is valid
	// (re-sent if the engine dropped it) it makes that branch the best one.
	clock.Advance(time.Second)
	if !c.HaveBlock(g.Hash("over-child")) {
		g.Accept(t, c, "over-child")
	}
	g.AssertTip(t, c, "over-child")
}

func TestConsensusMerkleMismatch(t *testing.T) {
	g, c := fundedEnv(t)
	g.Transfer("b1", 0, 1, chain.Coin, 1000)
	g.Transfer("b1", 0, 2, chain.Coin, 1000)
	g.Next("b2", "b1")
	for _, tc := range []struct {
		name string
		fn   func(*chain.Block)
	}{
		{"b2-amount", func(b *chain.Block) { b.Txs[1].Amount++ }},
		{"b2-coinbase", func(b *chain.Block) { b.Txs[0].Amount-- }},
		{"b2-droptx", func(b *chain.Block) { b.Txs = b.Txs[:2] }},
		{"b2-swap", func(b *chain.Block) { b.Txs[1], b.Txs[2] = b.Txs[2], b.Txs[1] }},
		{"b2-extra", func(b *chain.Block) { b.Txs = append(b.Txs, g.NewTransfer(0, g.Addr(3), 5, 0, 2)) }},
	} {
		g.Clone(tc.name, "b2", tc.fn)
		g.Reject(t, c, tc.name, chain.ErrBadMerkleRoot)
		assertNotStored(t, g, c, tc.name) // the honest block shares the hash
	}
	g.Next("b2-keep", "b1", chaintest.KeepMerkle(), chaintest.Mutate(func(b *chain.Block) {
		b.Txs[0].Memo = []byte("not committed")
	}))
	g.Reject(t, c, "b2-keep", chain.ErrBadMerkleRoot)
	assertNotStored(t, g, c, "b2-keep")
	g.AcceptTip(t, c, "b2")
}

// TestConsensusMutatedMerkle covers CVE-2012-2459: duplicating the last
// transaction(s) keeps the merkle root, so the mutated block has the honest
// block's hash; it must be rejected without marking that hash.
func TestConsensusMutatedMerkle(t *testing.T) {
	g, c := fundedEnv(t)
	for i := 1; i <= 2; i++ {
		g.Transfer("b1", 0, i, chain.Coin, 100)
	}
	g.Next("b2", "b1") // 3 transactions: the last pairs with itself
	for i := 1; i <= 5; i++ {
		g.Transfer("b2", 0, i, chain.Coin, 100)
	}
	g.Next("b3", "b2") // 6 transactions: the third level-1 node pairs with itself

	cases := []struct{ name, honest string }{{"b2-dup-last", "b2"}, {"b3-dup-pair", "b3"}}
	g.Clone(cases[0].name, "b2", func(b *chain.Block) { b.Txs = append(b.Txs, b.Txs[2]) })
	g.Clone(cases[1].name, "b3", func(b *chain.Block) { b.Txs = append(b.Txs, b.Txs[4], b.Txs[5]) })
	for _, tc := range cases {
		honestRoot, mut := chain.MerkleRoot(g.Block(tc.honest).TxIDs())
		root, mutated := chain.MerkleRoot(g.Block(tc.name).TxIDs())
		if mut || !mutated || root != honestRoot || g.Hash(tc.name) != g.Hash(tc.honest) {
			t.Fatalf("%s: not a CVE-2012-2459 mutation of %s", tc.name, tc.honest)
		}
		g.Reject(t, c, tc.name, chain.ErrMutatedMerkle)
		assertNotStored(t, g, c, tc.name)
		g.AcceptTip(t, c, tc.honest)
		g.Reject(t, c, tc.name, chain.ErrDuplicateBlock)
	}
}

// memoFill returns memo lengths (each <= MaxMemoSize) for k transfers so that
// a block of a plain coinbase and those transfers is exactly size bytes.
func memoFill(t *testing.T, g *chaintest.Generator, size, k int) []int {
	t.Helper()
	cb := &chain.Tx{Kind: chain.TxCoinbase}
	tr := g.NewTransfer(0, g.Addr(1), 1, 0, 0)
	need := size - (chain.HeaderSize + 1 + cb.SerializeSize() + k*tr.SerializeSize())
	if need < 0 || need > k*chain.MaxMemoSize {
		t.Fatalf("cannot fill %d bytes with %d transfers", size, k)
	}
	out := make([]int, k)
	for i := range out {
		out[i] = min(need, chain.MaxMemoSize)
		need -= out[i]
	}
	return out
}

func TestConsensusBlockSize(t *testing.T) {
	p := chain.RegtestParams()
	p.MaxBlockSize = 1000
	g := chaintest.NewGenerator(t, p)
	c := chaintest.NewChain(t, p, nil)
	g.Next("b1", gen)
	g.AcceptTip(t, c, "b1")
	build := func(name string, extra int) *chain.Block {
		memos := memoFill(t, g, p.MaxBlockSize, 5)
		for i, m := range memos {
			if m < chain.MaxMemoSize && extra > 0 {
				m, extra = m+1, extra-1
			}
			tx := g.Transfer("b1", 0, i+1, chain.Coin, 10)
			tx.Memo = bytes.Repeat([]byte{'q'}, m)
			g.Sign(tx, 0)
		}
		return g.Next(name, "b1")
	}
	if b := build("over", 1); b.SerializeSize() != p.MaxBlockSize+1 {
		t.Fatalf("over: %d bytes", b.SerializeSize())
	}
	g.Reject(t, c, "over", chain.ErrBlockTooBig)
	if b := build("at", 0); b.SerializeSize() != p.MaxBlockSize {
		t.Fatalf("at: %d bytes", b.SerializeSize())
	}
	g.AcceptTip(t, c, "at")
	if info, _ := c.BlockInfo(g.Hash("at")); info.Size != p.MaxBlockSize || info.TxCount != 6 {
		t.Fatalf("BlockInfo size %d txs %d", info.Size, info.TxCount)
	}
}

func TestConsensusBlockStructure(t *testing.T) {
	g, c := fundedEnv(t)
	t1 := g.NewTransfer(0, g.Addr(1), chain.Coin, 10, 0)
	t2 := g.NewTransfer(0, g.Addr(2), chain.Coin, 10, 1)
	cb2 := func(b *chain.Block) *chain.Tx {
		x := chaintest.CopyTx(b.Txs[0])
		x.ExtraNonce[0] = 1
		return x
	}
	for _, tc := range []struct {
		name string
		fn   func(*chain.Block)
		kind chain.ErrorKind
	}{
		{"no-txs", func(b *chain.Block) { b.Txs = nil }, chain.ErrNoTransactions},
		{"only-transfer", func(b *chain.Block) { b.Txs = []*chain.Tx{t1} }, chain.ErrFirstNotCoinbase},
		{"coinbase-second", func(b *chain.Block) { b.Txs = []*chain.Tx{t1, b.Txs[0]} }, chain.ErrFirstNotCoinbase},
		{"two-coinbases", func(b *chain.Block) { b.Txs = append(b.Txs, cb2(b)) }, chain.ErrMultipleCoinbases},
		{"coinbase-last", func(b *chain.Block) { b.Txs = append(b.Txs, t1, cb2(b)) }, chain.ErrMultipleCoinbases},
		{"dup-adjacent", func(b *chain.Block) { b.Txs = append(b.Txs, t1, t1) }, chain.ErrDuplicateTx},
		{"dup-apart", func(b *chain.Block) { b.Txs = append(b.Txs, t1, t2, t1) }, chain.ErrDuplicateTx},
	} {
		g.Next(tc.name, "b1", chaintest.Mutate(tc.fn))
		if _, mutated := chain.MerkleRoot(g.Block(tc.name).TxIDs()); mutated {
			t.Fatalf("%s: merkle mutated, the test would not reach the rule", tc.name)
		}
		g.Reject(t, c, tc.name, tc.kind)
	}
	g.Next("b2", "b1", chaintest.Txs(t1, t2))
	g.AcceptTip(t, c, "b2")
}

func TestConsensusCoinbase(t *testing.T) {
	g, c := fundedEnv(t)
	p := g.Params()
	subsidy := p.CalcSubsidy(2)
	g.Next("height+1", "b1", chaintest.CoinbaseHeight(3))
	rejectConnect(t, g, c, "height+1", chain.ErrBadCoinbaseHeight)
	g.Next("height-1", "b1", chaintest.CoinbaseHeight(1))
	rejectConnect(t, g, c, "height-1", chain.ErrBadCoinbaseHeight)
	g.Next("chainid", "b1", chaintest.CoinbaseChainID(p.ChainID+1))
	g.Reject(t, c, "chainid", chain.ErrWrongChainID)

	// Value: subsidy + fees exactly is fine, one unit more is not.
	const fee = 1234
	g.Transfer("b1", 0, 1, chain.Coin, fee)
	g.Next("value+1", "b1", chaintest.CoinbaseAmount(subsidy+fee+1))
	rejectConnect(t, g, c, "value+1", chain.ErrBadCoinbaseValue)
	g.Next("no-fee+1", "b1", chaintest.CoinbaseAmount(subsidy+1))
	rejectConnect(t, g, c, "no-fee+1", chain.ErrBadCoinbaseValue)
	g.Transfer("b1", 0, 1, chain.Coin, fee)
	g.Next("exact", "b1")
	if got := g.Block("exact").Txs[0].Amount; got != subsidy+fee {
		t.Fatalf("generator coinbase %d", got)
	}
	g.AcceptTip(t, c, "exact")
	// Claiming less than allowed is allowed (the rest is burnt).
	g.Next("under", "exact", chaintest.CoinbaseAmount(subsidy-1))
	g.AcceptTip(t, c, "under")
	g.Next("zero", "under", chaintest.CoinbaseAmount(0), chaintest.CoinbaseTo(g.Addr(5)))
	g.AcceptTip(t, c, "zero")
	for i := 0; i <= 5; i++ {
		if got, want := c.Account(g.Addr(i)), g.Account("zero", i); got != want {
			t.Fatalf("account %d: %+v, want %+v", i, got, want)
		}
	}
}

func TestConsensusNonces(t *testing.T) {
	g, c := fundedEnv(t)
	first := g.Transfer("b1", 0, 1, chain.Coin, 10)
	g.Next("double", "b1", chaintest.Txs(g.NewTransfer(0, g.Addr(2), 2*chain.Coin, 10, first.Nonce)))
	rejectConnect(t, g, c, "double", chain.ErrBadNonce)
	g.Next("too-high", "b1", chaintest.Txs(g.NewTransfer(0, g.Addr(2), chain.Coin, 10, 1)), chaintest.NoQueued())
	rejectConnect(t, g, c, "too-high", chain.ErrBadNonce)
	g.Transfer("b1", 0, 1, chain.Coin, 10)
	g.Next("gap", "b1", chaintest.Txs(g.NewTransfer(0, g.Addr(2), chain.Coin, 10, 2)))
	rejectConnect(t, g, c, "gap", chain.ErrBadNonce)

	var seq []*chain.Tx
	for i := 1; i <= 3; i++ {
		seq = append(seq, g.Transfer("b1", 0, i, chain.Coin, 10))
	}
	if seq[0].Nonce != 0 || seq[2].Nonce != 2 {
		t.Fatalf("generator nonces %d..%d", seq[0].Nonce, seq[2].Nonce)
	}
	g.Next("b2", "b1")
	g.AcceptTip(t, c, "b2")
	if acc := c.Account(g.Addr(0)); acc.Nonce != 3 || acc != g.Account("b2", 0) {
		t.Fatalf("sender after 3 transfers: %+v, want %+v", acc, g.Account("b2", 0))
	}
	g.Next("too-low", "b2", chaintest.Txs(g.NewTransfer(0, g.Addr(4), chain.Coin, 10, 2)))
	rejectConnect(t, g, c, "too-low", chain.ErrBadNonce)
	g.Next("replay", "b2", chaintest.Txs(seq[1]))
	rejectConnect(t, g, c, "replay", chain.ErrBadNonce)
	g.Transfer("b2", 0, 1, chain.Coin, 10)
	g.Next("b3", "b2")
	g.AcceptTip(t, c, "b3")
}

func TestConsensusBalance(t *testing.T) {
	g, c := fundedEnv(t)
	const funds = 10 * chain.Coin
	g.Transfer("b1", 0, 1, funds, 0)
	g.Next("b2", "b1")
	g.AcceptTip(t, c, "b2")
	if got := c.Account(g.Addr(1)); got.Balance != funds {
		t.Fatalf("funded %+v", got)
	}
	const fee = 777
	g.Next("over", "b2", chaintest.Txs(g.NewTransfer(1, g.Addr(2), funds-fee+1, fee, 0)))
	rejectConnect(t, g, c, "over", chain.ErrInsufficientBal)
	g.Next("unfunded", "b2", chaintest.Txs(g.NewTransfer(7, g.Addr(2), 1, 0, 0)))
	rejectConnect(t, g, c, "unfunded", chain.ErrInsufficientBal)
	g.Next("exact", "b2", chaintest.Txs(g.NewTransfer(1, g.Addr(2), funds-fee, fee, 0)))
	g.AcceptTip(t, c, "exact")
	if got := c.Account(g.Addr(1)); got != (chain.Account{Balance: 0, Nonce: 1}) {
		t.Fatalf("emptied sender %+v", got)
	}
	if got := c.Account(g.Addr(2)); got.Balance != funds-fee {
		t.Fatalf("recipient %+v", got)
	}
}

func TestConsensusTxSanity(t *testing.T) {
	g, c := fundedEnv(t)
	p := g.Params()
	tx := func(amount, fee uint64, edit func(*chain.Tx)) *chain.Tx {
		x := g.NewTransfer(0, g.Addr(1), amount, fee, 0)
		if edit != nil {
			edit(x)
			g.Sign(x, 0)
		}
		return x
	}
	memo := func(n int) func(*chain.Tx) { return func(x *chain.Tx) { x.Memo = bytes.Repeat([]byte{'m'}, n) } }
	for _, tc := range []struct {
		name string
		tx   *chain.Tx
		kind chain.ErrorKind
	}{
		{"overflow", tx(math.MaxUint64, 1, nil), chain.ErrAmountOverflow},
		{"overflow-fee", tx(1, math.MaxUint64, nil), chain.ErrAmountOverflow},
		{"zero-amount", tx(0, 10, nil), chain.ErrZeroAmount},
		{"memo-81", tx(1, 10, memo(chain.MaxMemoSize+1)), chain.ErrMemoTooLong},
		{"chain-id", tx(1, 10, func(x *chain.Tx) { x.ChainID = chain.DevParams().ChainID }), chain.ErrWrongChainID},
		{"self", tx(1, 10, func(x *chain.Tx) { x.To = g.Addr(0) }), chain.ErrSelfTransfer},
		{"kind", tx(1, 10, func(x *chain.Tx) { x.Kind = 2 }), chain.ErrMalformed},
	} {
		if err := tc.tx.CheckSanity(p); !errors.Is(err, tc.kind) {
			t.Fatalf("%s: CheckSanity %v, want %q", tc.name, err, tc.kind)
		}
		g.Next(tc.name, "b1", chaintest.Txs(tc.tx))
		g.Reject(t, c, tc.name, tc.kind)
	}
	// Amount + fee = 2^64-1 does not overflow: it fails on the balance.
	g.Next("max-sum", "b1", chaintest.Txs(tx(math.MaxUint64-1, 1, nil)))
	rejectConnect(t, g, c, "max-sum", chain.ErrInsufficientBal)
	g.Next("coinbase-memo-81", "b1", chaintest.CoinbaseMemo(bytes.Repeat([]byte{'c'}, chain.MaxMemoSize+1)))
	g.Reject(t, c, "coinbase-memo-81", chain.ErrMemoTooLong)

	g.Next("memo-80", "b1", chaintest.Txs(tx(1, 10, memo(chain.MaxMemoSize))),
		chaintest.CoinbaseMemo(bytes.Repeat([]byte{'c'}, chain.MaxMemoSize)))
	g.AcceptTip(t, c, "memo-80")
	got, _, _, err := c.Transaction(g.Block("memo-80").Txs[1].TxID())
	if err != nil || len(got.Memo) != chain.MaxMemoSize {
		t.Fatalf("stored memo transfer: %v", err)
	}
}

// notOnCurve returns a compressed key encoding whose x has no curve point.
func notOnCurve(t *testing.T) [33]byte {
	var k [33]byte
	k[0] = 0x02
	for x := byte(1); x < 255; x++ {
		k[32] = x
		if _, err := secp256k1.ParsePubKey(k[:]); err != nil {
			return k
		}
	}
	t.Fatal("no invalid x found")
	return k
}

func TestConsensusSignatures(t *testing.T) {
	g, c := fundedEnv(t)
	p := g.Params()
	variant := func(edit func(*chain.Tx)) *chain.Tx {
		x := g.NewTransfer(0, g.Addr(1), chain.Coin, 10, 0)
		edit(x)
		return x
	}
	highS := func(x *chain.Tx) {
		var s secp256k1.ModNScalar
		s.SetByteSlice(x.Sig[32:])
		s.Negate()
		s.PutBytesUnchecked(x.Sig[32:])
	}
	for _, tc := range []struct {
		name string
		tx   *chain.Tx
		kind chain.ErrorKind
	}{
		{"flipped-bit", variant(func(x *chain.Tx) { x.Sig[10] ^= 1 }), chain.ErrBadSignature},
		{"other-key", variant(func(x *chain.Tx) {
			g.Sign(x, 1)
			copy(x.PubKey[:], g.Key(0).PubKey().SerializeCompressed())
		}), chain.ErrBadSignature},
		{"other-chain", variant(func(x *chain.Tx) {
			x.ChainID = chain.MainParams().ChainID
			g.Sign(x, 0)
			x.ChainID = p.ChainID
		}), chain.ErrBadSignature},
		{"changed-after-signing", variant(func(x *chain.Tx) { x.Amount++ }), chain.ErrBadSignature},
		{"zero-r", variant(func(x *chain.Tx) { clear(x.Sig[:32]) }), chain.ErrBadSignature},
		{"s-overflow", variant(func(x *chain.Tx) { copy(x.Sig[32:], bytes.Repeat([]byte{0xff}, 32)) }), chain.ErrBadSignature},
		{"high-s", variant(highS), chain.ErrHighS},
		{"pubkey-prefix", variant(func(x *chain.Tx) { x.PubKey[0] = 0x04 }), chain.ErrBadPubKey},
		{"pubkey-off-curve", variant(func(x *chain.Tx) { x.PubKey = notOnCurve(t) }), chain.ErrBadPubKey},
	} {
		if err := tc.tx.VerifySignature(); !errors.Is(err, tc.kind) {
			t.Fatalf("%s: VerifySignature %v, want %q", tc.name, err, tc.kind)
		}
		g.Next(tc.name, "b1", chaintest.Txs(tc.tx))
		rejectConnect(t, g, c, tc.name, tc.kind)
	}
	// The high-S signature is a valid ECDSA signature: only the low-S rule
	// (malleability) rejects it.
	hs := variant(highS)
	var r, s secp256k1.ModNScalar
	r.SetByteSlice(hs.Sig[:32])
	s.SetByteSlice(hs.Sig[32:])
	h := hs.SigHash()
	if !ecdsa.NewSignature(&r, &s).Verify(h[:], g.Key(0).PubKey()) {
		t.Fatal("negated-S signature does not verify as plain ECDSA")
	}
	honest := g.Transfer("b1", 0, 1, chain.Coin, 10)
	if err := honest.VerifySignature(); err != nil {
		t.Fatal(err)
	}
	g.Next("b2", "b1")
	g.AcceptTip(t, c, "b2")
}

func TestConsensusInvalidAncestor(t *testing.T) {
	g, c := fundedEnv(t)
	bad := g.NewTransfer(0, g.Addr(1), chain.Coin, 10, 0)
	bad.Sig[0] ^= 0x80
	g.Next("bad", "b1", chaintest.Txs(bad))
	rejectConnect(t, g, c, "bad", chain.ErrBadSignature)
	g.Chain("bad-c", "bad", 4)
	g.Reject(t, c, "bad-c1", chain.ErrInvalidAncestor)
	assertMarked(t, g, c, "bad-c1", true)
	g.Reject(t, c, "bad-c2", chain.ErrInvalidAncestor)
	g.Reject(t, c, "bad-c2", chain.ErrKnownInvalid)
	// An orphan descending from the invalid block never connects. (Like
	// btcd, the engine only adopts orphans of accepted blocks, so bad-c4
	// waits in the orphan pool until it expires or is evicted.)
	g.Orphan(t, c, "bad-c4")
	g.Reject(t, c, "bad-c3", chain.ErrInvalidAncestor)
	assertMarked(t, g, c, "bad-c3", true)
	if info, ok := c.BlockInfo(g.Hash("bad-c4")); ok && info.InMainChain {
		t.Fatal("descendant of an invalid block connected")
	}
	g.AssertTip(t, c, "b1")
	g.Next("b2", "b1")
	g.AcceptTip(t, c, "b2")
}

func TestConsensusOrphans(t *testing.T) {
	g, c := regtestEnv(t)
	g.Chain("b", gen, 4)
	for _, name := range []string{"b4", "b3", "b2"} {
		g.Orphan(t, c, name)
		if _, ok := c.BlockInfo(g.Hash(name)); ok {
			t.Fatalf("orphan %s indexed", name)
		}
	}
	g.Reject(t, c, "b3", chain.ErrDuplicateBlock)
	if c.OrphanCount() != 3 || c.Height() != 0 {
		t.Fatalf("orphans %d height %d", c.OrphanCount(), c.Height())
	}
	if res := g.Accept(t, c, "b1"); res.Status != chain.StatusConnected {
		t.Fatalf("parent: %v", res.Status)
	}
	g.AssertTip(t, c, "b4")
	if c.OrphanCount() != 0 {
		t.Fatalf("orphans left: %d", c.OrphanCount())
	}
}

func TestConsensusOrphanPoolLimits(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	clock := chaintest.NewClock(chaintest.FarFuture(p))
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	const ttl = 10 * time.Minute
	c, err := chain.New(chain.Config{Params: p, Store: store, Now: clock.Now, MaxOrphans: 3, OrphanTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	// Five orphans, each on its own unknown parent, one second apart.
	for i := 1; i <= 6; i++ {
		pn := chaintest.Names("p", i, i)[0]
		g.Next(pn, gen, chaintest.ExtraNonce(uint64(i)))
		g.Next(chaintest.Names("o", i, i)[0], pn)
	}
	for _, name := range chaintest.Names("o", 1, 5) {
		g.Orphan(t, c, name)
		clock.Advance(time.Second)
	}
	if n := c.OrphanCount(); n != 3 {
		t.Fatalf("orphan pool holds %d, limit 3", n)
	}
	for i, name := range chaintest.Names("o", 1, 5) {
		if want := i >= 2; c.HaveBlock(g.Hash(name)) != want {
			t.Fatalf("%s kept=%v, want %v (oldest evicted first)", name, !want, want)
		}
	}
	g.Accept(t, c, "p5")
	g.AssertTip(t, c, "o5")
	// Expiry: after the TTL, the next insertion drops the stale orphans.
	clock.Advance(ttl + time.Second)
	g.Orphan(t, c, "o6")
	if n := c.OrphanCount(); n != 1 || c.HaveBlock(g.Hash("o3")) {
		t.Fatalf("after expiry: %d orphans, o3 kept=%v", n, c.HaveBlock(g.Hash("o3")))
	}
	g.Accept(t, c, "p3")
	if c.HaveBlock(g.Hash("o3")) {
		t.Fatal("expired orphan connected")
	}
}

func TestConsensusDuplicateAndKnownInvalid(t *testing.T) {
	g, c := fundedEnv(t)
	for _, name := range []string{"b1", gen} {
		res, err := c.ProcessBlock(g.Block(name))
		if !errors.Is(err, chain.ErrDuplicateBlock) || res.Status != chain.StatusDuplicate || res.Height != g.Height(name) {
			t.Fatalf("resubmitted %s: %v %v height %d", name, res.Status, err, res.Height)
		}
	}
	// A copy decoded from the wire is the same block.
	dec, err := chain.DecodeBlock(g.Block("b1").Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ProcessBlock(dec); !errors.Is(err, chain.ErrDuplicateBlock) {
		t.Fatalf("decoded duplicate: %v", err)
	}
	g.Next("side", gen, chaintest.ExtraNonce(1))
	if res := g.Accept(t, c, "side"); res.Status != chain.StatusSideChain {
		t.Fatalf("side: %v", res.Status)
	}
	g.Reject(t, c, "side", chain.ErrDuplicateBlock)
	g.Next("greedy", "b1", chaintest.CoinbaseAmount(g.Params().CalcSubsidy(2)+1))
	rejectConnect(t, g, c, "greedy", chain.ErrBadCoinbaseValue) // resubmission: ErrKnownInvalid
	g.AssertTip(t, c, "b1")
}

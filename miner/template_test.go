package miner

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner/kernel"
)

// regtestTip is a synthetic regtest tip at height 41.
func regtestTip(p *chain.Params) chain.Snapshot {
	return chain.Snapshot{
		Hash: chain.DoubleSHA256([]byte("tip")), Height: 41,
		MedianTime: testNow.Unix() - 600, NextBits: p.PowLimitBits,
	}
}

// transfers returns n signed transfers from distinct deterministic keys.
func transfers(p *chain.Params, n int) []*chain.Tx {
	txs := make([]*chain.Tx, n)
	for i := range txs {
		key, _ := testKey(byte(i + 1))
		txs[i] = signedTx(p, key, 0, addr(9), uint64(1000+i), uint64(100*(i+1)))
	}
	return txs
}

func spec(p *chain.Params, txs []*chain.Tx) TemplateSpec {
	return TemplateSpec{Params: p, Tip: regtestTip(p), Txs: txs, PayTo: addr(1), Memo: []byte("node-a"), Now: testNow}
}

func TestTemplateCoinbase(t *testing.T) {
	p := chain.RegtestParams()
	txs := transfers(p, 3)
	tmpl, err := NewTemplate(spec(p, txs))
	if err != nil {
		t.Fatal(err)
	}
	cb := tmpl.Block.Txs[0]
	wantFees := uint64(100 + 200 + 300)
	switch {
	case !cb.IsCoinbase() || cb.ChainID != p.ChainID || cb.To != addr(1):
		t.Fatalf("coinbase %+v", cb)
	case cb.Height != 42 || tmpl.Height != 42:
		t.Fatalf("coinbase height %d, template height %d, want 42", cb.Height, tmpl.Height)
	case tmpl.Fees != wantFees || tmpl.Subsidy != p.CalcSubsidy(42) || cb.Amount != p.CalcSubsidy(42)+wantFees:
		t.Fatalf("amount %d = subsidy %d + fees %d", cb.Amount, tmpl.Subsidy, tmpl.Fees)
	case string(cb.Memo) != "node-a":
		t.Fatalf("memo %q", cb.Memo)
	case tmpl.TxCount() != 4 || tmpl.Block.Txs[1] != txs[0] || tmpl.Block.Txs[3] != txs[2]:
		t.Fatalf("transactions not in source order")
	case tmpl.Bits != p.PowLimitBits || tmpl.PrevHash != regtestTip(p).Hash || tmpl.Block.Header.PrevBlock != tmpl.PrevHash:
		t.Fatalf("bits %08x parent %s", tmpl.Bits, tmpl.PrevHash)
	case tmpl.Size != tmpl.Block.SerializeSize():
		t.Fatalf("size %d, block is %d", tmpl.Size, tmpl.Block.SerializeSize())
	}
	if !bytes.Equal(tmpl.CoinbaseBytes(cb.ExtraNonce), cb.Bytes()) {
		t.Fatal("coinb1|extra-nonce|coinb2 differs from the coinbase encoding")
	}
	// A block made from the template passes every context-free rule.
	en := makeExtraNonce(3, 7, 11)
	blk := tmpl.MakeBlock(en, tmpl.RollTime(testNow), 0)
	for chain.CheckProofOfWork(blk.Hash(), blk.Header.Bits, p.PowLimit) != nil {
		blk.Header.Nonce++
	}
	if err := chain.CheckBlockSanity(blk, p); err != nil {
		t.Fatalf("made block fails sanity: %v", err)
	}
	if blk.Txs[0].ExtraNonce != en || tmpl.Block.Txs[0].ExtraNonce != ([8]byte{}) {
		t.Fatal("MakeBlock changed the template's coinbase")
	}
}

func TestTemplateMerkleBranch(t *testing.T) {
	p := chain.RegtestParams()
	rng := rand.New(rand.NewPCG(1, 2))
	all := transfers(p, 16)
	for n := 1; n <= 17; n++ { // transactions including the coinbase
		tmpl, err := NewTemplate(spec(p, all[:n-1]))
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.TxCount() != n {
			t.Fatalf("n=%d: template has %d transactions", n, tmpl.TxCount())
		}
		root, mutated := chain.MerkleRoot(tmpl.Block.TxIDs())
		if mutated || root != tmpl.Block.Header.MerkleRoot {
			t.Fatalf("n=%d: template root %s, full tree %s (mutated %v)", n, tmpl.Block.Header.MerkleRoot, root, mutated)
		}
		for i := 0; i < 4; i++ {
			var en [8]byte
			for j := range en {
				en[j] = byte(rng.Uint32())
			}
			blk := tmpl.MakeBlock(en, 0, 0)
			full, _ := chain.MerkleRoot(blk.TxIDs())
			if got := tmpl.MerkleRoot(en); got != full || blk.Header.MerkleRoot != full {
				t.Fatalf("n=%d: root from branch %s, full tree %s", n, got, full)
			}
		}
	}
}

func TestExtraNonceBumpChangesOnlyTheMiddle(t *testing.T) {
	p := chain.RegtestParams()
	tmpl, err := NewTemplate(spec(p, transfers(p, 5)))
	if err != nil {
		t.Fatal(err)
	}
	a, b := makeExtraNonce(1, 2, 3), makeExtraNonce(1, 2, 4)
	ca, cbb := tmpl.CoinbaseBytes(a), tmpl.CoinbaseBytes(b)
	lo, hi := len(tmpl.Coinb1), len(tmpl.Coinb1)+chain.ExtraNonceSize
	if !bytes.Equal(ca[:lo], cbb[:lo]) || !bytes.Equal(ca[hi:], cbb[hi:]) || bytes.Equal(ca[lo:hi], cbb[lo:hi]) {
		t.Fatal("extra-nonce change touched bytes outside coinb1/coinb2 boundary")
	}
	ha, hb := tmpl.Header(a, 100, 5), tmpl.Header(b, 100, 5)
	ba, bb := ha.Bytes(), hb.Bytes()
	for i := range ba {
		if inRoot := i >= 36 && i < 68; (ba[i] != bb[i]) && !inRoot {
			t.Fatalf("header byte %d changed with the extra-nonce", i)
		}
	}
	if ha.MerkleRoot == hb.MerkleRoot {
		t.Fatal("merkle root did not change with the extra-nonce")
	}

	// A lane bump does the same: only the extra-nonce and the root move
	// (the clock is fixed, so the time does not roll).
	var counter uint32
	var jobs [][80]byte
	l := lane{id: 5, salt: 9, counter: &counter, space: fullNonceSpace, onPrepare: func(l *lane) { jobs = append(jobs, l.job.Header) }}
	l.adopt(tmpl, testNow)
	first := l.en
	l.bump(testNow)
	if counter != 2 || l.en == first || l.en != makeExtraNonce(5, 9, 2) {
		t.Fatalf("lane extra-nonce %x after bump, counter %d", l.en, counter)
	}
	for i := range jobs[0] {
		if jobs[0][i] != jobs[1][i] && (i < 36 || i >= 68) {
			t.Fatalf("lane bump changed header byte %d", i)
		}
	}
	if got := tmpl.MerkleRoot(l.en); !bytes.Equal(got[:], jobs[1][36:68]) {
		t.Fatal("lane root differs from the template's root for its extra-nonce")
	}
}

func TestTemplateTime(t *testing.T) {
	p := chain.RegtestParams()
	s := spec(p, nil)
	mtp := s.Tip.MedianTime

	tmpl, err := NewTemplate(s) // now is after MTP: time = now
	if err != nil || int64(tmpl.Block.Header.Timestamp) != testNow.Unix() || tmpl.MinTime != mtp+1 {
		t.Fatalf("time %d min %d err %v", tmpl.Block.Header.Timestamp, tmpl.MinTime, err)
	}
	if tmpl.MaxTime != testNow.Add(p.MaxFutureBlockTime).Unix() {
		t.Fatalf("max time %d", tmpl.MaxTime)
	}
	// Rolling follows the clock but never goes below MTP+1.
	if got := tmpl.RollTime(testNow.Add(90 * time.Second)); int64(got) != testNow.Unix()+90 {
		t.Fatalf("rolled to %d", got)
	}
	if got := tmpl.RollTime(time.Unix(mtp-50, 0)); int64(got) != mtp+1 {
		t.Fatalf("rolled below MTP+1: %d", got)
	}

	s.Tip.MedianTime = testNow.Unix() + 30 // tip slightly ahead of us: MTP+1
	if tmpl, err = NewTemplate(s); err != nil || int64(tmpl.Block.Header.Timestamp) != testNow.Unix()+31 {
		t.Fatalf("time %d err %v, want MTP+1", tmpl.Block.Header.Timestamp, err)
	}
	s.Tip.MedianTime = testNow.Add(p.MaxFutureBlockTime).Unix() // MTP+1 beyond the future limit
	if _, err = NewTemplate(s); !errors.Is(err, ErrClockBehind) {
		t.Fatalf("err %v, want ErrClockBehind", err)
	}
}

func TestTemplateSelection(t *testing.T) {
	p := chain.RegtestParams()
	txs := transfers(p, 6)
	other := *txs[1]
	other.ChainID++
	cands := []*chain.Tx{
		txs[0], nil, {Kind: chain.TxCoinbase, ChainID: p.ChainID, Amount: 1}, txs[1], txs[0], &other, txs[2],
	}
	tmpl, err := NewTemplate(spec(p, cands))
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.TxCount() != 4 || tmpl.Skipped != 4 || tmpl.Fees != 100+200+300 {
		t.Fatalf("kept %d skipped %d fees %d", tmpl.TxCount()-1, tmpl.Skipped, tmpl.Fees)
	}

	// The size budget cuts the list (never skips: nonces stay contiguous).
	small := chain.RegtestParams()
	small.MaxBlockSize = chain.HeaderSize + maxTxCountLen + tmpl.Block.Txs[0].SerializeSize() + 2*txs[0].SerializeSize()
	s := spec(small, txs)
	if tmpl, err = NewTemplate(s); err != nil || tmpl.TxCount() != 3 || tmpl.Skipped != 4 {
		t.Fatalf("budget: %d txs, skipped %d, err %v", tmpl.TxCount(), tmpl.Skipped, err)
	}
	if tmpl.Size > small.MaxBlockSize {
		t.Fatalf("template %d bytes over the %d limit", tmpl.Size, small.MaxBlockSize)
	}
	if got := txBudget(small, len(s.Memo)); got != 2*txs[0].SerializeSize() {
		t.Fatalf("budget %d", got)
	}

	// Fees that would overflow the coinbase amount cut the list too.
	key, _ := testKey(77)
	huge := signedTx(p, key, 0, addr(2), 1, ^uint64(0)-p.InitialSubsidy)
	if tmpl, err = NewTemplate(spec(p, []*chain.Tx{txs[0], huge, txs[1]})); err != nil || tmpl.TxCount() != 2 {
		t.Fatalf("overflow: %d txs err %v", tmpl.TxCount(), err)
	}
}

func TestTemplateErrors(t *testing.T) {
	p := chain.RegtestParams()
	s := spec(p, nil)
	s.PayTo = chain.Address{}
	if _, err := NewTemplate(s); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("zero address: %v", err)
	}
	s = spec(p, nil)
	s.Tip.NextBits = 0x01003456 // zero target
	if _, err := NewTemplate(s); !errors.Is(err, ErrBadTip) || !errors.Is(err, chain.ErrBadBits) {
		t.Fatalf("bad bits: %v", err)
	}
	s.Tip.NextBits = 0x2100ffff // above the regtest limit
	if _, err := NewTemplate(s); !errors.Is(err, ErrBadTip) {
		t.Fatalf("bits above limit: %v", err)
	}
	s = spec(p, nil)
	s.Memo = make([]byte, chain.MaxMemoSize+1)
	if _, err := NewTemplate(s); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("long memo: %v", err)
	}
	if _, err := NewTemplate(TemplateSpec{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("no params: %v", err)
	}
}

func TestExtraNonceLayout(t *testing.T) {
	en := makeExtraNonce(0x0102, 0x0304, 0x05060708)
	if en != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("layout %x", en)
	}
	if makeExtraNonce(genLaneBase|3, 0, 0)[0]&0x80 == 0 {
		t.Fatal("GenerateBlocks lanes must not overlap background lanes")
	}
}

// FuzzTemplateMerkle checks, for any transaction count and extra-nonce,
// that the root folded from the coinbase branch equals the full tree's.
func FuzzTemplateMerkle(f *testing.F) {
	p := chain.RegtestParams()
	all := transfers(p, 40)
	f.Add(uint8(0), []byte{})
	f.Add(uint8(6), []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add(uint8(39), []byte{0xff})
	f.Fuzz(func(t *testing.T, n uint8, raw []byte) {
		tmpl, err := NewTemplate(spec(p, all[:int(n)%len(all)]))
		if err != nil {
			t.Fatal(err)
		}
		var en [8]byte
		copy(en[:], raw)
		full, mutated := chain.MerkleRoot(tmpl.MakeBlock(en, 0, 0).TxIDs())
		if mutated || tmpl.MerkleRoot(en) != full {
			t.Fatalf("n=%d en=%x: branch root differs from the full tree", n, en)
		}
	})
}

// BenchmarkNewTemplate measures template building (tx filtering, ids,
// merkle tree and branch) for a coinbase-only block and for 1000 transfers.
func BenchmarkNewTemplate(b *testing.B) {
	p := chain.RegtestParams()
	txs := transfers(p, 1000)
	for _, n := range []int{0, 1000} {
		b.Run(fmt.Sprintf("txs=%d", n), func(b *testing.B) {
			s := spec(p, txs[:n])
			for b.Loop() {
				if _, err := NewTemplate(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLaneSearchDoesNotAllocate: the per-batch path (kernel search on a
// lane) allocates nothing.
func TestLaneSearchDoesNotAllocate(t *testing.T) {
	p := chain.RegtestParams()
	s := spec(p, nil)
	s.Tip.NextBits = 0x1900ffff // never met
	tmpl, err := NewTemplate(s)
	if err != nil {
		t.Fatal(err)
	}
	var counter uint32
	l := lane{id: 1, counter: &counter, space: fullNonceSpace}
	l.adopt(tmpl, testNow)
	k := kernel.Best()
	if n := testing.AllocsPerRun(50, func() { l.search(k, 1<<10) }); n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
}

// TestTemplateWithPayTo checks that deriving another payout from a template
// gives exactly the template NewTemplate builds for that address.
func TestTemplateWithPayTo(t *testing.T) {
	p := chain.RegtestParams()
	for _, n := range []int{0, 1, 4, 7} {
		base, err := NewTemplate(spec(p, transfers(p, n)))
		if err != nil {
			t.Fatal(err)
		}
		s := spec(p, transfers(p, n))
		s.PayTo = addr(2)
		want, err := NewTemplate(s)
		if err != nil {
			t.Fatal(err)
		}
		got := base.WithPayTo(addr(2))
		if !bytes.Equal(got.Block.Bytes(), want.Block.Bytes()) || !bytes.Equal(got.Coinb1, want.Coinb1) || !bytes.Equal(got.Coinb2, want.Coinb2) {
			t.Fatalf("n=%d: derived template differs from a template built for the address", n)
		}
		if base.Block.Txs[0].To != addr(1) || base.WithPayTo(addr(1)) != base {
			t.Fatalf("n=%d: WithPayTo modified or copied the base template needlessly", n)
		}
	}
}

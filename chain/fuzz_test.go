package chain_test

import (
	"bytes"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
)

// Fuzz targets for every decoder of untrusted bytes and for ProcessBlock.
// The seeds (valid encodings, their truncations and classic malformations)
// run under plain `go test`; `go test -fuzz FuzzDecodeBlock ./chain` explores.

// seedBlocks returns valid and interesting regtest blocks: block 1, a block 2
// with transfers, a block with a bad signature, a mutated merkle list.
func seedBlocks(tb testing.TB) []*chain.Block {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(tb, p)
	g.Next("b1", chaintest.GenesisName)
	g.Transfer("b1", 0, 1, chain.Coin, 10)
	g.Transfer("b1", 0, 2, chain.Coin, 10)
	g.Next("b2", "b1")
	bad := g.NewTransfer(0, g.Addr(3), 5, 1, 0)
	bad.Sig[1] ^= 1
	g.Next("badsig", chaintest.GenesisName, chaintest.Txs(bad))
	g.Clone("mutated", "b2", func(b *chain.Block) { b.Txs = append(b.Txs, b.Txs[2]) })
	g.Next("memo", chaintest.GenesisName, chaintest.CoinbaseMemo(bytes.Repeat([]byte{'z'}, chain.MaxMemoSize)))
	var out []*chain.Block
	for _, n := range []string{"b1", "b2", "badsig", "mutated", "memo"} {
		out = append(out, g.Block(n))
	}
	return append(out, p.GenesisBlock)
}

func addMalformations(f *testing.F, raw []byte) {
	f.Add(raw)
	f.Add(append(bytes.Clone(raw), 0))
	for _, n := range []int{0, 1, len(raw) / 2, len(raw) - 1} {
		if n >= 0 && n < len(raw) {
			f.Add(bytes.Clone(raw[:n]))
		}
	}
}

func FuzzDecodeTx(f *testing.F) {
	for _, b := range seedBlocks(f) {
		for _, tx := range b.Txs {
			addMalformations(f, tx.Bytes())
		}
	}
	tr := seedBlocks(f)[1].Txs[1].Bytes()
	f.Add(append([]byte{2}, tr[1:]...))
	f.Add(append(append(bytes.Clone(tr[:49]), 0xfd, 0, 0), tr[50:]...)) // non-minimal memo length
	p := chain.RegtestParams()
	f.Fuzz(func(t *testing.T, b []byte) {
		tx, err := chain.DecodeTx(b)
		if err != nil {
			if tx != nil || chain.KindOf(err) == "" {
				t.Fatalf("error %v without a kind, or with a tx", err)
			}
			return
		}
		if enc := tx.Bytes(); !bytes.Equal(enc, b) || tx.SerializeSize() != len(b) {
			t.Fatalf("not canonical: %x re-encodes to %x", b, enc)
		}
		// Everything a node does with an untrusted transaction must not panic.
		_, _ = tx.TxID(), tx.SigHash()
		_ = tx.CheckSanity(p)
		_ = tx.VerifySignature()
		_ = tx.From()
		if tx.IsCoinbase() {
			c1, c2 := tx.CoinbaseParts()
			if got := append(append(bytes.Clone(c1), tx.ExtraNonce[:]...), c2...); !bytes.Equal(got, b) {
				t.Fatal("coinbase parts do not reassemble")
			}
		}
	})
}

func FuzzDecodeBlock(f *testing.F) {
	for _, b := range seedBlocks(f) {
		addMalformations(f, b.Bytes())
	}
	b1 := seedBlocks(f)[0].Bytes()
	f.Add(append(append(bytes.Clone(b1[:80]), 0xfd, 1, 0), b1[81:]...))
	f.Add(append(bytes.Clone(b1[:80]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))
	p := chain.RegtestParams()
	f.Fuzz(func(t *testing.T, b []byte) {
		blk, err := chain.DecodeBlock(b)
		if err != nil {
			if blk != nil || chain.KindOf(err) == "" {
				t.Fatalf("error %v without a kind, or with a block", err)
			}
			return
		}
		if enc := blk.Bytes(); !bytes.Equal(enc, b) || blk.SerializeSize() != len(b) {
			t.Fatalf("not canonical: re-encodes to %d bytes from %d", len(enc), len(b))
		}
		_ = chain.CheckBlockSanity(blk, p)
		_ = blk.Hash()
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, b := range seedBlocks(f) {
		hb := b.Header.Bytes()
		addMalformations(f, hb[:])
	}
	f.Add(make([]byte, 80))
	f.Add(bytes.Repeat([]byte{0xff}, 80))
	p := chain.RegtestParams()
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := chain.DecodeHeader(b)
		if len(b) != chain.HeaderSize {
			if err == nil {
				t.Fatalf("%d-byte header decoded", len(b))
			}
			return
		}
		if err != nil {
			t.Fatalf("80-byte header: %v", err)
		}
		if enc := h.Bytes(); !bytes.Equal(enc[:], b) {
			t.Fatal("not canonical")
		}
		_ = chain.CheckHeaderSanity(&h, p)
	})
}

// FuzzProcessBlock feeds arbitrary bytes, decoded as a block, into a fresh
// regtest chain: it must never panic, and whatever it answers must leave the
// chain consistent.
func FuzzProcessBlock(f *testing.F) {
	for _, b := range seedBlocks(f) {
		addMalformations(f, b.Bytes())
		// Flip a byte in the header, the coinbase and the last transaction.
		raw := b.Bytes()
		for _, off := range []int{0, 70, 90, len(raw) - 5} {
			if off < len(raw) {
				m := bytes.Clone(raw)
				m[off] ^= 0x40
				f.Add(m)
			}
		}
	}
	p := chain.RegtestParams()
	f.Fuzz(func(t *testing.T, raw []byte) {
		blk, err := chain.DecodeBlock(raw)
		if err != nil {
			return
		}
		c := chaintest.NewChain(t, p, nil)
		res, err := c.ProcessBlock(blk)
		h := blk.Hash()
		switch {
		case err != nil:
			if chain.KindOf(err) == "" {
				t.Fatalf("untyped error: %v", err)
			}
			if c.Best().Hash == h && h != p.GenesisHash {
				t.Fatal("rejected block is the tip")
			}
		case res.Status == chain.StatusConnected:
			if c.Best().Hash != h || c.Height() != 1 {
				t.Fatalf("connected but tip %s height %d", c.Best().Hash, c.Height())
			}
		case res.Status == chain.StatusOrphan:
			if !c.HaveBlock(h) || c.OrphanCount() != 1 || c.Height() != 0 {
				t.Fatal("orphan not kept")
			}
		default:
			t.Fatalf("unexpected status %v for a block on a fresh chain", res.Status)
		}
		// A second submission is always refused.
		if _, err := c.ProcessBlock(blk); err == nil {
			t.Fatal("resubmission accepted")
		}
	})
}

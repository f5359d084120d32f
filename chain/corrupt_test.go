package chain_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/table"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/faultstore"
	"github.com/quarrychain/quarry/chain/leveldbstore"
	"github.com/quarrychain/quarry/chain/memstore"
	"github.com/quarrychain/quarry/chain/testkit"
)

func blockKey(h chain.Hash) []byte { return append([]byte{'b'}, h[:]...) }

func faultChain(t *testing.T, g *chaintest.Generator) (*chain.Chain, *faultstore.Store, *testkit.Buffer) {
	t.Helper()
	p := g.Params()
	fs := faultstore.New(memstore.New())
	logs := &testkit.Buffer{}
	c, err := chain.New(chain.Config{Params: p, Store: fs, Now: faultNow(p), VerifyWorkers: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c, fs, logs
}

// TestCorruptBlockIsReportedAndRepaired: stored block data that fails its
// integrity check is ErrCorruptData (not "not found", not a wrong block),
// logged once at ERROR, counted, listed by CorruptBlocks, and RepairBlock
// accepts only the block the header commits to.
func TestCorruptBlockIsReportedAndRepaired(t *testing.T) {
	for name, damage := range map[string]func(fs *faultstore.Store, key []byte){
		"checksum":     func(fs *faultstore.Store, key []byte) { fs.FailChecksum(key) },
		"header bit":   func(fs *faultstore.Store, key []byte) { fs.FlipBit(key, 40) },
		"body bit":     func(fs *faultstore.Store, key []byte) { fs.FlipBit(key, 1<<20) }, // last byte: the coinbase memo/tx tail
		"length field": func(fs *faultstore.Store, key []byte) { fs.FlipBit(key, chain.HeaderSize) },
	} {
		t.Run(name, func(t *testing.T) {
			g := chaintest.NewGenerator(t, chain.RegtestParams())
			g.Next("a1", gen)
			g.Transfer("a1", 0, 1, chain.Coin, 10)
			g.Next("a2", "a1") // with the transfer
			g.Next("a3", "a2")
			c, fs, logs := faultChain(t, g)
			g.AcceptAll(t, c, "a1", "a2", "a3")
			h := g.Hash("a2")
			damage(fs, blockKey(h))

			for i := 0; i < 2; i++ {
				if _, err := c.Block(h); !errors.Is(err, chain.ErrCorruptData) || errors.Is(err, chain.ErrNotFound) {
					t.Fatalf("read %d of damaged block: %v, want ErrCorruptData", i, err)
				}
			}
			txid := g.Block("a2").Txs[1].TxID()
			if _, _, _, err := c.Transaction(txid); !errors.Is(err, chain.ErrCorruptData) {
				t.Fatalf("transaction in damaged block: %v", err)
			}
			if got := c.CorruptReads(); got != 3 {
				t.Fatalf("CorruptReads = %d, want 3", got)
			}
			if got := c.CorruptBlocks(); len(got) != 1 || got[0] != h {
				t.Fatalf("CorruptBlocks = %v", got)
			}
			if n := strings.Count(logs.String(), "level=ERROR"); n != 1 || strings.Count(logs.String(), "corrupt") == 0 {
				t.Fatalf("%d ERROR lines for one damaged block:\n%s", n, logs.String())
			}
			if _, err := c.Block(g.Hash("a3")); err != nil {
				t.Fatalf("undamaged block: %v", err)
			}

			// A body that does not match the header is refused.
			bad := chaintest.CopyBlock(g.Block("a2"))
			bad.Txs = bad.Txs[:1]
			if err := c.RepairBlock(bad); !errors.Is(err, chain.ErrBadMerkleRoot) {
				t.Fatalf("repair with a wrong body: %v", err)
			}
			if err := c.RepairBlock(g.Block("a1")); !errors.Is(err, chain.ErrDuplicateBlock) {
				t.Fatalf("repair of a sound block: %v", err)
			}
			if err := c.RepairBlock(g.Block("a2")); err != nil {
				t.Fatalf("repair: %v", err)
			}
			b, err := c.Block(h)
			if err != nil || b.Hash() != h {
				t.Fatalf("after repair: %v", err)
			}
			if got := c.CorruptBlocks(); len(got) != 0 {
				t.Fatalf("CorruptBlocks after repair = %v", got)
			}
			if err := c.RepairBlock(g.Block("a2")); !errors.Is(err, chain.ErrDuplicateBlock) {
				t.Fatalf("second repair: %v", err)
			}
		})
	}
}

// TestCorruptBlockHoldsReorgUntilRepaired: a reorg onto a branch with a
// corrupt stored block falls back to the best usable chain without blaming
// the block (no error, nothing marked invalid), and happens once the block
// is repaired.
func TestCorruptBlockHoldsReorgUntilRepaired(t *testing.T) {
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	g.Chain("a", gen, 3)
	g.Chain("b", gen, 4)
	c, fs, _ := faultChain(t, g)
	g.AcceptAll(t, c, "a1", "a2", "a3", "b1", "b2", "b3")
	g.AssertTip(t, c, "a3")
	fs.FlipBit(blockKey(g.Hash("b2")), 1<<20)
	res, err := c.ProcessBlock(g.Block("b4"))
	if err != nil || res.Status != chain.StatusSideChain {
		t.Fatalf("reorg over a corrupt block: %v, %v; want stored on a side branch", res.Status, err)
	}
	if c.IsKnownInvalid(g.Hash("b2")) || c.IsKnownInvalid(g.Hash("b4")) {
		t.Fatal("a corrupt stored block was marked invalid")
	}
	g.AssertTip(t, c, "a3")
	g.Next("b5", "b4")
	if res, err := c.ProcessBlock(g.Block("b5")); err != nil || res.Status != chain.StatusSideChain {
		t.Fatalf("child of a held-back branch: %v, %v", res.Status, err)
	}
	g.AssertTip(t, c, "a3")
	if got := c.CorruptBlocks(); len(got) != 1 || got[0] != g.Hash("b2") {
		t.Fatalf("CorruptBlocks = %v", got)
	}
	if err := c.RepairBlock(g.Block("b2")); err != nil {
		t.Fatal(err)
	}
	g.AssertTip(t, c, "b5")
}

// TestCorruptLevelDBTableBlock flips bytes of a real goleveldb table: the
// chain still opens on the right tip and state, and the blocks in the
// damaged table block read as ErrCorruptData (goleveldb's checksum), not as
// missing; RepairBlock rewrites them.
func TestCorruptLevelDBTableBlock(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	names := g.Chain("a", gen, 150)
	dir := t.TempDir()
	dc, err := openDisk(t, dir, p)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range names {
		if _, err := dc.c.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	best := dc.c.Best()
	if err := dc.store.Close(); err != nil {
		t.Fatal(err)
	}
	damaged := damageBlockTable(t, dir)

	store, err := leveldbstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c, err := chain.New(chain.Config{Params: p, Store: store, Now: faultNow(p), VerifyWorkers: 1})
	if err != nil {
		t.Fatalf("open after damaging block data: %v", err)
	}
	if got := c.Best(); got.Hash != best.Hash || got.StateDigest != best.StateDigest {
		t.Fatal("tip or state changed")
	}
	var corrupt []*chain.Block
	for _, b := range names {
		_, err := c.Block(b.Hash())
		switch {
		case err == nil:
		case errors.Is(err, chain.ErrCorruptData):
			corrupt = append(corrupt, b)
		default:
			t.Fatalf("block %s: %v", b.Hash(), err)
		}
	}
	if len(corrupt) == 0 || len(corrupt) != len(damaged) {
		t.Fatalf("%d blocks read as corrupt, %d keys in the damaged table block", len(corrupt), len(damaged))
	}
	if got := len(c.CorruptBlocks()); got != len(corrupt) {
		t.Fatalf("CorruptBlocks has %d, want %d", got, len(corrupt))
	}
	for _, b := range corrupt {
		if err := c.RepairBlock(b); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Block(b.Hash()); err != nil {
			t.Fatalf("after repair: %v", err)
		}
	}
}

// damageBlockTable compacts the database into tables, picks a data block of
// a table that holds only block records ('b' keys) away from the table's
// edges, flips bytes inside it and returns the user keys it held.
func damageBlockTable(t *testing.T, dir string) [][]byte {
	t.Helper()
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CompactRange(util.Range{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// goleveldb deletes the tables a compaction made obsolete when it next
	// opens the database: do that so only live tables are left.
	if db, err = leveldb.OpenFile(dir, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.ldb"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no tables after compaction (%v)", err)
	}
	for _, path := range files {
		keys, off := pickBlockOnlyDataBlock(t, path)
		if keys == nil {
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(8); i < 16; i++ {
			raw[off+i] ^= 0xff
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	t.Fatal("no table data block holds only block records")
	return nil
}

func pickBlockOnlyDataBlock(t *testing.T, path string) ([][]byte, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := table.NewReader(f, st.Size(), storage.FileDesc{}, nil, nil, &opt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Group internal keys by the offset of the data block holding them.
	var offsets []int64
	groups := make(map[int64][][]byte)
	it := r.NewIterator(nil, nil)
	for it.Next() {
		ikey := append([]byte(nil), it.Key()...)
		off, err := r.OffsetOf(ikey)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := groups[off]; !ok {
			offsets = append(offsets, off)
		}
		groups[off] = append(groups[off], ikey[:len(ikey)-8])
	}
	it.Release()
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	// Skip the first and last blocks; take the middle one of the rest that
	// holds only 'b' keys.
	var candidates []int64
	for i := 1; i+1 < len(offsets); i++ {
		only := true
		for _, k := range groups[offsets[i]] {
			only = only && k[0] == 'b'
		}
		if only {
			candidates = append(candidates, offsets[i])
		}
	}
	if len(candidates) == 0 {
		return nil, 0
	}
	off := candidates[len(candidates)/2]
	return groups[off], off
}

// TestCorruptBlockAtRestart: a reorg interrupted by a failed write is
// finished at the next start; if a block of that branch is then found
// corrupt, New still succeeds on the best usable chain, and repairing the
// block completes the reorg.
func TestCorruptBlockAtRestart(t *testing.T) {
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	p := g.Params()
	g.Chain("a", gen, 3)
	g.Chain("b", gen, 4)
	inner := memstore.New()
	fs := faultstore.New(inner)
	c, err := chain.New(chain.Config{Params: p, Store: fs, Now: faultNow(p), VerifyWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	g.AcceptAll(t, c, "a1", "a2", "a3", "b1", "b2", "b3")
	// b4 is stored, then the first disconnect of the reorg fails.
	fs.FailCommit(2, faultstore.FailWrite)
	if _, err := c.ProcessBlock(g.Block("b4")); !errors.Is(err, chain.ErrWriteFailed) {
		t.Fatalf("reorg with a failing disk: %v", err)
	}

	fs2 := faultstore.New(inner)
	fs2.FailChecksum(blockKey(g.Hash("b3")))
	logs := &testkit.Buffer{}
	c2, err := chain.New(chain.Config{Params: p, Store: fs2, Now: faultNow(p), VerifyWorkers: 1,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatalf("restart with a corrupt block on the branch to activate: %v", err)
	}
	g.AssertTip(t, c2, "a3")
	if got := c2.CorruptBlocks(); len(got) != 1 || got[0] != g.Hash("b3") {
		t.Fatalf("CorruptBlocks = %v", got)
	}
	if strings.Count(logs.String(), "level=ERROR") != 1 {
		t.Fatalf("want one ERROR line:\n%s", logs.String())
	}
	if err := c2.RepairBlock(g.Block("b3")); err != nil {
		t.Fatal(err)
	}
	g.AssertTip(t, c2, "b4")
}

// TestBlockBytes: BlockBytes serves the stored encoding of a sound block
// (what Block would return, encoded) and applies Block's integrity checks.
func TestBlockBytes(t *testing.T) {
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	g.Next("a1", gen)
	g.Transfer("a1", 0, 1, chain.Coin, 10)
	g.Next("a2", "a1")
	c, fs, _ := faultChain(t, g)
	g.AcceptAll(t, c, "a1", "a2")
	raw, err := c.BlockBytes(g.Hash("a2"))
	if err != nil || !bytes.Equal(raw, g.Block("a2").Bytes()) {
		t.Fatalf("BlockBytes = %x, %v; want the block's encoding", raw, err)
	}
	if _, err := c.BlockBytes(chain.Hash{1}); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown block: %v, want ErrNotFound", err)
	}
	fs.FlipBit(blockKey(g.Hash("a2")), 1<<20)
	if _, err := c.BlockBytes(g.Hash("a2")); !errors.Is(err, chain.ErrCorruptData) {
		t.Fatalf("damaged block: %v, want ErrCorruptData", err)
	}
}

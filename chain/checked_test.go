package chain

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/memstore"
)

// newMemChain returns a regtest chain on a fresh memory store, with a
// clock fixed well after genesis.
func newMemChain(t *testing.T) (*Chain, *memstore.Store) {
	t.Helper()
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	now := time.Unix(genesisTime+100000, 0)
	c, err := New(Config{Params: RegtestParams(), Store: store, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return c, store
}

func checkedCount(c *Chain) int {
	c.checked.mu.Lock()
	defer c.checked.mu.Unlock()
	return len(c.checked.m)
}

func TestCheckBlockThenProcess(t *testing.T) {
	c, _ := newMemChain(t)
	var to Address
	b := mineChild(t, c, c.Best().Hash, to, 0)
	if err := c.CheckBlock(b); err != nil {
		t.Fatal(err)
	}
	if n := checkedCount(c); n != 1 {
		t.Fatalf("%d records after CheckBlock, want 1", n)
	}
	res, err := c.ProcessBlock(b)
	if err != nil || res.Status != StatusConnected || res.Hash != b.Hash() {
		t.Fatalf("ProcessBlock: %+v %v", res, err)
	}
	if n := checkedCount(c); n != 0 {
		t.Fatalf("%d records after ProcessBlock, want 0 (taken)", n)
	}
}

// A block changed after CheckBlock (against the contract) is checked again:
// its record no longer describes it.
func TestCheckBlockChangedIsCheckedAgain(t *testing.T) {
	c, _ := newMemChain(t)
	var to Address
	parent := c.Best().Hash

	// A new header: the recorded hash is not used.
	b := mineChild(t, c, parent, to, 0)
	if err := c.CheckBlock(b); err != nil {
		t.Fatal(err)
	}
	b.Header.Version = 0
	if _, err := c.ProcessBlock(b); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("header changed after CheckBlock: got %v, want %v", err, ErrBadVersion)
	}

	// A new transaction list: the merkle root is checked again.
	b = mineChild(t, c, parent, to, 0)
	if err := c.CheckBlock(b); err != nil {
		t.Fatal(err)
	}
	cb := *b.Txs[0]
	cb.Amount--
	b.Txs = []*Tx{&cb}
	if _, err := c.ProcessBlock(b); !errors.Is(err, ErrBadMerkleRoot) {
		t.Fatalf("transactions replaced after CheckBlock: got %v, want %v", err, ErrBadMerkleRoot)
	}
	if c.Best().Hash != parent {
		t.Fatal("a changed block was connected")
	}
}

func TestCheckBlockFailureIsNotRecorded(t *testing.T) {
	c, _ := newMemChain(t)
	var to Address
	b := mineChild(t, c, c.Best().Hash, to, 0)
	b.Txs[0].Amount++ // no longer matches the merkle root
	if err := c.CheckBlock(b); !errors.Is(err, ErrBadMerkleRoot) {
		t.Fatalf("CheckBlock: got %v, want %v", err, ErrBadMerkleRoot)
	}
	if n := checkedCount(c); n != 0 {
		t.Fatalf("%d records after a failed check, want 0", n)
	}
	if _, err := c.ProcessBlock(b); !errors.Is(err, ErrBadMerkleRoot) {
		t.Fatalf("ProcessBlock: got %v, want %v", err, ErrBadMerkleRoot)
	}
}

func TestCheckBlockRecordsAreBounded(t *testing.T) {
	c, _ := newMemChain(t)
	var to Address
	b := mineChild(t, c, c.Best().Hash, to, 0)
	blocks := make([]*Block, checkedBlocksMax+10) // kept alive: no record is collected
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < len(blocks); i += 2 {
				cp := *b
				blocks[i] = &cp
				if err := c.CheckBlock(blocks[i]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := checkedCount(c); n != checkedBlocksMax {
		t.Fatalf("%d records, want the bound %d", n, checkedBlocksMax)
	}
	// The newest records survive: the last block (worker 1's last, with
	// at most 4,101 records added after it) finds its record, which
	// ProcessBlock takes.
	if _, err := c.ProcessBlock(blocks[len(blocks)-1]); err != nil {
		t.Fatal(err)
	}
	if n := checkedCount(c); n != checkedBlocksMax-1 {
		t.Fatalf("%d records after processing the newest block, want %d (its record taken)", n, checkedBlocksMax-1)
	}
	// An evicted block is simply checked again.
	if _, err := c.ProcessBlock(blocks[0]); err != nil && !errors.Is(err, ErrDuplicateBlock) {
		t.Fatal(err)
	}
	// The ten records evicted were gone: every other block still finds
	// its own (blocks[0] may be either, and ProcessBlock above took its
	// record if it had one).
	kept := 0
	for _, blk := range blocks[1:] {
		if _, ok := c.checked.take(blk); ok {
			kept++
		}
	}
	if want := checkedBlocksMax - 1; kept != want && kept != want-1 {
		t.Fatalf("%d blocks find their record, want %d (or %d if blocks[0] kept one)", kept, want, want-1)
	}
}

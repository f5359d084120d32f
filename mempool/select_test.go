package mempool

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func TestSelectForBlockOrder(t *testing.T) {
	e := newEnv(t, nil)
	for i := 1; i <= 4; i++ {
		e.fund(i, 10*coin)
	}
	a0 := e.transfer(1, 9, 0, 10, 500)    // low
	a1 := e.transfer(1, 9, 1, 10, 90_000) // very high, behind a0
	b0 := e.transfer(2, 9, 0, 10, 5000)   // mid
	c0 := e.transfer(3, 9, 0, 10, 300)    // lowest
	d0 := e.transfer(4, 9, 0, 10, 5000)   // same rate as b0, later
	for _, tx := range []*chain.Tx{a0, a1, b0, c0, d0} {
		e.mustAdd(tx)
	}
	got := e.pool.SelectForBlock(1 << 20)
	want := []*chain.Tx{b0, d0, a0, a1, c0}
	if len(got) != len(want) {
		t.Fatalf("selected %d, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("position %d: got %v, want %v", i, got[i], want[i])
		}
	}
	checkTemplate(t, e.state, got)

	// Size limit: room for exactly two transfers.
	size := b0.SerializeSize()
	if got := e.pool.SelectForBlock(2*size + size - 1); len(got) != 2 || got[0] != b0 || got[1] != d0 {
		t.Fatalf("limited selection %v", got)
	}
	if got := e.pool.SelectForBlock(size - 1); len(got) != 0 {
		t.Fatalf("selection into too small a block: %v", got)
	}
	if got := e.pool.SelectForBlock(-5); len(got) != 0 {
		t.Fatal("negative size selected")
	}
	if e.pool.Count() != 5 {
		t.Fatal("selection modified the pool")
	}
}

func TestSelectSkipsSenderThatDoesNotFit(t *testing.T) {
	e := newEnv(t, nil)
	e.fund(1, 10*coin)
	e.fund(2, 10*coin)
	big := signedTx(e.params, testKey(1), addrOf(testKey(9)), 0, 10, 100_000, make([]byte, chain.MaxMemoSize))
	after := e.transfer(1, 9, 1, 10, 100_000)
	small := e.transfer(2, 9, 0, 10, 1000)
	for _, tx := range []*chain.Tx{big, after, small} {
		e.mustAdd(tx)
	}
	got := e.pool.SelectForBlock(big.SerializeSize() - 1)
	if len(got) != 1 || got[0] != small {
		t.Fatalf("got %v: a sender's later tx must not skip its predecessor", got)
	}
}

package chain

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/quarrychain/quarry/chain/kv"
)

// A stored block is served (BlockBytes) and read (Block) only if its bytes
// are the block's: every corruption of the stored bytes, whether it still
// decodes or not, is reported as ErrCorruptData by both, with the same
// error, and never served as a block.
func TestCorruptStoredBlockIsNeverServed(t *testing.T) {
	c, store := newMemChain(t)
	var to Address
	to[3] = 7
	// Signatures are not checked here: any well-formed transfer will do.
	xfer := &Tx{Kind: TxTransfer, ChainID: c.Params().ChainID, Nonce: 3, To: to, Amount: 5, Fee: 1, Memo: []byte("memo")}
	xfer.PubKey[0], xfer.Sig[0] = 2, 9
	b := mineChild(t, c, c.Best().Hash, to, 0, xfer)
	b.Txs[0].Memo = []byte("coinbase memo")
	root, _ := MerkleRoot(b.TxIDs())
	b.Header.MerkleRoot = root
	h := b.Hash()
	good := b.Bytes()

	put := func(raw []byte) {
		t.Helper()
		if err := store.Commit(&kv.Batch{Ops: []kv.Op{{Kind: kv.OpPut, Key: hashKey(prefixBlock, h), Value: raw}}}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, raw []byte) {
		t.Helper()
		put(raw)
		got, gotErr := c.BlockBytes(h)
		blk, blkErr := c.Block(h)
		switch {
		case string(raw) == string(good):
			if gotErr != nil || blkErr != nil || string(got) != string(good) || string(blk.Bytes()) != string(good) {
				t.Fatalf("%s: intact block: BlockBytes %v, Block %v", what, gotErr, blkErr)
			}
		case !errors.Is(gotErr, ErrCorruptData):
			t.Fatalf("%s: BlockBytes served %d corrupt bytes (error %v), want ErrCorruptData", what, len(got), gotErr)
		case !errors.Is(blkErr, ErrCorruptData) || blkErr.Error() != gotErr.Error():
			t.Fatalf("%s: Block error %q, BlockBytes error %q", what, blkErr, gotErr)
		}
	}
	check("intact", good)
	if _, err := c.BlockBytes(h); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(10, 1))
	for i := range 3000 {
		raw := append([]byte(nil), good...)
		switch i % 4 {
		case 0: // one byte changed
			raw[rng.IntN(len(raw))] ^= byte(1 + rng.IntN(255))
		case 1: // truncated
			raw = raw[:rng.IntN(len(raw))]
		case 2: // bytes appended
			raw = append(raw, make([]byte, 1+rng.IntN(8))...)
		case 3: // a byte of the body set to a boundary value (lengths, kinds)
			raw[HeaderSize+rng.IntN(len(raw)-HeaderSize)] = []byte{0, 1, 2, 0xfc, 0xfd, 0xfe, 0xff}[rng.IntN(7)]
		}
		check("mutation", raw)
	}
}

package chain

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/kv"
	"github.com/quarrychain/quarry/chain/memstore"
)

// BlockBytes checks stored bytes without building the Block; its verdict
// (and error) must be the one Block reaches by decoding, for every
// corruption of the stored bytes.
func TestBlockBytesAgreesWithBlock(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { _ = store.Close() })
	now := time.Unix(genesisTime+100000, 0)
	c, err := New(Config{Params: RegtestParams(), Store: store, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
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
		blk, wantErr := c.Block(h)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Fatalf("%s: BlockBytes error %v, Block error %v", what, gotErr, wantErr)
		case gotErr != nil && gotErr.Error() != wantErr.Error():
			t.Fatalf("%s: BlockBytes error %q, Block error %q", what, gotErr, wantErr)
		case gotErr == nil && string(got) != string(blk.Bytes()):
			t.Fatalf("%s: BlockBytes returned bytes that are not the block's encoding", what)
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

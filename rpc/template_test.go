package rpc_test

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// TestTemplateToBlock builds a block the way an external miner would, from
// getblocktemplate's coinb1/coinb2/merklebranch only, and submits it.
func TestTemplateToBlock(t *testing.T) {
	f := rpctest.New()
	s := newServer(t, f, nil)
	st, body := post(t, s.Handler(), `{"jsonrpc":"2.0","id":1,"method":"getblocktemplate","params":[{"coinbaseaddress":"`+rpctest.KeyAddress(3).Encode(f.Params())+`"}]}`)
	var resp struct {
		Result rpcjson.BlockTemplate `json:"result"`
	}
	if st != 200 || json.Unmarshal([]byte(body), &resp) != nil {
		t.Fatalf("getblocktemplate: %d %s", st, body)
	}
	tpl := resp.Result
	if len(tpl.Transactions) != 2 || tpl.Height != 6 || tpl.ExtraNonceSize != chain.ExtraNonceSize {
		t.Fatalf("template %+v", tpl)
	}
	cb1, _ := hex.DecodeString(tpl.Coinb1)
	cb2, _ := hex.DecodeString(tpl.Coinb2)
	var extra [chain.ExtraNonceSize]byte
	binary.LittleEndian.PutUint64(extra[:], 0xdeadbeef)
	raw := append(append(append([]byte{}, cb1...), extra[:]...), cb2...)
	coinbase, err := chain.DecodeTx(raw)
	if err != nil || !coinbase.IsCoinbase() || coinbase.To != rpctest.KeyAddress(3) || coinbase.Amount != tpl.CoinbaseValue {
		t.Fatalf("coinbase from parts: %+v %v", coinbase, err)
	}
	root := chain.MerkleRootFromBranch(chain.DoubleSHA256(raw), tpl.MerkleBranch)
	blk := &chain.Block{Txs: []*chain.Tx{coinbase}}
	for _, tt := range tpl.Transactions {
		b, _ := hex.DecodeString(tt.Data)
		tx, err := chain.DecodeTx(b)
		if err != nil || tx.TxID() != tt.TxID {
			t.Fatalf("template tx: %v", err)
		}
		blk.Txs = append(blk.Txs, tx)
	}
	if want, _ := chain.MerkleRoot(blk.TxIDs()); want != root {
		t.Fatalf("root from branch %s, want %s", root, want)
	}
	if tpl.Transactions[1].Depends[0] != 1 {
		t.Fatalf("second transfer of the same sender should depend on the first: %+v", tpl.Transactions[1])
	}
	var bits uint32
	if _, err := fmt.Sscanf(tpl.Bits, "%08x", &bits); err != nil {
		t.Fatal(err)
	}
	blk.Header = chain.Header{Version: tpl.Version, PrevBlock: tpl.PreviousBlockHash, MerkleRoot: root, Timestamp: tpl.CurTime, Bits: bits}
	if int64(blk.Header.Timestamp) < tpl.MinTime {
		t.Fatalf("curtime %d below mintime %d", tpl.CurTime, tpl.MinTime)
	}
	p := f.Params()
	for n := uint32(0); chain.CheckProofOfWork(blk.Hash(), bits, p.PowLimit) != nil; n++ {
		blk.Header.Nonce = n
	}
	st, body = post(t, s.Handler(), fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"submitblock","params":["%x"]}`, blk.Bytes()))
	if st != 200 || !strings.Contains(body, `"result":null`) {
		t.Fatalf("submitblock: %d %s", st, body)
	}
	if f.Tip().Hash != blk.Hash() {
		t.Fatal("submitted block is not the tip")
	}
}

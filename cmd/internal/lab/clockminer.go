package lab

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// clockStampedBlock is what an external miner on node i's host does when it
// trusts that host's clock rather than the template's mintime: it takes
// node i's getblocktemplate, stamps the header with clock (the host's
// time, skewed like the node's), solves the proof of work (regtest's
// target is met by about every other nonce) and returns the block. Nothing
// checks the timestamp on the way: the nodes it is submitted to apply the
// consensus rules.
func (l *Lab) clockStampedBlock(ctx context.Context, i int, clock time.Time) (*chain.Block, rpcjson.BlockTemplate, error) {
	tmpl, err := call[rpcjson.BlockTemplate](ctx, l, i, "getblocktemplate")
	if err != nil {
		return nil, tmpl, err
	}
	decode := func(what, h string) (*chain.Tx, error) {
		raw, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", what, err)
		}
		tx, err := chain.DecodeTx(raw)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", what, err)
		}
		return tx, nil
	}
	cb, err := decode("coinbase", tmpl.CoinbaseTxn.Data)
	if err != nil {
		return nil, tmpl, err
	}
	b := &chain.Block{Txs: []*chain.Tx{cb}}
	for k, t := range tmpl.Transactions {
		tx, err := decode("transaction "+strconv.Itoa(k), t.Data)
		if err != nil {
			return nil, tmpl, err
		}
		b.Txs = append(b.Txs, tx)
	}
	bits, err := strconv.ParseUint(tmpl.Bits, 16, 32)
	if err != nil {
		return nil, tmpl, fmt.Errorf("template bits %q: %w", tmpl.Bits, err)
	}
	root, _ := chain.MerkleRoot(b.TxIDs())
	b.Header = chain.Header{Version: tmpl.Version, PrevBlock: tmpl.PreviousBlockHash, MerkleRoot: root,
		Timestamp: uint32(clock.Unix()), Bits: uint32(bits)}
	for nonce := uint32(0); ; nonce++ {
		b.Header.Nonce = nonce
		if chain.CheckProofOfWork(b.Hash(), b.Header.Bits, l.params.PowLimit) == nil {
			return b, tmpl, nil
		}
		if nonce == 1<<20 {
			return nil, tmpl, fmt.Errorf("no proof of work in 2^20 nonces at bits %08x (not a regtest target?)", b.Header.Bits)
		}
	}
}

// submitVerdict submits a block (hex) to node i and returns its BIP22
// answer: "accepted", "duplicate" or the rejection reason.
func (l *Lab) submitVerdict(ctx context.Context, i int, rawHex string) (string, error) {
	verdict, err := call[json.RawMessage](ctx, l, i, "submitblock", rawHex)
	if err != nil {
		return "", err
	}
	var reason *string
	if err := json.Unmarshal(verdict, &reason); err != nil {
		return "", fmt.Errorf("node%d submitblock answered %s: %w", i, verdict, err)
	}
	if reason == nil {
		return "accepted", nil
	}
	return *reason, nil
}

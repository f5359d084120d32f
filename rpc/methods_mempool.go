package rpc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/bits"
	"sort"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// maxTestAccept is Core's MAX_PACKAGE_COUNT for testmempoolaccept.
const maxTestAccept = 25

func mempoolMethods() []*method {
	const bc, raw = "Blockchain", "Rawtransactions"
	txidArg := arg{name: "txid", typ: "string", required: true, desc: "The transaction id"}
	maxFeeArg := arg{name: "maxfeerate", typ: "amount", def: "0", desc: "Reject transactions whose fee rate is higher than this, in coins per 1000 bytes; 0 (the default) accepts any fee"}
	return []*method{
		{name: "getmempoolinfo", category: bc, sub: subMempool,
			summary: "Returns details on the active state of the TX memory pool. Fee rates are in coins per 1000 bytes.",
			result:  `{ "loaded", "size", "bytes", "usage", "total_fee", "maxmempool", "mempoolminfee", "minrelaytxfee" }`,
			run:     (*call).getMempoolInfo},
		{name: "getrawmempool", category: bc, sub: subMempool,
			args: []arg{{name: "verbose", typ: "boolean", def: "false", desc: "True for a json object, false for array of transaction ids"},
				{name: "mempool_sequence", typ: "boolean", def: "false", desc: "Not supported; must be false"}},
			summary: "Returns all transaction ids in memory pool as a json array of string transaction ids, sorted. Hint: use getmempoolentry to fetch a specific transaction from the mempool.",
			result:  `[ "txid" ] | { "txid": { "vsize", "weight", "time", "height", "fees": { "base" }, "from", "nonce", "depends", "spentby", "ready" } }`,
			run:     (*call).getRawMempool},
		{name: "getmempoolentry", category: bc, sub: subMempool,
			args:    []arg{txidArg},
			summary: "Returns mempool data for given transaction. \"depends\" and \"spentby\" are the sender's pending transactions with the previous and next nonce.",
			result:  `{ "vsize", "weight", "time", "height", "fees": { "base" }, "from", "nonce", "depends", "spentby", "ready" }`,
			run:     (*call).getMempoolEntry},
		{name: "sendrawtransaction", category: raw, sub: subMempool,
			args:    []arg{{name: "hexstring", typ: "string", required: true, desc: "The hex string of the raw transaction"}, maxFeeArg},
			summary: "Submit a raw transaction (serialized, hex-encoded) to local node and network. A transaction already in the mempool is accepted again and its txid returned.",
			result:  `"hex"    (string) The transaction hash in hex`,
			run:     (*call).sendRawTransaction},
		{name: "testmempoolaccept", category: raw, sub: subMempool,
			args: []arg{{name: "rawtxs", typ: "array", required: true, desc: "An array of hex strings of raw transactions (1 to 25), each tested on its own against the current mempool"},
				maxFeeArg},
			summary: "Returns result of mempool acceptance tests indicating if raw transactions would be accepted by mempool. This checks if transactions violate the consensus or policy rules. The mempool is not changed.",
			result:  `[ { "txid", "wtxid", "allowed", "vsize", "fees": { "base" }, "reject-reason" } ]`,
			run:     (*call).testMempoolAccept},
		{name: "getrawtransaction", category: raw, sub: subChain,
			args: []arg{txidArg,
				{name: "verbose", typ: "boolean", def: "false", desc: "If false, return a string, otherwise return a json object"},
				{name: "blockhash", typ: "string", desc: "The block in which to look for the transaction"}},
			summary: "Return the raw transaction data: from the mempool, the main chain's transaction index, or the given block.",
			result:  `"data" | { "in_active_chain", "hex", "txid", "hash", "size", "kind", "chainid", "height" | "nonce", "from", "to", "amount", "fee", "extranonce", "memo", "memotext", "pubkey", "signature", "blockhash", "blockheight", "confirmations", "time", "blocktime" }`,
			run:     (*call).getRawTransaction},
		{name: "decoderawtransaction", category: raw, sub: subNone,
			args:    []arg{{name: "hexstring", typ: "string", required: true, desc: "The transaction hex string"}},
			summary: "Return a JSON object representing the serialized, hex-encoded transaction.",
			result:  `{ "txid", "hash", "size", "kind", "chainid", "height" | "nonce", "from", "to", "amount", "fee", "extranonce", "memo", "memotext", "pubkey", "signature" }`,
			run:     (*call).decodeRawTransaction},
	}
}

func (c *call) getMempoolInfo() (json.RawMessage, error) {
	info, err := c.s.backend.MempoolInfo()
	if err != nil {
		return nil, err
	}
	return marshal(rpcjson.MempoolInfo{
		Loaded:        true,
		Size:          info.Count,
		Bytes:         info.Bytes,
		Usage:         info.Usage,
		TotalFee:      rpcjson.AmountFromUnits(info.TotalFee),
		MaxMempool:    info.MaxBytes,
		MempoolMinFee: feeRatePerKB(info.MinFeeRate),
		MinRelayTxFee: feeRatePerKB(info.RelayFeeRate),
	})
}

// senderKey identifies a pending transaction by sender and nonce.
type senderKey struct {
	from  chain.Address
	nonce uint64
}

// mempoolIndex finds a pending transaction's same-sender neighbours.
type mempoolIndex map[senderKey]chain.Hash

func newMempoolIndex(entries []MempoolEntry) mempoolIndex {
	idx := make(mempoolIndex, len(entries))
	for _, e := range entries {
		if e.Tx != nil && !e.Tx.IsCoinbase() {
			idx[senderKey{e.Tx.From(), e.Tx.Nonce}] = e.ID
		}
	}
	return idx
}

func (s *Server) mempoolEntry(e MempoolEntry, idx mempoolIndex) rpcjson.MempoolEntry {
	out := rpcjson.MempoolEntry{
		Size: e.Size, Weight: 4 * e.Size, Time: seconds(e.Time), Height: e.Height,
		Depends: []chain.Hash{}, SpentBy: []chain.Hash{}, Ready: e.Ready,
	}
	if tx := e.Tx; tx != nil {
		out.Fees.Base = rpcjson.AmountFromUnits(tx.Fee)
		out.Nonce = tx.Nonce
		from := tx.From()
		out.From = from.Encode(s.params)
		if tx.Nonce > 0 {
			if id, ok := idx[senderKey{from, tx.Nonce - 1}]; ok {
				out.Depends = append(out.Depends, id)
			}
		}
		if id, ok := idx[senderKey{from, tx.Nonce + 1}]; ok {
			out.SpentBy = append(out.SpentBy, id)
		}
	}
	return out
}

func (c *call) getRawMempool() (json.RawMessage, error) {
	verbose, err := c.boolean(0, false)
	if err != nil {
		return nil, err
	}
	seq, err := c.boolean(1, false)
	if err != nil {
		return nil, err
	}
	if seq {
		return nil, errorf(rpcjson.CodeInvalidParameter, "mempool_sequence is not supported")
	}
	entries, err := c.s.backend.MempoolEntries()
	if err != nil {
		return nil, err
	}
	if !verbose {
		ids := make([]chain.Hash, len(entries))
		for i, e := range entries {
			ids[i] = e.ID
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
		return marshal(ids)
	}
	idx := newMempoolIndex(entries)
	out := make(map[chain.Hash]rpcjson.MempoolEntry, len(entries))
	for _, e := range entries {
		out[e.ID] = c.s.mempoolEntry(e, idx)
	}
	return marshal(out)
}

func (c *call) getMempoolEntry() (json.RawMessage, error) {
	id, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	e, err := c.s.backend.MempoolEntry(id)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, errorf(rpcjson.CodeInvalidAddressOrKey, "Transaction not in mempool")
		}
		return nil, err
	}
	entries, err := c.s.backend.MempoolEntries()
	if err != nil {
		return nil, err
	}
	return marshal(c.s.mempoolEntry(e, newMempoolIndex(entries)))
}

// decodeTxArg decodes a hex transaction with Core's error code.
func decodeTxArg(s string) (*chain.Tx, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errorf(rpcjson.CodeDeserializationError, "TX decode failed: invalid hex")
	}
	tx, err := chain.DecodeTx(b)
	if err != nil {
		return nil, errorf(rpcjson.CodeDeserializationError, "TX decode failed: %s", err.Error())
	}
	return tx, nil
}

// feeTooHigh applies maxfeerate (base units per 1000 bytes; 0 = no
// limit): fee/size > max/1000, compared as fee*1000 > max*size in 128 bits.
func feeTooHigh(tx *chain.Tx, maxPerKB uint64) bool {
	if maxPerKB == 0 {
		return false
	}
	h1, l1 := bits.Mul64(tx.Fee, 1000)
	h2, l2 := bits.Mul64(maxPerKB, uint64(tx.SerializeSize()))
	return h1 > h2 || h1 == h2 && l1 > l2
}

func (c *call) sendRawTransaction() (json.RawMessage, error) {
	s, err := c.reqStr(0)
	if err != nil {
		return nil, err
	}
	tx, err := decodeTxArg(s)
	if err != nil {
		return nil, err
	}
	maxRate, err := c.amount(1, 0)
	if err != nil {
		return nil, err
	}
	id := tx.TxID()
	if tx.IsCoinbase() {
		return nil, errorf(rpcjson.CodeVerifyRejected, "coinbase")
	}
	if feeTooHigh(tx, maxRate) {
		return nil, errorf(rpcjson.CodeVerifyError, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)")
	}
	err = c.s.backend.SubmitTx(tx)
	var rej *RejectError
	switch {
	case err == nil, errors.Is(err, ErrAlreadyInMempool):
		return marshal(id)
	case errors.Is(err, ErrNotAvailable):
		return nil, err
	case errors.Is(err, ErrAlreadyInChain):
		return nil, errorf(rpcjson.CodeVerifyAlreadyInChain, "Transaction already in block chain")
	case errors.As(err, &rej), chain.KindOf(err) != "":
		return nil, errorf(rpcjson.CodeVerifyRejected, "%s", err.Error())
	}
	return nil, errorf(rpcjson.CodeVerifyError, "%s", err.Error())
}

func (c *call) testMempoolAccept() (json.RawMessage, error) {
	if !c.has(0) {
		return nil, c.missing(0)
	}
	raws, err := c.strings(0)
	if err != nil {
		return nil, err
	}
	if len(raws) < 1 || len(raws) > maxTestAccept {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Array must contain between 1 and %d transactions.", maxTestAccept)
	}
	maxRate, err := c.amount(1, 0)
	if err != nil {
		return nil, err
	}
	txs := make([]*chain.Tx, len(raws))
	for i, r := range raws {
		if txs[i], err = decodeTxArg(r); err != nil {
			return nil, err
		}
	}
	out := make([]rpcjson.TestAcceptResult, len(txs))
	for i, tx := range txs {
		id := tx.TxID()
		res := rpcjson.TestAcceptResult{TxID: id, Hash: id}
		var terr error
		switch {
		case tx.IsCoinbase():
			res.RejectReason = "coinbase"
		case feeTooHigh(tx, maxRate):
			res.RejectReason = "max-fee-exceeded"
		default:
			terr = c.s.backend.TestTx(tx)
		}
		var rej *RejectError
		switch {
		case res.RejectReason != "":
		case terr == nil:
			res.Allowed = true
			res.Size = tx.SerializeSize()
			res.Fees = &rpcjson.MempoolFees{Base: rpcjson.AmountFromUnits(tx.Fee)}
		case errors.Is(terr, ErrNotAvailable):
			return nil, terr
		case errors.Is(terr, ErrAlreadyInMempool):
			res.RejectReason = "txn-already-in-mempool"
		case errors.Is(terr, ErrAlreadyInChain):
			res.RejectReason = "txn-already-known"
		case errors.As(terr, &rej):
			res.RejectReason = rej.Reason
		case chain.KindOf(terr) != "":
			res.RejectReason = string(chain.KindOf(terr))
		default:
			res.RejectReason = terr.Error()
		}
		out[i] = res
	}
	return marshal(out)
}

func (c *call) getRawTransaction() (json.RawMessage, error) {
	id, err := c.hash(0)
	if err != nil {
		return nil, err
	}
	verbose, err := c.boolean(1, false)
	if err != nil {
		return nil, err
	}
	b := c.s.backend
	var (
		tx   *chain.Tx
		loc  *TxLocation
		meta BlockMeta
	)
	if c.has(2) {
		bh, err := c.hash(2)
		if err != nil {
			return nil, err
		}
		var ok bool
		if meta, ok = b.BlockMeta(bh); !ok {
			return nil, errorf(rpcjson.CodeInvalidAddressOrKey, "Block hash not found")
		}
		blk, err := b.Block(bh)
		if err != nil {
			if chain.KindOf(err) == chain.ErrCorruptData {
				return nil, corruptBlock(err)
			}
			return nil, errorf(rpcjson.CodeMiscError, "Block not available")
		}
		for _, t := range blk.Txs {
			if t.TxID() == id {
				tx, loc = t, &TxLocation{Block: bh, Height: meta.Height}
				break
			}
		}
		if tx == nil {
			return nil, errorf(rpcjson.CodeInvalidAddressOrKey, "No such transaction found in the provided block. Use gettransaction for wallet transactions.")
		}
	} else {
		e, merr := b.MempoolEntry(id)
		switch {
		case merr == nil && e.Tx != nil:
			tx = e.Tx
		case merr == nil, errors.Is(merr, ErrNotFound), errors.Is(merr, ErrNotAvailable):
			t, l, cerr := b.Transaction(id)
			if cerr != nil {
				if errors.Is(cerr, ErrNotFound) || chain.KindOf(cerr) == chain.ErrNotFound {
					return nil, errorf(rpcjson.CodeInvalidAddressOrKey, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.")
				}
				return nil, cerr
			}
			tx, loc = t, &l
			var ok bool
			if meta, ok = b.BlockMeta(l.Block); !ok {
				meta = BlockMeta{Hash: l.Block, Height: l.Height, InMainChain: true}
			}
		default:
			return nil, mapError(merr, subMempool)
		}
	}
	if !verbose {
		return marshal(hex.EncodeToString(tx.Bytes()))
	}
	v := c.s.txVerbose(tx)
	v.Hex = hex.EncodeToString(tx.Bytes())
	if loc != nil {
		bh, height := loc.Block, loc.Height
		v.BlockHash, v.BlockHeight = &bh, &height
		conf := int64(0)
		if tip := b.Tip().Height; meta.InMainChain && tip >= height {
			conf = int64(tip-height) + 1
		}
		v.Confirmations = &conf
		if meta.Header.Timestamp != 0 {
			t := meta.Header.Timestamp
			v.Time, v.BlockTime = &t, &t
		}
		if c.has(2) {
			in := meta.InMainChain
			v.InActiveChain = &in
		}
	}
	return marshal(v)
}

func (c *call) decodeRawTransaction() (json.RawMessage, error) {
	s, err := c.reqStr(0)
	if err != nil {
		return nil, err
	}
	tx, err := decodeTxArg(s)
	if err != nil {
		return nil, err
	}
	return marshal(c.s.txVerbose(tx))
}

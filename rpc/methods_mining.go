package rpc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/big"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// maxGenerateBlocks bounds one generatetoaddress call.
const maxGenerateBlocks = 10_000

func miningMethods() []*method {
	return []*method{
		{name: "getmininginfo", category: "Mining", sub: subChain,
			summary: "Returns a json object containing mining-related information. \"generate\", \"genproclimit\" and \"hashespersec\" describe the node's own miner.",
			result:  `{ "blocks", "bits", "difficulty", "target", "networkhashps", "pooledtx", "chain", "next": { "height", "bits", "difficulty", "target" }, "warnings", "generate", "genproclimit", "hashespersec" }`,
			run:     (*call).getMiningInfo},
		{name: "getnetworkhashps", category: "Mining", sub: subChain,
			args: []arg{{name: "nblocks", typ: "numeric", def: "120", desc: "The number of previous blocks to calculate estimate from, or -1 for the default (at most 100000)."},
				{name: "height", typ: "numeric", def: "-1", desc: "To estimate at the time of the given height."}},
			summary: "Returns the estimated network hashes per second based on the last n blocks: the chain work done between the earliest and latest block time in the window, divided by that time.",
			result:  `x    (numeric) Hashes per second estimated`,
			run:     (*call).getNetworkHashPS},
		{name: "getblocktemplate", category: "Mining", sub: subMining,
			args:    []arg{{name: "template_request", typ: "object", def: "{}", desc: `{"mode": "template" (the only mode), "coinbaseaddress": "address the coinbase pays (default: the node's miner address)"}`}},
			summary: "Returns a block template on the current tip for an external miner. coinb1 || extranonce (extranoncesize bytes) || coinb2 is the serialized coinbase; fold its txid (DoubleSHA256 of those bytes) with merklebranch (hashes in the usual byte-reversed hex, bottom first: root = SHA256d(root || branch[i]) over internal byte order) to get the merkle root; the header is version, previousblockhash, root, a time in [mintime, curtime + the network's future limit], bits and a nonce; the block is the header, the transaction count (CompactSize), the coinbase and each transaction's data. Submit it with submitblock.",
			result:  `{ "version", "previousblockhash", "transactions": [ { "data", "txid", "hash", "depends", "fee", "size" } ], "coinbasevalue", "coinbasetxn": { "data", "txid", "payee" }, "coinb1", "coinb2", "extranoncesize", "merklebranch", "target", "mintime", "mutable", "noncerange", "sizelimit", "curtime", "bits", "height" }`,
			run:     (*call).getBlockTemplate},
		{name: "submitblock", category: "Mining", sub: subChain,
			args: []arg{{name: "hexdata", typ: "string", required: true, desc: "the hex-encoded block data to submit"},
				{name: "dummy", typ: "string", desc: "dummy value, for compatibility with BIP22. This value is ignored."}},
			summary: "Attempts to submit new block to network. Returns null when the block extended the main chain, \"duplicate\" when it was already known, \"duplicate-invalid\" when it is known to be invalid, \"inconclusive\" when it was stored but is not (yet) on the main chain, or a BIP22 rejection reason (\"high-hash\", \"bad-txnmrklroot\", ..., \"rejected\").",
			result:  `null | "reason"`,
			run:     (*call).submitBlock},
		{name: "generatetoaddress", category: "Generating", sub: subMining,
			args: []arg{{name: "nblocks", typ: "numeric", required: true, desc: "How many blocks are generated (at most 10000)."},
				{name: "address", typ: "string", required: true, desc: "The address to send the newly generated coins to."},
				{name: "maxtries", typ: "numeric", def: "1000000", desc: "How many iterations to try."}},
			summary:  "Mine blocks immediately to a specified address (before the RPC call returns). Only on the dev and regtest networks.",
			result:   `[ "hex" ]    (json array) hashes of blocks generated`,
			examples: []string{`11 "qr1..."`},
			run:      (*call).generateToAddress},
		{name: "setgenerate", category: "Generating", sub: subMining,
			args: []arg{{name: "generate", typ: "boolean", required: true, desc: "Set to true to turn on generation, false to turn off."},
				{name: "genproclimit", typ: "numeric", def: "-1", desc: "Set the processor limit for when generation is on. Can be -1 for unlimited (one worker per core)."}},
			summary: "Set 'generate' true or false to turn the node's miner on or off.",
			result:  "null",
			run:     (*call).setGenerate},
		{name: "getgenerate", category: "Generating", sub: subMining,
			summary: "Return if the node's miner is set to generate coins or not.",
			result:  "true|false    (boolean)",
			run:     (*call).getGenerate},
	}
}

func (c *call) getMiningInfo() (json.RawMessage, error) {
	b := c.s.backend
	tip := b.Tip()
	hps, err := c.s.networkHashPS(120, -1)
	if err != nil {
		return nil, err
	}
	res := rpcjson.MiningInfo{
		Blocks:        tip.Height,
		Bits:          bitsHex(tip.Bits),
		Difficulty:    difficulty(tip.Bits),
		Target:        targetHex(tip.Bits),
		NetworkHashPS: hps,
		Chain:         c.s.params.Name,
		Next: rpcjson.NextBlockInfo{
			Height: tip.Height + 1, Bits: bitsHex(tip.NextBits),
			Difficulty: difficulty(tip.NextBits), Target: targetHex(tip.NextBits),
		},
	}
	if info, err := b.MempoolInfo(); err == nil {
		res.PooledTx = info.Count
	} else if !isUnavailable(err) {
		return nil, mapError(err, subMempool)
	}
	if st, err := b.MinerStatus(); err == nil {
		res.Generate, res.GenProcLimit, res.HashesPerSec = st.Running, st.Threads, st.HashesPerSec
	} else if !isUnavailable(err) {
		return nil, mapError(err, subMining)
	}
	return marshal(res)
}

func (c *call) getNetworkHashPS() (json.RawMessage, error) {
	n, err := c.integer(0, 120, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	h, err := c.integer(1, -1, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	hps, err := c.s.networkHashPS(n, h)
	if err != nil {
		return nil, err
	}
	return marshal(hps)
}

// networkHashPS is Core's GetNetworkHashPS: chain work over the window
// divided by the spread of block times in it. nblocks <= 0 selects 120
// (there is no retarget period with per-block ASERT).
func (s *Server) networkHashPS(nblocks, height int64) (float64, error) {
	b := s.backend
	tip := b.Tip()
	if height > int64(tip.Height) {
		return 0, errorf(rpcjson.CodeInvalidParameter, "Block does not exist at specified height")
	}
	endHash := tip.Hash
	if height >= 0 {
		h, ok := b.HashAtHeight(uint64(height))
		if !ok {
			return 0, errorf(rpcjson.CodeInvalidParameter, "Block does not exist at specified height")
		}
		endHash = h
	}
	end, ok := b.BlockMeta(endHash)
	if !ok || end.Height == 0 {
		return 0, nil
	}
	if nblocks <= 0 {
		nblocks = 120
	}
	nblocks = min(nblocks, int64(end.Height), maxTxStatsWindow)
	minT, maxT := end.Header.Timestamp, end.Header.Timestamp
	cur := end
	for i := int64(0); i < nblocks; i++ {
		prev, ok := b.BlockMeta(cur.Header.PrevBlock)
		if !ok {
			break
		}
		cur = prev
		minT, maxT = min(minT, cur.Header.Timestamp), max(maxT, cur.Header.Timestamp)
	}
	if minT == maxT || end.ChainWork == nil || cur.ChainWork == nil {
		return 0, nil
	}
	work := new(big.Float).SetInt(new(big.Int).Sub(end.ChainWork, cur.ChainWork))
	f, _ := work.Quo(work, big.NewFloat(float64(maxT-minT))).Float64()
	return f, nil
}

func (c *call) getBlockTemplate() (json.RawMessage, error) {
	var payTo *chain.Address
	if v := c.raw(0); v != nil {
		var req map[string]json.RawMessage
		if jsonKind(v) != '{' || json.Unmarshal(v, &req) != nil {
			return nil, typeErr(v, "object")
		}
		if m, ok := req["mode"]; ok && !isNull(m) {
			var mode string
			if json.Unmarshal(m, &mode) != nil || mode != "template" {
				return nil, errorf(rpcjson.CodeInvalidParameter, "Invalid mode")
			}
		}
		if a, ok := req["coinbaseaddress"]; ok && !isNull(a) {
			var s string
			if json.Unmarshal(a, &s) != nil {
				return nil, typeErr(a, "string")
			}
			addr, err := chain.DecodeAddress(s, c.s.params)
			if err != nil {
				return nil, errorf(rpcjson.CodeInvalidAddressOrKey, "Invalid coinbaseaddress: %s", err.Error())
			}
			payTo = &addr
		}
	}
	bt, err := c.s.backend.BlockTemplate(payTo)
	if err != nil {
		return nil, err
	}
	return marshal(c.s.templateResult(bt))
}

// templateResult formats a template (see getblocktemplate's help).
func (s *Server) templateResult(bt *BlockTemplate) rpcjson.BlockTemplate {
	cb := bt.Coinbase
	cb1, cb2 := cb.CoinbaseParts()
	cbID := cb.TxID()
	leaves := make([]chain.Hash, 0, 1+len(bt.Txs))
	leaves = append(leaves, cbID)
	txs := make([]rpcjson.TemplateTx, len(bt.Txs))
	lastOf := make(map[chain.Address][]int)
	for i, tx := range bt.Txs {
		id := tx.TxID()
		leaves = append(leaves, id)
		from := tx.From()
		deps := append([]int{}, lastOf[from]...)
		lastOf[from] = append(lastOf[from], i+1)
		txs[i] = rpcjson.TemplateTx{Data: hex.EncodeToString(tx.Bytes()), TxID: id, Hash: id, Depends: deps, Fee: tx.Fee, Size: tx.SerializeSize()}
	}
	branch := chain.MerkleBranch(leaves)
	if branch == nil {
		branch = []chain.Hash{}
	}
	return rpcjson.BlockTemplate{
		Version:           bt.Version,
		PreviousBlockHash: bt.PrevBlock,
		Transactions:      txs,
		CoinbaseValue:     cb.Amount,
		CoinbaseTxn:       rpcjson.TemplateCoinbase{Data: hex.EncodeToString(cb.Bytes()), TxID: cbID, Payee: cb.To.Encode(s.params)},
		Coinb1:            hex.EncodeToString(cb1),
		Coinb2:            hex.EncodeToString(cb2),
		ExtraNonceSize:    chain.ExtraNonceSize,
		MerkleBranch:      branch,
		Target:            targetHex(bt.Bits),
		MinTime:           bt.MinTime,
		Mutable:           []string{"time", "transactions", "prevblock"},
		NonceRange:        "00000000ffffffff",
		SizeLimit:         s.params.MaxBlockSize,
		CurTime:           bt.CurTime,
		Bits:              bitsHex(bt.Bits),
		Height:            bt.Height,
	}
}

func (c *call) submitBlock() (json.RawMessage, error) {
	s, err := c.reqStr(0)
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, errorf(rpcjson.CodeDeserializationError, "Block decode failed")
	}
	blk, err := chain.DecodeBlock(raw)
	if err != nil {
		return nil, errorf(rpcjson.CodeDeserializationError, "Block decode failed")
	}
	if len(blk.Txs) == 0 || !blk.Txs[0].IsCoinbase() {
		return nil, errorf(rpcjson.CodeDeserializationError, "Block does not start with a coinbase")
	}
	status, err := c.s.backend.SubmitBlock(blk)
	if err != nil {
		if k := chain.KindOf(err); k != "" && k != chain.ErrNotFound {
			return marshal(bip22Reason(k))
		}
		return nil, err
	}
	switch status {
	case SubmitConnected:
		return nullJSON, nil
	case SubmitDuplicate:
		return marshal("duplicate")
	}
	return marshal("inconclusive")
}

// bip22Reason maps a chain rule kind to Core's reject reason strings.
func bip22Reason(k chain.ErrorKind) string {
	switch k {
	case chain.ErrDuplicateBlock:
		return "duplicate"
	case chain.ErrKnownInvalid:
		return "duplicate-invalid"
	case chain.ErrHighHash:
		return "high-hash"
	case chain.ErrBadBits, chain.ErrUnexpectedBits:
		return "bad-diffbits"
	case chain.ErrTimeTooOld:
		return "time-too-old"
	case chain.ErrTimeTooNew:
		return "time-too-new"
	case chain.ErrBadVersion:
		return "bad-version"
	case chain.ErrCheckpoint:
		return "bad-genesis"
	case chain.ErrUnknownParent:
		return "prev-blk-not-found"
	case chain.ErrInvalidAncestor:
		return "bad-prevblk"
	case chain.ErrNoTransactions, chain.ErrBlockTooBig:
		return "bad-blk-length"
	case chain.ErrFirstNotCoinbase:
		return "bad-cb-missing"
	case chain.ErrMultipleCoinbases, chain.ErrUnexpectedCoinb:
		return "bad-cb-multiple"
	case chain.ErrBadCoinbaseHeight:
		return "bad-cb-height"
	case chain.ErrBadCoinbaseValue:
		return "bad-cb-amount"
	case chain.ErrDuplicateTx, chain.ErrMutatedMerkle:
		return "bad-txns-duplicate"
	case chain.ErrBadMerkleRoot:
		return "bad-txnmrklroot"
	case chain.ErrMalformed:
		return "bad-blk-encoding"
	case chain.ErrWrongChainID:
		return "bad-txns-chain-id"
	case chain.ErrBadSignature, chain.ErrHighS, chain.ErrBadPubKey:
		return "bad-txns-signature"
	case chain.ErrBadNonce:
		return "bad-txns-nonce"
	case chain.ErrInsufficientBal:
		return "bad-txns-insufficient-funds"
	case chain.ErrAmountOverflow:
		return "bad-txns-amount-overflow"
	case chain.ErrZeroAmount:
		return "bad-txns-zero-amount"
	case chain.ErrMemoTooLong:
		return "bad-txns-memo-too-long"
	case chain.ErrTxTooBig:
		return "bad-txns-oversize"
	case chain.ErrSelfTransfer:
		return "bad-txns-self-transfer"
	}
	return "rejected"
}

func (c *call) generateToAddress() (json.RawMessage, error) {
	if n := c.s.params.Name; n != "regtest" && n != "dev" {
		return nil, errorf(rpcjson.CodeMethodNotFound, "Method not found (generatetoaddress is available only on the dev and regtest networks)")
	}
	n, err := c.reqInteger(0, 0, maxGenerateBlocks)
	if err != nil {
		return nil, err
	}
	s, err := c.reqStr(1)
	if err != nil {
		return nil, err
	}
	addr, err := chain.DecodeAddress(s, c.s.params)
	if err != nil {
		return nil, errorf(rpcjson.CodeInvalidAddressOrKey, "Error: Invalid address")
	}
	tries, err := c.integer(2, 1_000_000, 1, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if c.liftWriteDeadline != nil {
		c.liftWriteDeadline()
	}
	hashes, err := c.s.backend.GenerateToAddress(c.ctx, int(n), addr, uint64(tries))
	if err != nil && !(errors.Is(err, c.ctx.Err()) && c.ctx.Err() != nil) {
		return nil, err
	}
	if hashes == nil {
		hashes = []chain.Hash{}
	}
	return marshal(hashes)
}

func (c *call) setGenerate() (json.RawMessage, error) {
	if !c.has(0) {
		return nil, c.missing(0)
	}
	on, err := c.boolean(0, false)
	if err != nil {
		return nil, err
	}
	limit, err := c.integer(1, -1, -1, 1024)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		on = false // Core: genproclimit 0 turns generation off
	}
	if err := c.s.backend.SetGenerate(on, int(max(limit, 0))); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

func (c *call) getGenerate() (json.RawMessage, error) {
	st, err := c.s.backend.MinerStatus()
	if err != nil {
		return nil, err
	}
	return marshal(st.Running)
}

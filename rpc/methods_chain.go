package rpc

import (
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// maxTxStatsWindow bounds getchaintxstats' walk over the block index.
const maxTxStatsWindow = 100_000

func chainMethods() []*method {
	const cat = "Blockchain"
	blockhashArg := arg{name: "blockhash", typ: "string", required: true, desc: "The block hash"}
	return []*method{
		{name: "getbestblockhash", category: cat, sub: subChain,
			summary: "Returns the hash of the best (tip) block in the most-work fully-validated chain.",
			result:  `"hex"    (string) the block hash, hex-encoded`,
			run:     (*call).getBestBlockHash},
		{name: "getblock", category: cat, sub: subChain,
			args: []arg{blockhashArg,
				{name: "verbosity", typ: "numeric", def: "1", desc: "0 for hex-encoded data, 1 for a JSON object, 2 for a JSON object with decoded transactions"}},
			summary: "Returns block data. Verbosity 0: the serialized block as hex. Verbosity 1: a JSON object with the header fields, size and transaction ids. Verbosity 2: like 1 with every transaction decoded.",
			result: `{ "hash", "confirmations" (-1 off the main chain), "height", "version", "versionHex", "merkleroot",
  "time", "mediantime", "nonce", "bits", "target", "difficulty", "chainwork", "nTx",
  "previousblockhash", "nextblockhash", "size", "tx": [ txid | decoded transaction ] }`,
			examples: []string{`"00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09"`, `"00000000c937983704a73af28acdec37b049d214adbda81d7e2a3dd146f6ed09" 2`},
			run:      (*call).getBlock},
		{name: "getblockchaininfo", category: cat, sub: subChain,
			summary: "Returns an object containing various state info regarding blockchain processing. \"headers\" equals \"blocks\" (blocks are fetched with their headers); \"initialblockdownload\" is true while the tip is older than the node's maximum tip age; \"statedigest\" and \"orphans\" are Quarry extensions.",
			result:  `{ "chain", "blocks", "headers", "bestblockhash", "bits", "target", "difficulty", "time", "mediantime", "verificationprogress", "initialblockdownload", "chainwork", "pruned", "statedigest", "orphans", "warnings" }`,
			run:     (*call).getBlockchainInfo},
		{name: "getblockcount", category: cat, sub: subChain,
			summary: "Returns the height of the most-work fully-validated chain. The genesis block has height 0.",
			result:  `n    (numeric) The current block count`,
			run:     (*call).getBlockCount},
		{name: "getblockhash", category: cat, sub: subChain,
			args:     []arg{{name: "height", typ: "numeric", required: true, desc: "The height index"}},
			summary:  "Returns hash of block in best-block-chain at height provided.",
			result:   `"hex"    (string) The block hash`,
			examples: []string{"1000"},
			run:      (*call).getBlockHash},
		{name: "getblockheader", category: cat, sub: subChain,
			args: []arg{blockhashArg,
				{name: "verbose", typ: "boolean", def: "true", desc: "true for a JSON object, false for the hex-encoded 80-byte header"}},
			summary: "If verbose is false, returns a string that is serialized, hex-encoded data for blockheader 'hash'. If verbose is true, returns an Object with information about blockheader 'hash'.",
			result:  `{ "hash", "confirmations", "height", "version", "versionHex", "merkleroot", "time", "mediantime", "nonce", "bits", "target", "difficulty", "chainwork", "nTx", "previousblockhash", "nextblockhash" }`,
			run:     (*call).getBlockHeader},
		{name: "getchaintips", category: cat, sub: subChain,
			summary: "Return information about all known tips in the block tree, including the main chain as well as orphaned branches.",
			result:  `[ { "height", "hash", "branchlen" (0 for the main chain), "status" ("active", "valid-fork", "valid-headers", "headers-only" or "invalid") } ]`,
			run:     (*call).getChainTips},
		{name: "getchaintxstats", category: cat, sub: subChain,
			args: []arg{{name: "nblocks", typ: "numeric", def: "one month", desc: "Size of the window in number of blocks (at most 100000)"},
				{name: "blockhash", typ: "string", def: "chain tip", desc: "The hash of the block that ends the window"}},
			summary: "Compute statistics about the total number and rate of transactions in the chain. \"txcount\" counts every transaction, coinbases included, up to the window's final block.",
			result:  `{ "time", "txcount", "window_final_block_hash", "window_final_block_height", "window_block_count", "window_tx_count", "window_interval", "txrate" }`,
			run:     (*call).getChainTxStats},
		{name: "getdifficulty", category: cat, sub: subChain,
			summary: "Returns the proof-of-work difficulty as a multiple of the minimum difficulty of Bitcoin (target of bits 0x1d00ffff), as Bitcoin Core reports it.",
			result:  `n.nnn    (numeric)`,
			run:     (*call).getDifficulty},
		{name: "getaccount", category: cat, sub: subChain,
			args:    []arg{{name: "address", typ: "string", required: true, desc: "The account address"}},
			summary: "Returns the confirmed balance and next nonce of an account at the tip, and its pending view including the mempool (the nonce a new transaction must use).",
			result:  `{ "address", "balance", "nonce", "pending": { "nonce", "txcount", "balance" }, "height", "bestblockhash" }`,
			run:     (*call).getAccount},
		{name: "getstateinfo", category: cat, sub: subChain,
			summary: "Returns the tip and the digest of the account state after it.",
			result:  `{ "bestblockhash", "height", "statedigest", "chainwork", "time", "mediantime", "nextbits" }`,
			run:     (*call).getStateInfo},
		{name: "invalidateblock", category: cat, sub: subChain,
			args:    []arg{{name: "blockhash", typ: "string", required: true, desc: "the hash of the block to mark as invalid"}},
			summary: "Permanently marks a block as invalid, as if it violated a consensus rule.",
			result:  "null",
			run:     (*call).invalidateBlock},
		{name: "reconsiderblock", category: cat, sub: subChain,
			args:    []arg{{name: "blockhash", typ: "string", required: true, desc: "the hash of the block to reconsider"}},
			summary: "Removes invalidity status of a block, its ancestors and its descendants, reconsider them for activation.",
			result:  "null",
			run:     (*call).reconsiderBlock},
		{name: "waitfornewblock", category: cat, sub: subChain,
			args: []arg{{name: "timeout", typ: "numeric", def: "0", desc: "Time in milliseconds to wait for a response. 0 indicates no timeout."},
				{name: "current_tip", typ: "string", desc: "Method waits for the chain tip to differ from this."}},
			summary: "Waits for any new block and returns useful info about it. Returns the current block on timeout, on shutdown or if the client goes away.",
			result:  `{ "hash", "height" }`,
			run:     (*call).waitForNewBlock},
	}
}

func (c *call) getBestBlockHash() (json.RawMessage, error) {
	return marshal(c.s.backend.Tip().Hash)
}

func (c *call) getBlockCount() (json.RawMessage, error) {
	return marshal(c.s.backend.Tip().Height)
}

func (c *call) getBlockHash() (json.RawMessage, error) {
	h, err := c.reqInteger(0, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if h < 0 || uint64(h) > c.s.backend.Tip().Height {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Block height out of range")
	}
	hash, ok := c.s.backend.HashAtHeight(uint64(h))
	if !ok {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Block height out of range")
	}
	return marshal(hash)
}

// blockMeta looks up a block parameter: -5 "Block not found" if unknown.
func (c *call) blockMeta(i int) (BlockMeta, error) {
	h, err := c.hash(i)
	if err != nil {
		return BlockMeta{}, err
	}
	m, ok := c.s.backend.BlockMeta(h)
	if !ok {
		return BlockMeta{}, errorf(rpcjson.CodeInvalidAddressOrKey, "Block not found")
	}
	return m, nil
}

func (c *call) getBlock() (json.RawMessage, error) {
	meta, err := c.blockMeta(0)
	if err != nil {
		return nil, err
	}
	verbosity := int64(1)
	if v := c.raw(1); v != nil {
		switch jsonKind(v) {
		case 't':
			verbosity = 1
		case 'f':
			verbosity = 0
		default:
			if verbosity, err = c.integer(1, 1, math.MinInt64, math.MaxInt64); err != nil {
				return nil, err
			}
		}
	}
	if verbosity < 0 || verbosity > 2 {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Invalid verbosity %d (want 0, 1 or 2)", verbosity)
	}
	blk, err := c.s.backend.Block(meta.Hash)
	if err != nil {
		if chain.KindOf(err) == chain.ErrCorruptData {
			return nil, corruptBlock(err)
		}
		return nil, errorf(rpcjson.CodeMiscError, "Block not found on disk")
	}
	if verbosity == 0 {
		return marshal(hex.EncodeToString(blk.Bytes()))
	}
	hv := c.s.headerVerbose(meta, c.s.backend.Tip().Height)
	hv.NTx = len(blk.Txs)
	size := blk.SerializeSize()
	if verbosity == 1 {
		return marshal(rpcjson.BlockVerbose{BlockHeaderVerbose: hv, Size: size, Tx: blk.TxIDs()})
	}
	txs := make([]rpcjson.TxVerbose, len(blk.Txs))
	for i, tx := range blk.Txs {
		txs[i] = c.s.txVerbose(tx)
	}
	return marshal(rpcjson.BlockVerboseTx{BlockHeaderVerbose: hv, Size: size, Tx: txs})
}

func (c *call) getBlockHeader() (json.RawMessage, error) {
	meta, err := c.blockMeta(0)
	if err != nil {
		return nil, err
	}
	verbose, err := c.boolean(1, true)
	if err != nil {
		return nil, err
	}
	if !verbose {
		b := meta.Header.Bytes()
		return marshal(hex.EncodeToString(b[:]))
	}
	return marshal(c.s.headerVerbose(meta, c.s.backend.Tip().Height))
}

func (c *call) getBlockchainInfo() (json.RawMessage, error) {
	tip := c.s.backend.Tip()
	now := c.s.cfg.Now()
	ibd := now.Sub(time.Unix(int64(tip.Time), 0)) > c.s.cfg.MaxTipAge
	return marshal(rpcjson.BlockchainInfo{
		Chain:                c.s.params.Name,
		Blocks:               tip.Height,
		Headers:              tip.Height,
		BestBlockHash:        tip.Hash,
		Bits:                 bitsHex(tip.Bits),
		Target:               targetHex(tip.Bits),
		Difficulty:           difficulty(tip.Bits),
		Time:                 tip.Time,
		MedianTime:           tip.MedianTime,
		VerificationProgress: 1,
		InitialBlockDownload: ibd,
		ChainWork:            workHex(tip.ChainWork),
		StateDigest:          tip.StateDigest,
		Orphans:              c.s.backend.OrphanCount(),
	})
}

func (c *call) getChainTips() (json.RawMessage, error) {
	tips := c.s.backend.ChainTips()
	out := make([]rpcjson.ChainTip, len(tips))
	for i, t := range tips {
		out[i] = rpcjson.ChainTip{Height: t.Height, Hash: t.Hash, BranchLen: t.BranchLen, Status: t.Status}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Height != out[j].Height {
			return out[i].Height > out[j].Height
		}
		return out[i].Hash.String() < out[j].Hash.String()
	})
	return marshal(out)
}

func (c *call) getDifficulty() (json.RawMessage, error) {
	return marshal(difficulty(c.s.backend.Tip().Bits))
}

func (c *call) getChainTxStats() (json.RawMessage, error) {
	b := c.s.backend
	end, ok := b.BlockMeta(b.Tip().Hash)
	if c.has(1) {
		m, err := c.blockMeta(1)
		if err != nil {
			return nil, err
		}
		if !m.InMainChain {
			return nil, errorf(rpcjson.CodeInvalidParameter, "Block is not in main chain")
		}
		end, ok = m, true
	}
	if !ok {
		return nil, errorf(rpcjson.CodeMiscError, "tip not found in the block index")
	}
	var n int64
	if c.has(0) {
		var err error
		if n, err = c.integer(0, 0, math.MinInt64, math.MaxInt64); err != nil {
			return nil, err
		}
		if n < 0 || (n > 0 && uint64(n) >= end.Height) {
			return nil, errorf(rpcjson.CodeInvalidParameter, "Invalid block count: should be between 0 and the block's height - 1")
		}
		if n > maxTxStatsWindow {
			return nil, errorf(rpcjson.CodeInvalidParameter, "Invalid block count: at most %d blocks", maxTxStatsWindow)
		}
	} else {
		month := int64(30 * 24 * time.Hour / c.s.params.TargetSpacing)
		n = min(month, int64(end.Height)-1, maxTxStatsWindow)
		n = max(n, 0)
	}
	res := rpcjson.ChainTxStats{
		Time:                   end.Header.Timestamp,
		TxCount:                end.ChainTxCount,
		WindowFinalBlockHash:   end.Hash,
		WindowFinalBlockHeight: end.Height,
		WindowBlockCount:       uint64(n),
	}
	if n > 0 {
		var txs uint64
		cur := end
		for i := int64(0); i < n; i++ {
			txs += uint64(cur.TxCount)
			prev, ok := b.BlockMeta(cur.Header.PrevBlock)
			if !ok {
				return nil, errorf(rpcjson.CodeMiscError, "block index incomplete below height %d", cur.Height)
			}
			cur = prev
		}
		interval := end.MedianTime - cur.MedianTime
		res.WindowTxCount, res.WindowInterval = &txs, &interval
		if interval > 0 {
			rate := float64(txs) / float64(interval)
			res.TxRate = &rate
		}
	}
	return marshal(res)
}

func (c *call) getAccount() (json.RawMessage, error) {
	addr, err := c.address(0)
	if err != nil {
		return nil, err
	}
	b := c.s.backend
	tip := b.Tip()
	acct := b.Account(addr)
	res := rpcjson.AccountInfo{
		Address: addr.Encode(c.s.params),
		Balance: rpcjson.AmountFromUnits(acct.Balance),
		Nonce:   acct.Nonce,
		Pending: rpcjson.PendingAccount{Nonce: acct.Nonce, Balance: rpcjson.AmountFromUnits(acct.Balance)},
		Height:  tip.Height,
		Tip:     tip.Hash,
	}
	p, err := b.PendingAccount(addr)
	switch {
	case err == nil:
		left := uint64(0)
		if acct.Balance > p.Spend {
			left = acct.Balance - p.Spend
		}
		res.Pending = rpcjson.PendingAccount{Nonce: max(p.Nonce, acct.Nonce), TxCount: p.Count, Balance: rpcjson.AmountFromUnits(left)}
	case isUnavailable(err):
		// No mempool: the pending view is the confirmed one.
	default:
		return nil, mapError(err, subMempool)
	}
	return marshal(res)
}

func (c *call) getStateInfo() (json.RawMessage, error) {
	tip := c.s.backend.Tip()
	return marshal(rpcjson.StateInfo{
		BestBlockHash: tip.Hash,
		Height:        tip.Height,
		StateDigest:   tip.StateDigest,
		ChainWork:     workHex(tip.ChainWork),
		Time:          tip.Time,
		MedianTime:    tip.MedianTime,
		NextBits:      bitsHex(tip.NextBits),
	})
}

func (c *call) invalidateBlock() (json.RawMessage, error) {
	m, err := c.blockMeta(0)
	if err != nil {
		return nil, err
	}
	if err := c.s.backend.InvalidateBlock(m.Hash); err != nil {
		return nil, errorf(rpcjson.CodeDatabaseError, "%s", err.Error())
	}
	return nullJSON, nil
}

func (c *call) reconsiderBlock() (json.RawMessage, error) {
	m, err := c.blockMeta(0)
	if err != nil {
		return nil, err
	}
	if err := c.s.backend.ReconsiderBlock(m.Hash); err != nil {
		return nil, errorf(rpcjson.CodeDatabaseError, "%s", err.Error())
	}
	return nullJSON, nil
}

// waitForNewBlock waits for the tip to change (Core's waitfornewblock).
func (c *call) waitForNewBlock() (json.RawMessage, error) {
	ms, err := c.integer(0, 0, math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	if ms < 0 {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Negative timeout")
	}
	b := c.s.backend
	start := b.Tip().Hash
	if c.has(1) {
		if start, err = c.hash(1); err != nil {
			return nil, err
		}
	}
	const maxWaitMs = int64(1e12) // keeps the Duration from overflowing
	d := time.Duration(min(ms, maxWaitMs)) * time.Millisecond
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	if c.liftWriteDeadline != nil && (d == 0 || d >= c.s.cfg.WriteTimeout/2) {
		c.liftWriteDeadline()
	}
	for {
		wake := c.s.hub.tipWaiter() // taken before reading the tip: no lost wakeup
		tip := b.Tip()
		if tip.Hash != start {
			return marshal(rpcjson.BlockRef{Hash: tip.Hash, Height: tip.Height})
		}
		select {
		case <-wake: // a nil channel (no event source) never fires
			continue
		case <-timeout:
		case <-c.ctx.Done():
		}
		tip = b.Tip()
		return marshal(rpcjson.BlockRef{Hash: tip.Hash, Height: tip.Height})
	}
}

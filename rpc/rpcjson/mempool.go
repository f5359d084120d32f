package rpcjson

import "github.com/quarrychain/quarry/chain"

// MempoolInfo is the result of getmempoolinfo. Fee rates are in coins per
// 1000 bytes, as in Core (the pool's own unit is base units per byte).
type MempoolInfo struct {
	Loaded        bool   `json:"loaded"`
	Size          int    `json:"size"`
	Bytes         int    `json:"bytes"`
	Usage         int    `json:"usage"`
	TotalFee      Amount `json:"total_fee"`
	MaxMempool    int    `json:"maxmempool"`
	MempoolMinFee Amount `json:"mempoolminfee"`
	MinRelayTxFee Amount `json:"minrelaytxfee"`
}

// MempoolEntry is the result of getmempoolentry and the value type of
// getrawmempool's verbose map. Depends holds the pending transaction of the
// same sender with the previous nonce, SpentBy the one with the next nonce
// (the account-model analogue of Core's parent and child transactions).
type MempoolEntry struct {
	Size    int          `json:"vsize"`
	Weight  int          `json:"weight"`
	Time    int64        `json:"time"`
	Height  uint64       `json:"height"`
	Fees    MempoolFees  `json:"fees"`
	From    string       `json:"from"`
	Nonce   uint64       `json:"nonce"`
	Depends []chain.Hash `json:"depends"`
	SpentBy []chain.Hash `json:"spentby"`
	// Ready is false for a transaction held back by a nonce gap.
	Ready bool `json:"ready"`
}

// MempoolFees are the fees of a mempool entry, in coins.
type MempoolFees struct {
	Base Amount `json:"base"`
}

// TestAcceptResult is one element of testmempoolaccept's result.
type TestAcceptResult struct {
	TxID         chain.Hash   `json:"txid"`
	Hash         chain.Hash   `json:"wtxid"`
	Allowed      bool         `json:"allowed"`
	Size         int          `json:"vsize,omitempty"`
	Fees         *MempoolFees `json:"fees,omitempty"`
	RejectReason string       `json:"reject-reason,omitempty"`
}

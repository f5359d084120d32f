package rpcjson

import "github.com/quarrychain/quarry/chain"

// BlockchainInfo is the result of getblockchaininfo.
type BlockchainInfo struct {
	Chain                string     `json:"chain"`
	Blocks               uint64     `json:"blocks"`
	Headers              uint64     `json:"headers"`
	BestBlockHash        chain.Hash `json:"bestblockhash"`
	Bits                 string     `json:"bits"`
	Target               string     `json:"target"`
	Difficulty           float64    `json:"difficulty"`
	Time                 uint32     `json:"time"`
	MedianTime           int64      `json:"mediantime"`
	VerificationProgress float64    `json:"verificationprogress"`
	InitialBlockDownload bool       `json:"initialblockdownload"`
	ChainWork            string     `json:"chainwork"`
	Pruned               bool       `json:"pruned"`
	// Quarry extensions.
	StateDigest chain.Hash `json:"statedigest"`
	Orphans     int        `json:"orphans"`
	Warnings    string     `json:"warnings"`
}

// BlockHeaderVerbose is the result of getblockheader with verbose=true and
// the common part of getblock's verbose results.
type BlockHeaderVerbose struct {
	Hash              chain.Hash  `json:"hash"`
	Confirmations     int64       `json:"confirmations"`
	Height            uint64      `json:"height"`
	Version           uint32      `json:"version"`
	VersionHex        string      `json:"versionHex"`
	MerkleRoot        chain.Hash  `json:"merkleroot"`
	Time              uint32      `json:"time"`
	MedianTime        int64       `json:"mediantime"`
	Nonce             uint32      `json:"nonce"`
	Bits              string      `json:"bits"`
	Target            string      `json:"target"`
	Difficulty        float64     `json:"difficulty"`
	ChainWork         string      `json:"chainwork"`
	NTx               int         `json:"nTx"`
	PreviousBlockHash *chain.Hash `json:"previousblockhash,omitempty"`
	NextBlockHash     *chain.Hash `json:"nextblockhash,omitempty"`
}

// BlockVerbose is the result of getblock with verbosity 1: the header fields,
// the serialized size and the transaction ids.
type BlockVerbose struct {
	BlockHeaderVerbose
	Size int          `json:"size"`
	Tx   []chain.Hash `json:"tx"`
}

// BlockVerboseTx is the result of getblock with verbosity 2: like
// BlockVerbose with decoded transactions.
type BlockVerboseTx struct {
	BlockHeaderVerbose
	Size int         `json:"size"`
	Tx   []TxVerbose `json:"tx"`
}

// TxVerbose is a decoded transaction: the result of decoderawtransaction,
// of getrawtransaction with verbose=true (which adds Hex and, for a
// confirmed transaction, the block fields) and the elements of getblock's
// verbosity-2 "tx" array.
type TxVerbose struct {
	InActiveChain *bool      `json:"in_active_chain,omitempty"`
	Hex           string     `json:"hex,omitempty"`
	TxID          chain.Hash `json:"txid"`
	// Hash equals TxID (there is no witness data); kept for Core clients.
	Hash    chain.Hash `json:"hash"`
	Size    int        `json:"size"`
	Kind    string     `json:"kind"` // "coinbase" or "transfer"
	ChainID uint32     `json:"chainid"`
	// Height is set for a coinbase, Nonce and From for a transfer.
	Height     *uint64 `json:"height,omitempty"`
	Nonce      *uint64 `json:"nonce,omitempty"`
	From       string  `json:"from,omitempty"`
	To         string  `json:"to"`
	Amount     Amount  `json:"amount"`
	Fee        *Amount `json:"fee,omitempty"`
	ExtraNonce string  `json:"extranonce,omitempty"` // coinbase, hex
	Memo       string  `json:"memo,omitempty"`       // hex
	// MemoText is the memo as text when it is valid UTF-8.
	MemoText  string `json:"memotext,omitempty"`
	PubKey    string `json:"pubkey,omitempty"`
	Signature string `json:"signature,omitempty"`

	BlockHash     *chain.Hash `json:"blockhash,omitempty"`
	BlockHeight   *uint64     `json:"blockheight,omitempty"`
	Confirmations *int64      `json:"confirmations,omitempty"`
	Time          *uint32     `json:"time,omitempty"`
	BlockTime     *uint32     `json:"blocktime,omitempty"`
}

// ChainTip is one element of getchaintips.
type ChainTip struct {
	Height    uint64     `json:"height"`
	Hash      chain.Hash `json:"hash"`
	BranchLen uint64     `json:"branchlen"`
	Status    string     `json:"status"`
}

// ChainTxStats is the result of getchaintxstats. TxCount counts every
// transaction (coinbases included) from genesis up to and including the
// window's final block.
type ChainTxStats struct {
	Time                   uint32     `json:"time"`
	TxCount                uint64     `json:"txcount"`
	WindowFinalBlockHash   chain.Hash `json:"window_final_block_hash"`
	WindowFinalBlockHeight uint64     `json:"window_final_block_height"`
	WindowBlockCount       uint64     `json:"window_block_count"`
	WindowTxCount          *uint64    `json:"window_tx_count,omitempty"`
	WindowInterval         *int64     `json:"window_interval,omitempty"`
	TxRate                 *float64   `json:"txrate,omitempty"`
}

// BlockRef is a block hash and height: the result of waitfornewblock.
type BlockRef struct {
	Hash   chain.Hash `json:"hash"`
	Height uint64     `json:"height"`
}

// StateInfo is the result of getstateinfo: the tip and the digest of the
// account state after it.
type StateInfo struct {
	BestBlockHash chain.Hash `json:"bestblockhash"`
	Height        uint64     `json:"height"`
	StateDigest   chain.Hash `json:"statedigest"`
	ChainWork     string     `json:"chainwork"`
	Time          uint32     `json:"time"`
	MedianTime    int64      `json:"mediantime"`
	NextBits      string     `json:"nextbits"`
}

// AccountInfo is the result of getaccount. Balance and Nonce are the
// confirmed state at the tip (Nonce is the next nonce the chain expects);
// Pending adds the sender's transactions waiting in the mempool.
type AccountInfo struct {
	Address string         `json:"address"`
	Balance Amount         `json:"balance"`
	Nonce   uint64         `json:"nonce"`
	Pending PendingAccount `json:"pending"`
	Height  uint64         `json:"height"`
	Tip     chain.Hash     `json:"bestblockhash"`
}

// PendingAccount is the mempool's view of an account: the nonce the next
// new transaction must use, how many transactions are pending, and the
// balance left after all of them (amount plus fee) confirm.
type PendingAccount struct {
	Nonce   uint64 `json:"nonce"`
	TxCount int    `json:"txcount"`
	Balance Amount `json:"balance"`
}

// ValidateAddress is the result of validateaddress.
type ValidateAddress struct {
	IsValid bool   `json:"isvalid"`
	Address string `json:"address,omitempty"`
	// Hex is the 20-byte account id.
	Hex   string `json:"hex,omitempty"`
	Error string `json:"error,omitempty"`
}

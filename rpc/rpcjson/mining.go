package rpcjson

import "github.com/quarrychain/quarry/chain"

// MiningInfo is the result of getmininginfo.
type MiningInfo struct {
	Blocks        uint64        `json:"blocks"`
	Bits          string        `json:"bits"`
	Difficulty    float64       `json:"difficulty"`
	Target        string        `json:"target"`
	NetworkHashPS float64       `json:"networkhashps"`
	PooledTx      int           `json:"pooledtx"`
	Chain         string        `json:"chain"`
	Next          NextBlockInfo `json:"next"`
	Warnings      string        `json:"warnings"`
	// Quarry extensions: the local miner.
	Generate     bool    `json:"generate"`
	GenProcLimit int     `json:"genproclimit"`
	HashesPerSec float64 `json:"hashespersec"`
}

// NextBlockInfo describes the block that would extend the tip.
type NextBlockInfo struct {
	Height     uint64  `json:"height"`
	Bits       string  `json:"bits"`
	Difficulty float64 `json:"difficulty"`
	Target     string  `json:"target"`
}

// BlockTemplate is the result of getblocktemplate: everything an external
// miner needs to build, hash and submit a block. See package rpc's doc for
// the construction; in short:
//
//	coinbase  = coinb1 || extranonce (ExtraNonceSize bytes) || coinb2
//	root      = chain.MerkleRootFromBranch(DoubleSHA256(coinbase), MerkleBranch)
//	header    = Version, PreviousBlockHash, root, a time in [MinTime, now+limit], Bits, nonce
//	block     = header || CompactSize(1+len(Transactions)) || coinbase || Transactions[i].Data...
//
// and the block is valid when its hash is at most Target.
type BlockTemplate struct {
	Version           uint32           `json:"version"`
	PreviousBlockHash chain.Hash       `json:"previousblockhash"`
	Transactions      []TemplateTx     `json:"transactions"`
	CoinbaseValue     uint64           `json:"coinbasevalue"`
	CoinbaseTxn       TemplateCoinbase `json:"coinbasetxn"`
	Coinb1            string           `json:"coinb1"`
	Coinb2            string           `json:"coinb2"`
	ExtraNonceSize    int              `json:"extranoncesize"`
	MerkleBranch      []chain.Hash     `json:"merklebranch"`
	Target            string           `json:"target"`
	MinTime           int64            `json:"mintime"`
	Mutable           []string         `json:"mutable"`
	NonceRange        string           `json:"noncerange"`
	SizeLimit         int              `json:"sizelimit"`
	CurTime           uint32           `json:"curtime"`
	Bits              string           `json:"bits"`
	Height            uint64           `json:"height"`
}

// TemplateTx is a non-coinbase transaction of a block template. Fee is in
// base units, as Core's getblocktemplate reports satoshis. Depends lists
// 1-based indexes (into Transactions) of earlier transactions from the same
// sender, which must precede this one.
type TemplateTx struct {
	Data    string     `json:"data"`
	TxID    chain.Hash `json:"txid"`
	Hash    chain.Hash `json:"hash"`
	Depends []int      `json:"depends"`
	Fee     uint64     `json:"fee"`
	Size    int        `json:"size"`
}

// TemplateCoinbase is the template's coinbase with an all-zero extra-nonce.
type TemplateCoinbase struct {
	Data string     `json:"data"`
	TxID chain.Hash `json:"txid"`
	// Payee is the address the coinbase pays.
	Payee string `json:"payee"`
}

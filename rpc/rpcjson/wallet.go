package rpcjson

import "github.com/quarrychain/quarry/chain"

// WalletTx is one element of listtransactions. Amount is negative for a
// send; Fee (negative, as in Core) is set only for sends.
type WalletTx struct {
	Address       string      `json:"address"`
	Category      string      `json:"category"` // "send", "receive", "generate" or "immature"
	Amount        Amount      `json:"amount"`
	Fee           *Amount     `json:"fee,omitempty"`
	Confirmations int64       `json:"confirmations"`
	BlockHash     *chain.Hash `json:"blockhash,omitempty"`
	BlockHeight   *uint64     `json:"blockheight,omitempty"`
	TxID          chain.Hash  `json:"txid"`
	Time          int64       `json:"time"`
	Nonce         *uint64     `json:"nonce,omitempty"`
	Comment       string      `json:"comment,omitempty"`
}

package rpc

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

func walletMethods() []*method {
	const cat = "Wallet"
	return []*method{
		{name: "getnewaddress", category: cat, sub: subWallet,
			args: []arg{{name: "label", typ: "string", def: `""`, desc: "The label name for the address to be linked to."},
				{name: "address_type", typ: "string", desc: "Ignored: Quarry has one address type (bech32m)."}},
			summary: "Returns a new address for receiving payments.",
			result:  `"str"    (string) The new address`,
			run:     (*call).getNewAddress},
		{name: "getbalance", category: cat, sub: subWallet,
			args: []arg{{name: "dummy", typ: "string", desc: `Remains for backward compatibility. Must be excluded or set to "*".`},
				{name: "minconf", typ: "numeric", def: "0", desc: "Ignored: account balances are confirmed state."},
				{name: "include_watchonly", typ: "boolean", def: "true", desc: "Ignored."},
				{name: "avoid_reuse", typ: "boolean", def: "true", desc: "Ignored."}},
			summary: "Returns the total confirmed balance of the wallet's addresses.",
			result:  `amount    (numeric) The total amount in coins received for this wallet.`,
			run:     (*call).getBalance},
		{name: "sendtoaddress", category: cat, sub: subWallet,
			args: []arg{{name: "address", typ: "string", required: true, desc: "The address to send to."},
				{name: "amount", typ: "amount", required: true, desc: "The amount in coins to send. eg 0.1"},
				{name: "comment", typ: "string", desc: "Stored in the transaction's memo (at most 80 bytes)."},
				{name: "comment_to", typ: "string", desc: "Ignored."},
				{name: "subtractfeefromamount", typ: "boolean", def: "false", desc: "The fee will be deducted from the amount being sent."},
				{name: "fee", typ: "amount", def: "wallet default", desc: "Quarry extension: the absolute fee in coins."}},
			summary:  "Send an amount to a given address.",
			result:   `"hex"    (string) The transaction id.`,
			examples: []string{`"qd1..." 0.1`, `"qd1..." 0.1 "donation" "" false 0.0001`},
			run:      (*call).sendToAddress},
		{name: "listtransactions", category: cat, sub: subWallet,
			args: []arg{{name: "label", typ: "string", desc: `Must be excluded or "*".`},
				{name: "count", typ: "numeric", def: "10", desc: "The number of transactions to return"},
				{name: "skip", typ: "numeric", def: "0", desc: "The number of transactions to skip"},
				{name: "include_watchonly", typ: "boolean", def: "true", desc: "Ignored."}},
			summary: "Returns up to 'count' most recent transactions skipping the first 'from' transactions, oldest first.",
			result:  `[ { "address", "category", "amount", "fee", "confirmations", "blockhash", "blockheight", "txid", "time", "nonce", "comment" } ]`,
			run:     (*call).listTransactions},
	}
}

func controlMethods() []*method {
	return []*method{
		{name: "help", category: "Control", sub: subNone,
			args:    []arg{{name: "command", typ: "string", def: "all commands", desc: "The command to get help on"}},
			summary: "List all commands, or get help for a specified command.",
			result:  `"str"    (string) The help text`,
			run:     (*call).help},
		{name: "stop", category: "Control", sub: subNone,
			summary: "Request a graceful shutdown of the node.",
			result:  `"str"    (string) A string with the content 'Quarry server stopping'`,
			run:     (*call).stop},
		{name: "uptime", category: "Control", sub: subNone,
			summary: "Returns the total uptime of the server.",
			result:  "ttt    (numeric) The number of seconds that the server has been running",
			run:     (*call).uptime},
		{name: "validateaddress", category: "Util", sub: subNone,
			args:    []arg{{name: "address", typ: "string", required: true, desc: "The address to validate"}},
			summary: "Return information about the given address: valid for this network or not, and why.",
			result:  `{ "isvalid", "address", "hex", "error" }`,
			run:     (*call).validateAddress},
	}
}

func (c *call) getNewAddress() (json.RawMessage, error) {
	label, err := c.str(0, "")
	if err != nil {
		return nil, err
	}
	if _, err := c.str(1, ""); err != nil {
		return nil, err
	}
	a, err := c.s.backend.NewAddress(label)
	if err != nil {
		return nil, err
	}
	return marshal(a.Encode(c.s.params))
}

func (c *call) getBalance() (json.RawMessage, error) {
	if d, err := c.str(0, "*"); err != nil {
		return nil, err
	} else if d != "*" {
		return nil, errorf(rpcjson.CodeMethodDeprecated, `dummy first argument must be excluded or set to "*".`)
	}
	bal, err := c.s.backend.WalletBalance()
	if err != nil {
		return nil, err
	}
	return marshal(rpcjson.AmountFromUnits(bal))
}

func (c *call) sendToAddress() (json.RawMessage, error) {
	to, err := c.address(0)
	if err != nil {
		return nil, err
	}
	if !c.has(1) {
		return nil, c.missing(1)
	}
	amount, err := c.amount(1, 0)
	if err != nil {
		return nil, err
	}
	if amount == 0 {
		return nil, errorf(rpcjson.CodeTypeError, "Invalid amount for send")
	}
	memo, err := c.str(2, "")
	if err != nil {
		return nil, err
	}
	if len(memo) > chain.MaxMemoSize {
		return nil, errorf(rpcjson.CodeInvalidParameter, "comment too long: %d bytes, at most %d", len(memo), chain.MaxMemoSize)
	}
	if _, err := c.str(3, ""); err != nil {
		return nil, err
	}
	sub, err := c.boolean(4, false)
	if err != nil {
		return nil, err
	}
	fee, err := c.amount(5, 0)
	if err != nil {
		return nil, err
	}
	req := SendRequest{To: to, Amount: amount, Fee: fee, SubtractFee: sub}
	if memo != "" {
		req.Memo = []byte(memo)
	}
	id, err := c.s.backend.SendToAddress(req)
	if err != nil {
		var rej *RejectError
		if errors.As(err, &rej) || chain.KindOf(err) != "" {
			return nil, errorf(rpcjson.CodeWalletError, "Transaction rejected: %s", err.Error())
		}
		return nil, err
	}
	return marshal(id)
}

func (c *call) listTransactions() (json.RawMessage, error) {
	if l, err := c.str(0, "*"); err != nil {
		return nil, err
	} else if l != "*" {
		return nil, errorf(rpcjson.CodeWalletError, "Labels are not supported; use \"*\"")
	}
	count, err := c.integer(1, 10, math.MinInt32, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Negative count")
	}
	skip, err := c.integer(2, 0, math.MinInt32, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	if skip < 0 {
		return nil, errorf(rpcjson.CodeInvalidParameter, "Negative from")
	}
	txs, err := c.s.backend.ListTransactions(int(count), int(skip))
	if err != nil {
		return nil, err
	}
	tip := c.s.backend.Tip().Height
	out := make([]rpcjson.WalletTx, len(txs))
	for i, t := range txs {
		w := rpcjson.WalletTx{
			Address: t.Address.Encode(c.s.params), Category: t.Category, Amount: rpcjson.Amount(t.Amount),
			TxID: t.TxID, Time: seconds(t.Time),
		}
		if t.Category == "send" {
			fee := -rpcjson.AmountFromUnits(t.Fee)
			n := t.Nonce
			w.Fee, w.Nonce = &fee, &n
		}
		if t.Confirmed {
			bh, h := t.Block, t.Height
			w.BlockHash, w.BlockHeight = &bh, &h
			if tip >= h {
				w.Confirmations = int64(tip-h) + 1
			}
		}
		if len(t.Memo) > 0 {
			w.Comment = string(t.Memo)
		}
		out[i] = w
	}
	return marshal(out)
}

func (c *call) help() (json.RawMessage, error) {
	name, err := c.str(0, "")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return marshal(c.s.helpIndex())
	}
	m := c.s.methods[name]
	if m == nil {
		return marshal("help: unknown command: " + name)
	}
	return marshal(m.helpText())
}

func (c *call) stop() (json.RawMessage, error) {
	if c.s.cfg.OnStop != nil {
		c.s.cfg.OnStop()
	}
	return marshal("Quarry server stopping")
}

func (c *call) uptime() (json.RawMessage, error) {
	return marshal(int64(c.s.cfg.Now().Sub(c.s.started).Seconds()))
}

func (c *call) validateAddress() (json.RawMessage, error) {
	s, err := c.reqStr(0)
	if err != nil {
		return nil, err
	}
	a, err := chain.DecodeAddress(s, c.s.params)
	if err != nil {
		return marshal(rpcjson.ValidateAddress{IsValid: false, Error: err.Error()})
	}
	return marshal(rpcjson.ValidateAddress{IsValid: true, Address: a.Encode(c.s.params), Hex: hex.EncodeToString(a[:])})
}

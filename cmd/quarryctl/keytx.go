package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// defaultFee is the fee of tx transfer/send without --fee, in coins: 1000
// base units, several times the default minimum relay fee of a transfer.
const defaultFee = "0.00001"

// subFlags is a flag set for a sub-command that prints its usage to stderr.
func subFlags(name string, e env) *flag.FlagSet {
	fs := flag.NewFlagSet("quarryctl "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}

// parseSub parses a sub-command's flags; it returns the exit status to
// use when parsing ends the command (help or error).
func parseSub(fs *flag.FlagSet, args []string) (int, bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return exitFailure, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "error: unexpected argument %q\n", fs.Arg(0))
		return exitFailure, false
	}
	return 0, true
}

func fail(e env, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "error: "+format+"\n", args...)
	return exitFailure
}

// runKey implements "key new" and "key address" (offline).
func runKey(g *globals, args []string, e env) int {
	if len(args) == 0 {
		return fail(e, "key needs a sub-command: new or address")
	}
	switch args[0] {
	case "new":
		fs := subFlags("key new", e)
		out := fs.String("out", "", "key file to create (mode 0600; never overwritten)")
		show := fs.Bool("show-private", false, "also print the private key")
		if code, ok := parseSub(fs, args[1:]); !ok {
			return code
		}
		if *out == "" {
			return fail(e, "key new needs --out FILE")
		}
		key, err := wallet.GenerateKey()
		if err != nil {
			return fail(e, "%v", err)
		}
		if err := wallet.SaveKeyFile(*out, key, g.params); err != nil {
			return fail(e, "%v", err)
		}
		res := struct {
			Address    string `json:"address"`
			PublicKey  string `json:"public_key"`
			File       string `json:"file"`
			Network    string `json:"network"`
			PrivateKey string `json:"private_key,omitempty"`
		}{key.Address.Encode(g.params), key.PublicKeyHex(), *out, g.params.Name, ""}
		if *show {
			res.PrivateKey = key.PrivateKeyHex()
		}
		return printJSON(e, res)
	case "address":
		fs := subFlags("key address", e)
		path := fs.String("key", "", "key file")
		if code, ok := parseSub(fs, args[1:]); !ok {
			return code
		}
		if *path == "" {
			return fail(e, "key address needs --key FILE")
		}
		key, err := wallet.LoadKeyFile(*path, g.params)
		if err != nil {
			return fail(e, "%v", err)
		}
		fmt.Fprintln(e.stdout, key.Address.Encode(g.params))
		return 0
	}
	return fail(e, "unknown key sub-command %q (want new or address)", args[0])
}

// runTx implements "tx transfer" (build and sign, print hex) and "tx send"
// (also submit with sendrawtransaction, print the txid).
func runTx(ctx context.Context, g *globals, args []string, e env) int {
	if len(args) == 0 || (args[0] != "transfer" && args[0] != "send") {
		return fail(e, "tx needs a sub-command: transfer or send")
	}
	sub := args[0]
	fs := subFlags("tx "+sub, e)
	keyPath := fs.String("key", "", "key file of the sender")
	to := fs.String("to", "", "recipient address")
	amount := fs.String("amount", "", "amount in coins (up to 8 decimals)")
	fee := fs.String("fee", defaultFee, "fee in coins")
	nonceFlag := fs.String("nonce", "", "sender nonce (default: the node's pending nonce, via getaccount)")
	memo := fs.String("memo", "", "memo text (at most 80 bytes)")
	if code, ok := parseSub(fs, args[1:]); !ok {
		return code
	}
	switch {
	case *keyPath == "":
		return fail(e, "tx %s needs --key FILE", sub)
	case *to == "":
		return fail(e, "tx %s needs --to ADDRESS", sub)
	case *amount == "":
		return fail(e, "tx %s needs --amount COINS", sub)
	}
	key, err := wallet.LoadKeyFile(*keyPath, g.params)
	if err != nil {
		return fail(e, "%v", err)
	}
	dest, err := wallet.ParseAddress(*to, g.params)
	if err != nil {
		return fail(e, "%v", err)
	}
	units, err := wallet.ParseAmount(*amount)
	if err != nil {
		return fail(e, "--amount: %v", err)
	}
	feeUnits, err := wallet.ParseAmount(*fee)
	if err != nil {
		return fail(e, "--fee: %v", err)
	}
	var nonce uint64
	if *nonceFlag != "" {
		if nonce, err = strconv.ParseUint(*nonceFlag, 10, 64); err != nil {
			return fail(e, "--nonce must be a non-negative integer")
		}
	} else {
		params, _ := json.Marshal([]string{key.Address.Encode(g.params)})
		raw, err := g.call(ctx, e, "getaccount", params)
		if err != nil {
			return g.reportError(e, err)
		}
		var acct rpcjson.AccountInfo
		if err := json.Unmarshal(raw, &acct); err != nil {
			return fail(e, "getaccount: %v", err)
		}
		nonce = acct.Pending.Nonce
	}
	var memoBytes []byte
	if *memo != "" {
		memoBytes = []byte(*memo)
	}
	tx, err := wallet.BuildTransfer(g.params, key.Private, wallet.Payment{To: dest, Amount: units, Fee: feeUnits, Memo: memoBytes}, nonce)
	if err != nil {
		return fail(e, "%v", err)
	}
	hexTx := wallet.EncodeTxHex(tx)
	if sub == "transfer" {
		fmt.Fprintln(e.stdout, hexTx)
		return 0
	}
	params, _ := json.Marshal([]string{hexTx})
	raw, err := g.call(ctx, e, "sendrawtransaction", params)
	if err != nil {
		return g.reportError(e, err)
	}
	if err := printResult(e.stdout, raw); err != nil {
		return fail(e, "%v", err)
	}
	return 0
}

func printJSON[T any](e env, v T) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(e, "%v", err)
	}
	fmt.Fprintln(e.stdout, string(b))
	return 0
}

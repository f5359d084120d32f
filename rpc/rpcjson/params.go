package rpcjson

// ParamSpec names one parameter of a method and says whether it is a JSON
// string. Command-line clients use it like bitcoin-cli's RPCConvertValues:
// an argument for a string parameter is always sent as a JSON string (so a
// block hash made of digits, or a label "true", is not mistaken for a
// number or a boolean); any other argument is sent as JSON if it parses as
// JSON, else as a string.
type ParamSpec struct {
	Name   string
	String bool
}

func s(name string) ParamSpec { return ParamSpec{Name: name, String: true} }
func j(name string) ParamSpec { return ParamSpec{Name: name} }

// MethodParams returns the parameters of a method in positional order, and
// false for an unknown method. Package rpc's tests check that it matches
// the server's method table.
func MethodParams(method string) ([]ParamSpec, bool) {
	switch method {
	case "getbestblockhash", "getblockchaininfo", "getblockcount", "getchaintips", "getdifficulty",
		"getstateinfo", "getmempoolinfo", "getmininginfo", "getgenerate", "getpeerinfo",
		"getnetworkinfo", "getconnectioncount", "listbanned", "clearbanned", "heal", "stop", "uptime", "getstratuminfo", "getadversaryinfo":
		return nil, true
	case "getblock":
		return []ParamSpec{s("blockhash"), j("verbosity")}, true
	case "getblockhash":
		return []ParamSpec{j("height")}, true
	case "getblockheader":
		return []ParamSpec{s("blockhash"), j("verbose")}, true
	case "getchaintxstats":
		return []ParamSpec{j("nblocks"), s("blockhash")}, true
	case "getaccount", "validateaddress":
		return []ParamSpec{s("address")}, true
	case "invalidateblock", "reconsiderblock":
		return []ParamSpec{s("blockhash")}, true
	case "waitfornewblock":
		return []ParamSpec{j("timeout"), s("current_tip")}, true
	case "getrawmempool":
		return []ParamSpec{j("verbose"), j("mempool_sequence")}, true
	case "getmempoolentry":
		return []ParamSpec{s("txid")}, true
	case "sendrawtransaction":
		return []ParamSpec{s("hexstring"), j("maxfeerate")}, true
	case "testmempoolaccept":
		return []ParamSpec{j("rawtxs"), j("maxfeerate")}, true
	case "getrawtransaction":
		return []ParamSpec{s("txid"), j("verbose"), s("blockhash")}, true
	case "decoderawtransaction":
		return []ParamSpec{s("hexstring")}, true
	case "getnetworkhashps":
		return []ParamSpec{j("nblocks"), j("height")}, true
	case "getblocktemplate":
		return []ParamSpec{j("template_request")}, true
	case "submitblock":
		return []ParamSpec{s("hexdata"), s("dummy")}, true
	case "generatetoaddress":
		return []ParamSpec{j("nblocks"), s("address"), j("maxtries")}, true
	case "setgenerate":
		return []ParamSpec{j("generate"), j("genproclimit")}, true
	case "addnode":
		return []ParamSpec{s("node"), s("command")}, true
	case "disconnectnode":
		return []ParamSpec{s("address"), s("nodeid")}, true
	case "setnetworkactive":
		return []ParamSpec{j("state")}, true
	case "setban":
		return []ParamSpec{s("subnet"), s("command"), j("bantime"), j("absolute")}, true
	case "partition":
		return []ParamSpec{j("peers")}, true
	case "getnewaddress":
		return []ParamSpec{s("label"), s("address_type")}, true
	case "getbalance":
		return []ParamSpec{s("dummy"), j("minconf"), j("include_watchonly"), j("avoid_reuse")}, true
	case "sendtoaddress":
		return []ParamSpec{s("address"), j("amount"), s("comment"), s("comment_to"), j("subtractfeefromamount"), j("fee")}, true
	case "listtransactions":
		return []ParamSpec{s("label"), j("count"), j("skip"), j("include_watchonly")}, true
	case "help":
		return []ParamSpec{s("command")}, true
	}
	return nil, false
}

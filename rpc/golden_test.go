package rpc_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// v2 and v1 build request bodies; params is raw JSON ("" for none).
func v2(method, params string) string {
	if params == "" {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q}`, method)
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":%q,"params":%s}`, method, params)
}

func v1(method, params string) string {
	if params == "" {
		return fmt.Sprintf(`{"id":"q","method":%q}`, method)
	}
	return fmt.Sprintf(`{"id":"q","method":%q,"params":%s}`, method, params)
}

// goldenCase is one golden file: requests run in order against one fresh
// fake and server; setup may switch subsystems off first.
type goldenCase struct {
	name  string
	setup func(*rpctest.Backend)
	reqs  []string
}

func noMempool(f *rpctest.Backend) { f.NoMempool = true }
func noNet(f *rpctest.Backend)     { f.NoNet = true }
func noWallet(f *rpctest.Backend)  { f.NoWallet = true }
func noMining(f *rpctest.Backend)  { f.NoMining = true }

var goldenCases = []goldenCase{
	{name: "envelope", reqs: []string{
		`{"method":"getblockcount","params":[],"id":7}`,
		`{"method":"getblockcount"}`,
		`{"jsonrpc":"1.0","id":"curltest","method":"getblockcount","params":[]}`,
		`{"jsonrpc":"2.0","id":7,"method":"getblockcount"}`,
		`{"jsonrpc":"2.0","id":null,"method":"getblockcount"}`,
		`{"jsonrpc":"2.0","method":"getblockcount"}`,
		`{"jsonrpc":"2.0","method":"nosuchmethod"}`,
		`{"id":1,"method":"nosuchmethod"}`,
		`{"jsonrpc":"2.0","id":1,"method":"nosuchmethod"}`,
		`{"id":1,"method":"getblockhash","params":[42]}`,
		`{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":[42]}`,
		`{"id":1,"method":"getblockhash","params":{"height":1}}`,
		`{"id":1,"method":"getblockhash","params":{"heigth":1}}`,
		`{"id":1,"method":"getblockhash","params":[1,2]}`,
		`{"id":1,"method":"getblockhash","params":[]}`,
		`{"id":1,"method":"getblockhash","params":{}}`,
		`{"id":1,"method":"getblockhash","params":["1"]}`,
		`{"id":1,"method":"getblockhash","params":[1.5]}`,
		``,
		`this is bad`,
		`{"method":"getblockcount"} trailing`,
		`"getblockcount"`,
		`42`,
		`{"jsonrpc":2,"method":"getblockcount"}`,
		`{"jsonrpc":"3.0","method":"getblockcount","id":1}`,
		`{"jsonrpc":"2.0","id":1}`,
		`{"jsonrpc":"2.0","id":1,"method":5}`,
		`{"jsonrpc":"2.0","id":1,"method":"getblockcount","params":"x"}`,
		`{"id":[1,2],"method":"getblockcount","params":null}`,
		`{"Method":"getblockcount","id":1}`,
		`[]`,
		`[{"jsonrpc":"2.0","id":1,"method":"getblockcount"},{"id":2,"method":"getbestblockhash"},{"jsonrpc":"2.0","method":"getblockcount"},{"jsonrpc":"2.0","id":3,"method":"nosuchmethod"},5,{"jsonrpc":"2.0","id":4}]`,
		`[{"jsonrpc":"2.0","method":"getblockcount"},{"jsonrpc":"2.0","method":"uptime"}]`,
		`[1,2]`,
		`[{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`,
	}},
	{name: "getbestblockhash", reqs: []string{v2("getbestblockhash", ""), v2("getbestblockhash", "[1]")}},
	{name: "getblockcount", reqs: []string{v2("getblockcount", ""), v1("getblockcount", "[]")}},
	{name: "getblockhash", reqs: []string{
		v2("getblockhash", "[0]"), v2("getblockhash", "[5]"), v2("getblockhash", "[6]"), v2("getblockhash", "[-1]"),
		v2("getblockhash", `["x"]`), v2("getblockhash", `{"height":3}`), v2("getblockhash", "[]"),
	}},
	{name: "getblock", reqs: []string{
		v2("getblock", `["{{h3}}"]`), v2("getblock", `["{{h3}}",0]`), v2("getblock", `["{{h3}}",2]`),
		v2("getblock", `["{{genesis}}",1]`), v2("getblock", `["{{side}}",true]`), v2("getblock", `["{{h5}}",false]`),
		v2("getblock", `{"blockhash":"{{h1}}","verbosity":1}`),
		v2("getblock", `["{{h3}}",3]`), v2("getblock", `["{{unknownhash}}"]`), v2("getblock", `["abc"]`),
		v2("getblock", `["zz{{h3}}"]`), v2("getblock", `["{{h3}}x"]`), v2("getblock", `[5]`), v2("getblock", `[]`),
		v1("getblock", `["{{unknownhash}}"]`),
	}},
	{name: "getblockheader", reqs: []string{
		v2("getblockheader", `["{{h2}}"]`), v2("getblockheader", `["{{h2}}",false]`), v2("getblockheader", `["{{side}}"]`),
		v2("getblockheader", `["{{h5}}",true]`), v2("getblockheader", `["{{unknownhash}}"]`), v2("getblockheader", `["{{h2}}","yes"]`),
	}},
	{name: "getblockchaininfo", reqs: []string{v2("getblockchaininfo", "")}},
	{name: "getchaintips", reqs: []string{v2("getchaintips", "")}},
	{name: "getdifficulty", reqs: []string{v2("getdifficulty", "")}},
	{name: "getchaintxstats", reqs: []string{
		v2("getchaintxstats", ""), v2("getchaintxstats", "[2]"), v2("getchaintxstats", `[2,"{{h4}}"]`),
		v2("getchaintxstats", "[0]"), v2("getchaintxstats", "[5]"), v2("getchaintxstats", "[-1]"),
		v2("getchaintxstats", `[1,"{{side}}"]`), v2("getchaintxstats", `[1,"{{unknownhash}}"]`),
	}},
	{name: "getaccount", reqs: []string{
		v2("getaccount", `["{{addr1}}"]`), v2("getaccount", `["{{addr2}}"]`), v2("getaccount", `["{{addr3}}"]`),
		v2("getaccount", `["{{mainaddr}}"]`), v2("getaccount", `["qr1notanaddress"]`),
	}},
	{name: "getaccount_nomempool", setup: noMempool, reqs: []string{v2("getaccount", `["{{addr1}}"]`)}},
	{name: "getstateinfo", reqs: []string{v2("getstateinfo", "")}},
	{name: "validateaddress", reqs: []string{
		v2("validateaddress", `["{{addr2}}"]`), v2("validateaddress", `["{{mainaddr}}"]`), v2("validateaddress", `["hello"]`),
	}},
	{name: "invalidateblock", reqs: []string{
		v2("invalidateblock", `["{{side}}"]`), v2("getchaintips", ""), v2("reconsiderblock", `["{{side}}"]`), v2("getchaintips", ""),
		v2("invalidateblock", `["{{unknownhash}}"]`), v2("reconsiderblock", `["{{unknownhash}}"]`), v2("invalidateblock", `["{{h2}}"]`),
	}},
	{name: "waitfornewblock", reqs: []string{
		v2("waitfornewblock", "[1]"), v2("waitfornewblock", `[0,"{{h4}}"]`), v2("waitfornewblock", "[-5]"),
	}},
	{name: "getmininginfo", reqs: []string{v2("getmininginfo", ""), v2("setgenerate", "[true,2]"), v2("getmininginfo", "")}},
	{name: "getmininginfo_nosubsystems", setup: func(f *rpctest.Backend) { f.NoMempool, f.NoMining = true, true },
		reqs: []string{v2("getmininginfo", "")}},
	{name: "getnetworkhashps", reqs: []string{
		v2("getnetworkhashps", ""), v2("getnetworkhashps", "[2]"), v2("getnetworkhashps", "[-1,3]"),
		v2("getnetworkhashps", "[120,0]"), v2("getnetworkhashps", "[120,99]"),
	}},
	{name: "getblocktemplate", reqs: []string{
		v2("getblocktemplate", ""), v2("getblocktemplate", `[{"mode":"template","coinbaseaddress":"{{addr3}}"}]`),
		v2("getblocktemplate", `[{"mode":"proposal"}]`), v2("getblocktemplate", `[{"coinbaseaddress":"{{mainaddr}}"}]`),
		v2("getblocktemplate", `["template"]`),
	}},
	{name: "getblocktemplate_nominer", setup: noMining, reqs: []string{v2("getblocktemplate", "")}},
	{name: "submitblock", reqs: []string{
		v2("submitblock", `["{{newblock}}"]`), v2("getbestblockhash", ""), v2("submitblock", `["{{newblock}}"]`),
		v2("submitblock", `["{{h3hex}}"]`), v2("submitblock", `["{{orphanblock}}"]`), v2("submitblock", `["{{badmerkleblock}}"]`),
		v2("submitblock", `["{{highhashblock}}"]`), v2("submitblock", `["00"]`), v2("submitblock", `["xyz"]`),
		v2("submitblock", `["{{cbtx}}"]`), v2("invalidateblock", `["{{side}}"]`),
	}},
	{name: "generatetoaddress", reqs: []string{
		v2("generatetoaddress", `[2,"{{addr3}}"]`), v2("getblockcount", ""), v2("getaccount", `["{{addr3}}"]`),
		v2("generatetoaddress", `[1,"{{mainaddr}}"]`), v2("generatetoaddress", `[-1,"{{addr3}}"]`),
		v2("generatetoaddress", `[0,"{{addr3}}"]`), v2("generatetoaddress", `{"nblocks":1,"address":"{{addr3}}","maxtries":5}`),
	}},
	{name: "generatetoaddress_nominer", setup: noMining, reqs: []string{v2("generatetoaddress", `[1,"{{addr3}}"]`)}},
	{name: "setgenerate", reqs: []string{
		v2("getgenerate", ""), v2("setgenerate", "[true]"), v2("getgenerate", ""), v2("setgenerate", "[true,0]"),
		v2("getgenerate", ""), v2("setgenerate", "[]"), v2("setgenerate", `["on"]`),
	}},
	{name: "setgenerate_nominer", setup: noMining, reqs: []string{v2("setgenerate", "[true]"), v2("getgenerate", "")}},
	{name: "getrawmempool", reqs: []string{
		v2("getrawmempool", ""), v2("getrawmempool", "[true]"), v2("getrawmempool", "[false,true]"),
	}},
	{name: "getmempoolinfo", reqs: []string{v2("getmempoolinfo", "")}},
	{name: "getmempoolentry", reqs: []string{
		v2("getmempoolentry", `["{{mp0}}"]`), v2("getmempoolentry", `["{{mp1}}"]`), v2("getmempoolentry", `["{{tx3}}"]`),
	}},
	{name: "mempool_disabled", setup: noMempool, reqs: []string{
		v2("getrawmempool", ""), v2("getmempoolinfo", ""), v2("getmempoolentry", `["{{mp0}}"]`),
		v2("sendrawtransaction", `["{{newtx}}"]`), v2("testmempoolaccept", `[["{{newtx}}"]]`), v1("getmempoolinfo", ""),
	}},
	{name: "sendrawtransaction", reqs: []string{
		v2("sendrawtransaction", `["{{newtx}}"]`), v2("sendrawtransaction", `["{{newtx}}"]`), v2("getmempoolentry", `["{{newtxid}}"]`),
		v2("sendrawtransaction", `["{{badsigtx}}"]`), v2("sendrawtransaction", `["{{lowtx}}"]`), v2("sendrawtransaction", `["{{richtx}}"]`),
		v2("sendrawtransaction", `["{{cbtx}}"]`), v2("sendrawtransaction", `["zz"]`), v2("sendrawtransaction", `["00"]`),
		v2("sendrawtransaction", `["{{newtx}}",0.00000001]`),
		v1("sendrawtransaction", `["{{badsigtx}}"]`),
	}},
	{name: "sendrawtransaction_inchain", setup: func(f *rpctest.Backend) {
		f.MineBlock(f.Transfer(2, rpctest.KeyAddress(1), 0, 1*1e8, 1000, ""))
	}, reqs: []string{v2("sendrawtransaction", `["{{newtx}}"]`)}},
	{name: "testmempoolaccept", reqs: []string{
		v2("testmempoolaccept", `[["{{newtx}}","{{badsigtx}}","{{lowtx}}","{{cbtx}}"]]`), v2("getrawmempool", ""),
		v2("testmempoolaccept", `[[]]`), v2("testmempoolaccept", `[["zz"]]`), v2("testmempoolaccept", `[["{{newtx}}"],0.001]`),
		v2("testmempoolaccept", `["{{newtx}}"]`),
	}},
	{name: "getrawtransaction", reqs: []string{
		v2("getrawtransaction", `["{{tx3}}"]`), v2("getrawtransaction", `["{{tx3}}",true]`), v2("getrawtransaction", `["{{cb1}}",1]`),
		v2("getrawtransaction", `["{{mp0}}",true]`), v2("getrawtransaction", `["{{tx3}}",true,"{{h3}}"]`),
		v2("getrawtransaction", `["{{tx3}}",false,"{{h2}}"]`), v2("getrawtransaction", `["{{tx3}}",false,"{{unknownhash}}"]`),
		v2("getrawtransaction", `["{{unknownhash}}"]`),
	}},
	{name: "decoderawtransaction", reqs: []string{
		v2("decoderawtransaction", `["{{newtx}}"]`), v2("decoderawtransaction", `["{{cbtx}}"]`), v2("decoderawtransaction", `["0102"]`),
		v2("decoderawtransaction", `["xx"]`),
	}},
	{name: "getpeerinfo", reqs: []string{v2("getpeerinfo", "")}},
	{name: "getnetworkinfo", reqs: []string{v2("getnetworkinfo", "")}},
	{name: "getconnectioncount", reqs: []string{v2("getconnectioncount", "")}},
	{name: "net_disabled", setup: noNet, reqs: []string{
		v2("getpeerinfo", ""), v2("getnetworkinfo", ""), v2("getconnectioncount", ""), v2("addnode", `["x","add"]`),
		v2("disconnectnode", `["x"]`), v2("setnetworkactive", "[false]"), v2("setban", `["x","add"]`), v2("listbanned", ""),
		v2("clearbanned", ""), v2("partition", `[["x"]]`), v2("heal", ""), v1("getpeerinfo", ""),
	}},
	{name: "addnode", reqs: []string{
		v2("addnode", `["/ip4/10.0.0.1/tcp/37733/p2p/12D3KooWNew","add"]`), v2("addnode", `["/ip4/10.0.0.1/tcp/37733/p2p/12D3KooWNew","add"]`),
		v2("addnode", `["12D3KooWNew","remove"]`), v2("addnode", `["12D3KooWNew","remove"]`), v2("addnode", `["12D3KooWNew","onetry"]`),
		v2("addnode", `["12D3KooWNew","bogus"]`), v2("addnode", `["not a peer","add"]`),
	}},
	{name: "disconnectnode", reqs: []string{
		v2("disconnectnode", `["12D3KooWPeerA"]`), v2("getconnectioncount", ""), v2("disconnectnode", `["12D3KooWPeerA"]`),
		v2("disconnectnode", `{"nodeid":"12D3KooWPeerB"}`), v2("disconnectnode", `["12D3KooWPeerB","12D3KooWPeerB"]`),
		v2("disconnectnode", ""),
	}},
	{name: "setnetworkactive", reqs: []string{
		v2("setnetworkactive", "[false]"), v2("getnetworkinfo", ""), v2("setnetworkactive", "[true]"), v2("setnetworkactive", ""),
	}},
	{name: "setban", reqs: []string{
		v2("setban", `["12D3KooWBad","add"]`), v2("setban", `["12D3KooWBad","add"]`), v2("setban", `["12D3KooWBad2","add",3600]`),
		v2("setban", `["12D3KooWBad3","add",2000000000,true]`), v2("setban", `["12D3KooWBad4","add",100,true]`),
		v2("listbanned", ""), v2("setban", `["12D3KooWBad","remove"]`), v2("setban", `["12D3KooWBad","remove"]`),
		v2("setban", `["12D3KooWBad","ban"]`), v2("setban", `["1.2.3.0/24","add"]`), v2("clearbanned", ""), v2("listbanned", ""),
	}},
	{name: "partition", reqs: []string{
		v2("partition", `[["12D3KooWPeerA","12D3KooWPeerB"]]`), v2("getnetworkinfo", ""), v2("heal", ""), v2("getnetworkinfo", ""),
		v2("partition", `[[]]`), v2("partition", `["12D3KooWPeerA"]`), v2("partition", `[["nope"]]`),
	}},
	{name: "wallet", reqs: []string{
		v2("getbalance", ""), v2("getnewaddress", ""), v2("getnewaddress", `["savings"]`),
		v2("sendtoaddress", `["{{addr2}}",1.5]`), v2("sendtoaddress", `["{{addr2}}","0.25","memo text",null,true,0.0001]`),
		v2("sendtoaddress", `["{{addr2}}",0]`), v2("sendtoaddress", `["{{addr2}}",-1]`), v2("sendtoaddress", `["{{addr2}}",0.000000001]`),
		v2("sendtoaddress", `["{{addr2}}",100000]`), v2("sendtoaddress", `["{{mainaddr}}",1]`),
		v2("listtransactions", ""), v2("listtransactions", `["*",2,1]`), v2("listtransactions", `["*",-1]`),
		v2("listtransactions", `["savings"]`), v2("getbalance", `["x"]`),
	}},
	{name: "wallet_disabled", setup: noWallet, reqs: []string{
		v2("getbalance", ""), v2("getnewaddress", ""), v2("sendtoaddress", `["{{addr2}}",1]`), v2("listtransactions", ""),
	}},
	{name: "help", reqs: []string{
		v2("help", ""), v2("help", `["getblock"]`), v2("help", `["nosuch"]`), v1("help", `["getblockhash"]`),
	}},
	{name: "getstratuminfo", reqs: []string{v2("getstratuminfo", ""), v1("getstratuminfo", "[]")}},
	{name: "getstratuminfo_nominer", setup: noMining, reqs: []string{v2("getstratuminfo", "")}},
	{name: "uptime", reqs: []string{v2("uptime", "")}},
	{name: "getadversaryinfo", reqs: []string{v2("getadversaryinfo", "")}},
	{name: "stop", reqs: []string{v2("stop", "")}},
}

// TestGolden runs every golden case and compares (or, with -update,
// rewrites) testdata/golden/<name>.golden.
func TestGolden(t *testing.T) {
	covered := map[string]bool{}
	base := rpctest.New()
	fx := fixtures(t, base.Clone())
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			f := base.Clone()
			if gc.setup != nil {
				gc.setup(f)
			}
			s := newServer(t, f, nil)
			var b strings.Builder
			for _, raw := range gc.reqs {
				body := fx.Replace(raw)
				status, resp := post(t, s.Handler(), body)
				fmt.Fprintf(&b, "### request\n%s\n### response %d\n%s\n\n", raw, status, indentJSON(resp))
				if m := methodOf(body); m != "" {
					covered[m] = true
				}
			}
			path := filepath.Join("testdata", "golden", gc.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./rpc -run TestGolden -update)", err)
			}
			if got := b.String(); got != string(want) {
				t.Errorf("golden mismatch for %s; diff against %s (rerun with -update if the change is intended):\n%s", gc.name, path, testkit.FirstDiff(got, string(want)))
			}
		})
	}
	for _, m := range rpc.MethodNames() {
		if !covered[m] {
			t.Errorf("method %s has no golden case", m)
		}
	}
}

func methodOf(body string) string {
	const key = `"method":"`
	i := strings.Index(body, key)
	if i < 0 {
		return ""
	}
	rest := body[i+len(key):]
	if j := strings.IndexByte(rest, '"'); j >= 0 {
		return rest[:j]
	}
	return ""
}

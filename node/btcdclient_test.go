package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/node/buildinfo"
	"github.com/quarrychain/quarry/rpc/client"
)

// TestBtcdRPCClient runs btcd's unmodified rpcclient, a Bitcoin Core RPC
// client library, against a real node for every method Quarry shares with
// Core: each call must decode into the library's result types, and the
// values must be the node's. Methods that exchange Bitcoin-serialized
// transactions or blocks (getblock 0, getrawtransaction false,
// sendrawtransaction, testmempoolaccept, submitblock) or Bitcoin addresses
// (getnewaddress, generatetoaddress, validateaddress) cannot be decoded by
// a Bitcoin library, since Quarry's transactions and addresses are its
// own; the test sends those through the library's RawRequest.
func TestBtcdRPCClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cfgA := testConfig(t)
	a, _ := startNode(t, cfgA)
	cfgB := testConfig(t)
	cfgB.MetricsListen = ""
	b, _ := startNode(t, cfgB)

	user, pass, err := client.ReadCookie(cfgA.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	btc, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: a.RPCAddr(), User: user, Pass: pass, HTTPPostMode: true, DisableTLS: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer btc.Shutdown()
	raw := func(method string, out any, args ...any) {
		t.Helper()
		params := make([]json.RawMessage, len(args))
		for i, a := range args {
			if params[i], err = json.Marshal(a); err != nil {
				t.Fatal(err)
			}
		}
		res, err := btc.RawRequest(method, params)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if out != nil {
			if err := json.Unmarshal(res, out); err != nil {
				t.Fatalf("%s: %v", method, err)
			}
		}
	}

	// A chain with a transfer in it, a transfer pending, and a peer.
	var addr string
	raw("getnewaddress", &addr)
	raw("generatetoaddress", nil, 5, addr)
	var to string
	raw("getnewaddress", &to)
	raw("sendtoaddress", nil, to, 1.5)
	raw("generatetoaddress", nil, 1, addr)
	var pending string
	raw("sendtoaddress", &pending, to, 0.25)
	connectPeers(ctx, t, b, a)

	// Version detection (getinfo must be "method not found", then
	// getnetworkinfo decoded) is what broke getblockchaininfo before.
	ni, err := btc.GetNetworkInfo()
	if err != nil {
		t.Fatalf("getnetworkinfo: %v", err)
	}
	bi := buildinfo.Read()
	if ni.Version != int32(bi.Numeric()) || ni.Version == 0 || ni.SubVersion != bi.UserAgent() || ni.ProtocolVersion != 1 {
		t.Errorf("getnetworkinfo: version %d subversion %q protocolversion %d", ni.Version, ni.SubVersion, ni.ProtocolVersion)
	}
	if ni.Connections != 1 || !ni.NetworkActive || len(ni.LocalAddresses) == 0 {
		t.Errorf("getnetworkinfo: %+v", ni)
	}
	if _, err := btc.BackendVersion(); err != nil {
		t.Errorf("BackendVersion: %v", err)
	}

	chainInfo, err := btc.GetBlockChainInfo()
	if err != nil {
		t.Fatalf("getblockchaininfo: %v", err)
	}
	if chainInfo.Chain != "regtest" || chainInfo.Blocks != 6 || chainInfo.Headers != 6 || chainInfo.BestBlockHash == "" {
		t.Errorf("getblockchaininfo: %+v", chainInfo)
	}
	count, err := btc.GetBlockCount()
	if err != nil || count != 6 {
		t.Fatalf("getblockcount: %d, %v", count, err)
	}
	best, err := btc.GetBestBlockHash()
	if err != nil || best.String() != chainInfo.BestBlockHash {
		t.Fatalf("getbestblockhash: %v, %v", best, err)
	}
	h6, err := btc.GetBlockHash(6)
	if err != nil || !h6.IsEqual(best) {
		t.Fatalf("getblockhash 6: %v, %v", h6, err)
	}
	h5, err := btc.GetBlockHash(5)
	if err != nil {
		t.Fatalf("getblockhash 5: %v", err)
	}

	hdr, err := btc.GetBlockHeaderVerbose(h5)
	if err != nil {
		t.Fatalf("getblockheader: %v", err)
	}
	if hdr.Hash != h5.String() || hdr.Height != 5 || hdr.Confirmations != 2 || hdr.NextHash != best.String() || hdr.PreviousHash == "" {
		t.Errorf("getblockheader: %+v", hdr)
	}
	// The header is Bitcoin's 80-byte layout and hash, so the library's
	// own decoder reads getblockheader's non-verbose answer.
	wireHdr, err := btc.GetBlockHeader(h5)
	if err != nil {
		t.Fatalf("getblockheader false: %v", err)
	}
	if got := wireHdr.BlockHash(); !got.IsEqual(h5) || wireHdr.PrevBlock.String() != hdr.PreviousHash {
		t.Errorf("getblockheader false: hash %s prev %s", got, wireHdr.PrevBlock)
	}
	blk, err := btc.GetBlockVerbose(best)
	if err != nil {
		t.Fatalf("getblock 1: %v", err)
	}
	if blk.Hash != best.String() || blk.Height != 6 || len(blk.Tx) != 2 || blk.PreviousHash != h5.String() || blk.Size == 0 {
		t.Errorf("getblock 1: %+v", blk)
	}
	blkTx, err := btc.GetBlockVerboseTx(best)
	if err != nil {
		t.Fatalf("getblock 2: %v", err)
	}
	if len(blkTx.Tx) != 2 || blkTx.Tx[0].Txid != blk.Tx[0] || blkTx.Tx[1].Txid != blk.Tx[1] {
		t.Errorf("getblock 2: %+v", blkTx)
	}
	tips, err := btc.GetChainTips()
	if err != nil || len(tips) != 1 || tips[0].Status != "active" || tips[0].Height != 6 || tips[0].Hash != best.String() {
		t.Fatalf("getchaintips: %+v, %v", tips, err)
	}
	diff, err := btc.GetDifficulty()
	if err != nil || diff <= 0 || diff != chainInfo.Difficulty {
		t.Fatalf("getdifficulty: %v, %v", diff, err)
	}
	mi, err := btc.GetMiningInfo()
	if err != nil {
		t.Fatalf("getmininginfo: %v", err)
	}
	if mi.Blocks != 6 || mi.PooledTx != 1 || mi.Difficulty != diff {
		t.Errorf("getmininginfo: %+v", mi)
	}
	if hps, err := btc.GetNetworkHashPS(); err != nil || hps < 0 {
		t.Fatalf("getnetworkhashps: %v, %v", hps, err)
	}

	pool, err := btc.GetRawMempool()
	if err != nil || len(pool) != 1 || pool[0].String() != pending {
		t.Fatalf("getrawmempool: %v, %v", pool, err)
	}
	poolVerbose, err := btc.GetRawMempoolVerbose()
	if err != nil {
		t.Fatalf("getrawmempool true: %v", err)
	}
	if e, ok := poolVerbose[pending]; !ok || e.Vsize == 0 || e.Weight == 0 || e.Height != 6 {
		t.Errorf("getrawmempool true: %+v", poolVerbose)
	}
	entry, err := btc.GetMempoolEntry(pending)
	if err != nil || entry.VSize == 0 || entry.Height != 6 || entry.Fees.Base <= 0 {
		t.Fatalf("getmempoolentry: %+v, %v", entry, err)
	}
	var mpi btcjson.GetMempoolInfoResult // rpcclient has the type but no method
	raw("getmempoolinfo", &mpi)
	if mpi.Size != 1 || mpi.Bytes == 0 {
		t.Fatalf("getmempoolinfo: %+v", mpi)
	}
	pendingHash, err := chainhash.NewHashFromStr(pending)
	if err != nil {
		t.Fatal(err)
	}
	rtx, err := btc.GetRawTransactionVerbose(pendingHash)
	if err != nil || rtx.Txid != pending || rtx.Hex == "" {
		t.Fatalf("getrawtransaction true: %+v, %v", rtx, err)
	}

	raw1, err := hex.DecodeString(rtx.Hex)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := btc.DecodeRawTransaction(raw1)
	if err != nil || dec.Txid != pending {
		t.Fatalf("decoderawtransaction: %+v, %v", dec, err)
	}

	peers, err := btc.GetPeerInfo()
	if err != nil || len(peers) != 1 || !peers[0].Inbound || peers[0].Addr == "" {
		t.Fatalf("getpeerinfo: %+v, %v", peers, err)
	}
	if n, err := btc.GetConnectionCount(); err != nil || n != 1 {
		t.Fatalf("getconnectioncount: %d, %v", n, err)
	}

	// Eight transactions: genesis, six coinbases, one transfer; the window
	// of the last two blocks holds three.
	stats, err := btc.GetChainTxStats()
	if err != nil || stats.TxCount != 8 || stats.WindowFinalBlockHeight != 6 || stats.WindowFinalBlockHash != best.String() {
		t.Fatalf("getchaintxstats: %+v, %v", stats, err)
	}
	stats, err = btc.GetChainTxStatsNBlocksBlockHash(2, *best)
	if err != nil || stats.TxCount != 8 || stats.WindowBlockCount != 2 || stats.WindowTxCount != 3 {
		t.Fatalf("getchaintxstats 2 %s: %+v, %v", best, stats, err)
	}
	stats, err = btc.GetChainTxStatsNBlocksBlockHash(1, *h5)
	if err != nil || stats.TxCount != 6 || stats.WindowTxCount != 1 {
		t.Fatalf("getchaintxstats 1 %s: %+v, %v", h5, stats, err)
	}

	var up int64
	raw("uptime", &up)
	if up < 0 {
		t.Fatalf("uptime %d", up)
	}
	tmpl, err := btc.GetBlockTemplate(&btcjson.TemplateRequest{Mode: "template"})
	if err != nil || tmpl.Height != 7 || tmpl.PreviousHash != best.String() || len(tmpl.Transactions) != 1 || tmpl.Bits == "" {
		t.Fatalf("getblocktemplate: %+v, %v", tmpl, err)
	}
	if on, err := btc.GetGenerate(); err != nil || on {
		t.Fatalf("getgenerate: %v, %v", on, err)
	}
	if err := btc.SetGenerate(false, 0); err != nil {
		t.Fatalf("setgenerate false 0: %v", err)
	}
	bal, err := btc.GetBalance("*")
	if err != nil || bal <= 0 {
		t.Fatalf("getbalance: %v, %v", bal, err)
	}
	txs, err := btc.ListTransactions("*")
	if err != nil || len(txs) == 0 {
		t.Fatalf("listtransactions: %+v, %v", txs, err)
	}

	// invalidateblock / reconsiderblock round trip.
	if err := btc.InvalidateBlock(best); err != nil {
		t.Fatalf("invalidateblock: %v", err)
	}
	if n, err := btc.GetBlockCount(); err != nil || n != 5 {
		t.Fatalf("getblockcount after invalidateblock: %d, %v", n, err)
	}
	if err := btc.ReconsiderBlock(best); err != nil {
		t.Fatalf("reconsiderblock: %v", err)
	}
	if n, err := btc.GetBlockCount(); err != nil || n != 6 {
		t.Fatalf("getblockcount after reconsiderblock: %d, %v", n, err)
	}

	// An unknown method is Core's -32601, as clients probing for btcd expect.
	_, err = btc.RawRequest("getinfo", nil)
	var rerr *btcjson.RPCError
	if !asRPCError(err, &rerr) || rerr.Code != btcjson.ErrRPCMethodNotFound.Code {
		t.Fatalf("getinfo: %v", err)
	}
}

func asRPCError(err error, out **btcjson.RPCError) bool {
	e, ok := err.(*btcjson.RPCError)
	if ok {
		*out = e
	}
	return ok
}

// connectPeers makes from dial to: addnode onetry with to's first listen
// address, then waits until both see the connection.
func connectPeers(ctx context.Context, t *testing.T, from, to *Node) {
	t.Helper()
	var ni struct {
		LocalPeerID    string `json:"localpeerid"`
		LocalAddresses []struct {
			Address string `json:"address"`
		} `json:"localaddresses"`
	}
	rpcMust(ctx, t, to, "getnetworkinfo", &ni)
	var target string
	for _, a := range ni.LocalAddresses {
		if strings.Contains(a.Address, "/tcp/") {
			target = a.Address
			break
		}
	}
	if target == "" {
		t.Fatalf("no tcp listen address in %+v", ni)
	}
	rpcMust(ctx, t, from, "addnode", nil, target+"/p2p/"+ni.LocalPeerID, "onetry")
	var na, nb int
	testkit.WaitFor(t, 30*time.Second, "both peers to see the connection", func() bool {
		rpcMust(ctx, t, from, "getconnectioncount", &na)
		rpcMust(ctx, t, to, "getconnectioncount", &nb)
		return na == 1 && nb == 1
	})
}

package main

// End-to-end test: quarryd and quarryctl as real processes on regtest.
// One daemon lives through the whole scenario (101 blocks, an offline
// transfer, invalidate/reconsider, a competing branch and reorgs, RPC
// errors, metrics, a second instance, SIGTERM), then a wrong-network start
// and a restart on the same data directory.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/cmd/internal/lab/labtest"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs quarryd; skipped with -short")
	}
	start := time.Now()
	bins := buildBinaries(t)

	t.Run("Help", func(t *testing.T) { testHelpBinary(t, bins) })
	t.Run("Node", func(t *testing.T) { testNode(t, bins) })
	t.Run("Bench", func(t *testing.T) { testBench(t, bins) })
	t.Logf("end-to-end test took %v", time.Since(start).Round(time.Millisecond))
}

// testHelpBinary: `quarryd --help` exits 0 and lists every documented flag.
func testHelpBinary(t *testing.T, bins binaries) {
	p := labtest.StartProcess(t, bins.quarryd, "--help")
	if code := p.ExitCode(callTimeout); code != 0 {
		t.Fatalf("quarryd --help exited %d:\n%s", code, p.Output.String())
	}
	help := p.Output.String()
	for _, name := range designFlags {
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(help) {
			t.Errorf("quarryd --help does not list --%s", name)
		}
	}
}

// testBench: `quarryd bench --duration 200ms --threads 1 --json` prints one
// JSON report with the bound and a result per kernel.
func testBench(t *testing.T, bins binaries) {
	p := labtest.StartProcess(t, bins.quarryd, "bench", "--duration", "200ms", "--threads", "1", "--json")
	if code := p.ExitCode(callTimeout); code != 0 {
		t.Fatalf("quarryd bench exited %d:\n%s", code, p.Output.String())
	}
	// stdout and stderr share one buffer; the JSON object is the part
	// from the first '{' line to the matching closing line.
	out := p.Output.String()
	begin := strings.Index(out, "{\n")
	end := strings.Index(out, "\n}")
	if begin < 0 || end < begin {
		t.Fatalf("no JSON object in bench output:\n%s", out)
	}
	raw := []byte(out[begin : end+2])
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, raw)
	}
	for _, k := range []string{"cpu", "go_version", "compressions_per_sec", "bound_per_core", "compressions_per_cpu_sec", "results"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("bench JSON lacks %q", k)
		}
	}
	var rep struct {
		CPU          string  `json:"cpu"`
		Compressions float64 `json:"compressions_per_sec"`
		Bound        float64 `json:"bound_per_core"`
		Results      []map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Compressions <= 0 || rep.Bound <= 0 || rep.Bound*2 != rep.Compressions {
		t.Errorf("compressions_per_sec %v, bound_per_core %v: want positive, bound = half", rep.Compressions, rep.Bound)
	}
	if len(rep.Results) == 0 {
		t.Fatal("bench reported no kernel")
	}
	for _, r := range rep.Results {
		for _, k := range []string{"kernel", "threads", "nonces_per_sec", "per_core", "scaling", "ratio_to_bound"} {
			if _, ok := r[k]; !ok {
				t.Errorf("bench result lacks %q: %v", k, r)
			}
		}
		var threads int
		var rate float64
		_ = json.Unmarshal(r["threads"], &threads)
		_ = json.Unmarshal(r["nonces_per_sec"], &rate)
		if threads != 1 || rate <= 0 {
			t.Errorf("bench result %s: threads %d (want 1), nonces_per_sec %v (want > 0)", r["kernel"], threads, rate)
		}
	}
}

// scenario holds what the steps of testNode share.
type scenario struct {
	t       *testing.T
	bins    binaries
	params  *chain.Params
	d       *daemon
	ws      *wsClient
	dataDir string

	alice              *wallet.Key // receives the first 101 coinbases, sends the transfers
	aliceFile          string
	bob, miner, carol  chain.Address
	blocks             []chain.Hash // main chain by height (index 0 = genesis)
	tx1, tx2           *chain.Tx
	aliceBal, minerBal uint64
}

func (s *scenario) addr(a chain.Address) string { return a.Encode(s.params) }

func testNode(t *testing.T, bins binaries) {
	s := &scenario{t: t, bins: bins, params: chain.RegtestParams()}
	s.dataDir = filepath.Join(t.TempDir(), "regtest")
	s.d = startDaemon(t, bins, s.dataDir)

	s.ws = dialWS(t, s.d, rpcjson.TopicBlocks, rpcjson.TopicReorgs, rpcjson.TopicMempool)

	s.makeKeys()
	s.mine101()
	s.transfer()
	s.invalidateAndReconsider()
	s.competingBranch()
	s.checkMetrics(111, 6, 4)
	s.checkAuthAndErrors()
	s.secondInstance()

	// Clean shutdown on SIGTERM.
	tip := s.d.Call(t, "getbestblockhash")
	state := s.d.Call(t, "getstateinfo")
	tips := s.d.Call(t, "getchaintips")
	aliceAcct := s.d.Call(t, "getaccount", s.addr(s.alice.Address))
	stopped := time.Now()
	if code := s.d.SignalExit(syscall.SIGTERM, stopTimeout); code != 0 {
		t.Fatalf("quarryd exited %d after SIGTERM:\n%s", code, labtest.Tail(s.d.Output.String(), 30))
	}
	t.Logf("SIGTERM to exit: %v", time.Since(stopped).Round(time.Millisecond))
	if !regexp.MustCompile(`msg="node stopped" height=105 tip=` + strings.Trim(string(tip), `"`)).MatchString(s.d.Output.String()) {
		t.Errorf(`no "node stopped" line with height 105 and the tip in the log:\n%s`, labtest.Tail(s.d.Output.String(), 10))
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, ".cookie")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cookie file after shutdown: %v (want it removed)", err)
	}
	s.checkWSClosed()

	s.wrongNetwork()

	// A restart on the same data directory continues at the same tip.
	d2 := startDaemon(t, bins, s.dataDir)
	if got := d2.Call(t, "getbestblockhash"); string(got) != string(tip) {
		t.Errorf("tip after restart %s, want %s", got, tip)
	}
	if got := d2.Call(t, "getstateinfo"); !jsonEqual(got, state) {
		t.Errorf("getstateinfo after restart %s, want %s", got, state)
	}
	if got := d2.Call(t, "getchaintips"); !jsonEqual(got, tips) {
		t.Errorf("getchaintips after restart %s, want %s", got, tips)
	}
	if got := d2.Call(t, "getaccount", s.addr(s.alice.Address)); !jsonEqual(got, aliceAcct) {
		t.Errorf("getaccount after restart %s, want %s", got, aliceAcct)
	}
	if got := d2.ctlOK(t, "getblockcount"); got != "105" {
		t.Errorf("quarryctl getblockcount after restart = %q, want 105", got)
	}
	v := callInto[rpcjson.TxVerbose](t, d2, "getrawtransaction", s.tx1.TxID(), true)
	if v.Confirmations == nil || *v.Confirmations != 4 {
		t.Errorf("tx1 confirmations after restart = %v, want 4 (block 102 of 105)", v.Confirmations)
	}
	if v, ok := metricValue(d2.scrape(t), "quarry_chain_height_blocks"); !ok || v != "105" {
		t.Errorf("quarry_chain_height_blocks after restart = %q (found %v), want 105", v, ok)
	}
	if code := d2.SignalExit(syscall.SIGTERM, stopTimeout); code != 0 {
		t.Errorf("restarted quarryd exited %d after SIGTERM", code)
	}
}

// makeKeys creates alice's key file offline with quarryctl, asks the node
// wallet for bob's address, and makes two more addresses in-process.
func (s *scenario) makeKeys() {
	t := s.t
	s.aliceFile = filepath.Join(t.TempDir(), "alice.key")
	out, errOut, code := runCtl(t, s.bins, "--network", "regtest", "key", "new", "--out", s.aliceFile)
	if code != 0 {
		t.Fatalf("quarryctl key new: exit %d: %s", code, errOut)
	}
	created := decodeJSON[struct {
		Address, Network string
		PrivateKey       string `json:"private_key"`
	}](t, []byte(out))
	if created.Network != "regtest" || created.PrivateKey != "" {
		t.Errorf("key new printed network %q, private key %q (want regtest, none without --show-private)", created.Network, created.PrivateKey)
	}
	if st, err := os.Stat(s.aliceFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v, want 0600", st.Mode(), err)
	}
	key, err := wallet.LoadKeyFile(s.aliceFile, s.params)
	if err != nil {
		t.Fatal(err)
	}
	s.alice = key
	if got := s.addr(key.Address); got != created.Address {
		t.Fatalf("key file address %s, quarryctl printed %s", got, created.Address)
	}
	out, _, _ = runCtl(t, s.bins, "--network", "regtest", "key", "address", "--key", s.aliceFile)
	if strings.TrimSpace(out) != created.Address {
		t.Errorf("key address printed %q, want %s", out, created.Address)
	}

	bob, err := chain.DecodeAddress(s.d.ctlOK(t, "getnewaddress"), s.params)
	if err != nil {
		t.Fatalf("getnewaddress: %v", err)
	}
	s.bob = bob
	for _, a := range []*chain.Address{&s.miner, &s.carol} {
		k, err := wallet.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		*a = k.Address
	}
}

// mine101 mines 101 blocks to alice through quarryctl and checks the chain
// through quarryctl, raw HTTP and the WebSocket.
func (s *scenario) mine101() {
	t, d := s.t, s.d
	genesis := callInto[chain.Hash](t, d, "getblockhash", 0)
	if genesis != s.params.GenesisHash {
		t.Fatalf("getblockhash 0 = %s, want the regtest genesis %s", genesis, s.params.GenesisHash)
	}
	s.blocks = []chain.Hash{genesis}

	hashes := decodeJSON[[]chain.Hash](t, []byte(d.ctlOK(t, "generatetoaddress", "101", s.addr(s.alice.Address))))
	if len(hashes) != 101 {
		t.Fatalf("generatetoaddress 101 returned %d hashes", len(hashes))
	}
	s.blocks = append(s.blocks, hashes...)
	for i, h := range hashes {
		n := s.ws.nextBlock(rpcjson.MethodBlockConnected)
		if n.Hash != h || n.Height != uint64(i+1) || n.PreviousBlockHash != s.blocks[i] || n.NTx != 1 || len(n.Tx) != 1 {
			t.Fatalf("block_connected #%d = %+v, want hash %s height %d parent %s with 1 tx", i+1, n, h, i+1, s.blocks[i])
		}
	}

	if got := d.ctlOK(t, "getblockcount"); got != "101" {
		t.Errorf("quarryctl getblockcount = %q, want 101", got)
	}
	if got := callInto[uint64](t, d, "getblockcount"); got != 101 {
		t.Errorf("getblockcount = %d, want 101", got)
	}
	if got := d.ctlOK(t, "getbestblockhash"); got != hashes[100].String() {
		t.Errorf("quarryctl getbestblockhash = %s, want %s", got, hashes[100])
	}
	for _, h := range []uint64{1, 50, 101} {
		if got := callInto[chain.Hash](t, d, "getblockhash", h); got != s.blocks[h] {
			t.Errorf("getblockhash %d = %s, want %s", h, got, s.blocks[h])
		}
	}
	s.checkBlock(101, 101, 1)
	s.checkBlock(50, 101, 1)
	s.checkBlock(1, 101, 1)
	s.checkTips(rpcjson.ChainTip{Height: 101, Hash: hashes[100], Status: "active"})

	// Every coinbase paid alice; nothing is pending.
	for h := uint64(1); h <= 101; h++ {
		s.aliceBal += s.params.CalcSubsidy(h)
	}
	s.checkAccount(s.alice.Address, s.aliceBal, 0, 0, s.aliceBal)
	if s.aliceBal != 101*50*chain.Coin {
		t.Errorf("101 regtest subsidies = %d, want 101 x 50 coins", s.aliceBal)
	}
}

// transfer builds two transfers offline (quarryctl tx transfer and
// wallet.BuildTransfer), sends them (quarryctl and raw HTTP), sees them in
// the mempool and on the WebSocket, mines them and checks the result.
func (s *scenario) transfer() {
	t, d := s.t, s.d
	// quarryctl tx transfer is offline with --nonce: it gets an RPC address
	// nothing listens on and no data dir.
	out, errOut, code := runCtl(t, s.bins, "--network", "regtest", "--rpc-connect", "127.0.0.1:1",
		"tx", "transfer", "--key", s.aliceFile, "--to", s.addr(s.bob), "--amount", "1.5", "--fee", "0.0001",
		"--nonce", "0", "--memo", "e2e one")
	if code != 0 {
		t.Fatalf("quarryctl tx transfer: exit %d: %s", code, errOut)
	}
	hex1 := strings.TrimSpace(out)
	tx1, err := wallet.DecodeTxHex(hex1)
	if err != nil {
		t.Fatalf("quarryctl tx transfer printed %q: %v", hex1, err)
	}
	if tx1.From() != s.alice.Address || tx1.To != s.bob || tx1.Amount != 150_000_000 || tx1.Fee != 10_000 ||
		tx1.Nonce != 0 || string(tx1.Memo) != "e2e one" || tx1.ChainID != s.params.ChainID || tx1.VerifySignature() != nil {
		t.Fatalf("quarryctl tx transfer built %+v", tx1)
	}
	tx2, err := wallet.BuildTransfer(s.params, s.alice.Private, wallet.Payment{To: s.bob, Amount: 225_000_000, Fee: 20_000, Memo: []byte("e2e two")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	hex2 := wallet.EncodeTxHex(tx2)
	s.tx1, s.tx2 = tx1, tx2
	id1, id2 := tx1.TxID(), tx2.TxID()

	if got := d.ctlOK(t, "sendrawtransaction", hex1); got != id1.String() {
		t.Errorf("quarryctl sendrawtransaction = %s, want %s", got, id1)
	}
	if got := callInto[chain.Hash](t, d, "sendrawtransaction", hex2); got != id2 {
		t.Errorf("sendrawtransaction = %s, want %s", got, id2)
	}
	// Sending a transaction the mempool has is a success, as in Core.
	if got := callInto[chain.Hash](t, d, "sendrawtransaction", hex1); got != id1 {
		t.Errorf("re-sent sendrawtransaction = %s, want %s", got, id1)
	}
	for i, tx := range []*chain.Tx{tx1, tx2} {
		n := s.ws.nextMempool(rpcjson.MethodMempoolAdded)
		if n.TxID != tx.TxID() || n.From != s.addr(s.alice.Address) || n.To != s.addr(s.bob) ||
			n.Amount == nil || uint64(*n.Amount) != tx.Amount || n.Fee == nil || uint64(*n.Fee) != tx.Fee ||
			n.Nonce == nil || *n.Nonce != uint64(i) {
			t.Errorf("mempool_added #%d = %+v, want tx %s", i+1, n, tx.TxID())
		}
	}

	pool := callInto[[]chain.Hash](t, d, "getrawmempool")
	want := []chain.Hash{id1, id2}
	slices.SortFunc(want, func(a, b chain.Hash) int { return strings.Compare(a.String(), b.String()) })
	if !slices.Equal(pool, want) {
		t.Errorf("getrawmempool = %v, want %v", pool, want)
	}
	entries := callInto[map[chain.Hash]rpcjson.MempoolEntry](t, d, "getrawmempool", true)
	if e := entries[id2]; e.Nonce != 1 || !slices.Equal(e.Depends, []chain.Hash{id1}) || e.From != s.addr(s.alice.Address) {
		t.Errorf("getrawmempool verbose entry of tx2 = %+v, want nonce 1 depending on %s", e, id1)
	}
	if e := entries[id1]; !slices.Equal(e.SpentBy, []chain.Hash{id2}) || uint64(e.Fees.Base) != tx1.Fee {
		t.Errorf("getrawmempool verbose entry of tx1 = %+v, want spentby %s", e, id2)
	}
	if v := callInto[rpcjson.TxVerbose](t, d, "getrawtransaction", id1, true); v.Confirmations != nil || v.BlockHash != nil || v.Hex != hex1 {
		t.Errorf("getrawtransaction of a pending tx = %+v, want no block and hex %s", v, hex1)
	}
	spend := tx1.Amount + tx1.Fee + tx2.Amount + tx2.Fee
	s.checkAccount(s.alice.Address, s.aliceBal, 0, 2, s.aliceBal-spend)

	// Mine them. The miner takes transactions only once the mempool has
	// followed the chain to the template's parent (the node's event loop
	// does that just after each block), so wait until a template has both.
	testkit.WaitFor(t, eventTimeout, "a block template with both transfers", func() bool {
		tmpl := callInto[rpcjson.BlockTemplate](t, d, "getblocktemplate")
		if tmpl.Height != 102 || tmpl.PreviousBlockHash != s.blocks[101] {
			t.Fatalf("getblocktemplate builds block %d on %s, want 102 on %s", tmpl.Height, tmpl.PreviousBlockHash, s.blocks[101])
		}
		return len(tmpl.Transactions) == 2 && tmpl.Transactions[0].TxID == id1 && tmpl.Transactions[1].TxID == id2
	})
	mined := callInto[[]chain.Hash](t, d, "generatetoaddress", 1, s.addr(s.miner))
	if len(mined) != 1 {
		t.Fatalf("generatetoaddress 1 returned %v", mined)
	}
	s.blocks = append(s.blocks, mined[0])
	n := s.ws.nextBlock(rpcjson.MethodBlockConnected)
	if n.Hash != mined[0] || n.Height != 102 || n.NTx != 3 || len(n.Tx) != 3 || n.Tx[1] != id1 || n.Tx[2] != id2 {
		t.Errorf("block_connected of block 102 = %+v, want txs [coinbase %s %s]", n, id1, id2)
	}
	removed := map[chain.Hash]string{}
	for range 2 {
		m := s.ws.nextMempool(rpcjson.MethodMempoolRemoved)
		removed[m.TxID] = m.Reason
	}
	if removed[id1] != "block" || removed[id2] != "block" || len(removed) != 2 {
		t.Errorf("mempool_removed = %v, want both transactions with reason \"block\"", removed)
	}
	blk := s.checkBlock(102, 102, 3)
	if blk.Tx[1] != id1 || blk.Tx[2] != id2 {
		t.Errorf("block 102 txs = %v, want coinbase, %s, %s", blk.Tx, id1, id2)
	}
	if pool := callInto[[]chain.Hash](t, d, "getrawmempool"); len(pool) != 0 {
		t.Errorf("getrawmempool after mining = %v, want empty", pool)
	}
	for _, tx := range []*chain.Tx{tx1, tx2} {
		v := decodeJSON[rpcjson.TxVerbose](t, []byte(d.ctlOK(t, "getrawtransaction", tx.TxID().String(), "true")))
		if v.TxID != tx.TxID() || v.BlockHash == nil || *v.BlockHash != mined[0] || v.BlockHeight == nil || *v.BlockHeight != 102 ||
			v.Confirmations == nil || *v.Confirmations != 1 || v.Kind != "transfer" || v.From != s.addr(s.alice.Address) ||
			v.Nonce == nil || *v.Nonce != tx.Nonce || v.Hex != wallet.EncodeTxHex(tx) {
			t.Errorf("getrawtransaction %s true = %+v", tx.TxID(), v)
		}
	}
	if got := callInto[string](t, d, "getrawtransaction", id2); got != hex2 {
		t.Errorf("getrawtransaction %s = %s, want %s", id2, got, hex2)
	}

	s.aliceBal -= spend
	s.minerBal = s.params.CalcSubsidy(102) + tx1.Fee + tx2.Fee
	s.checkAccount(s.alice.Address, s.aliceBal, 2, 2, s.aliceBal)
	s.checkAccount(s.bob, tx1.Amount+tx2.Amount, 0, 0, tx1.Amount+tx2.Amount)
	s.checkAccount(s.miner, s.minerBal, 0, 0, s.minerBal)

	// Replays and bad transactions are refused with Core's codes.
	if e := d.CallErr(t, "sendrawtransaction", hex1); e.Code != rpcjson.CodeVerifyAlreadyInChain {
		t.Errorf("replayed tx: error %d %q, want %d", e.Code, e.Message, rpcjson.CodeVerifyAlreadyInChain)
	}
	stale, err := wallet.BuildTransfer(s.params, s.alice.Private, wallet.Payment{To: s.bob, Amount: 1, Fee: 10_000}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if e := d.CallErr(t, "sendrawtransaction", wallet.EncodeTxHex(stale)); e.Code != rpcjson.CodeVerifyRejected {
		t.Errorf("tx with a used nonce: error %d %q, want %d", e.Code, e.Message, rpcjson.CodeVerifyRejected)
	}
	rich, err := wallet.BuildTransfer(s.params, s.alice.Private, wallet.Payment{To: s.bob, Amount: s.aliceBal, Fee: 10_000}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if e := d.CallErr(t, "sendrawtransaction", wallet.EncodeTxHex(rich)); e.Code != rpcjson.CodeVerifyRejected {
		t.Errorf("overspending tx: error %d %q, want %d", e.Code, e.Message, rpcjson.CodeVerifyRejected)
	}
	if e := d.CallErr(t, "sendrawtransaction", "00ff"); e.Code != rpcjson.CodeDeserializationError {
		t.Errorf("garbage tx: error %d %q, want %d", e.Code, e.Message, rpcjson.CodeDeserializationError)
	}
}

// invalidateAndReconsider mines two empty blocks, invalidates the tip's
// parent (the tip moves back two blocks) and reconsiders it.
func (s *scenario) invalidateAndReconsider() {
	t, d := s.t, s.d
	mined := decodeJSON[[]chain.Hash](t, []byte(d.ctlOK(t, "generatetoaddress", "2", s.addr(s.miner))))
	s.blocks = append(s.blocks, mined...)
	for i, h := range mined {
		if n := s.ws.nextBlock(rpcjson.MethodBlockConnected); n.Hash != h || n.Height != uint64(103+i) {
			t.Fatalf("block_connected = %+v, want %s at %d", n, h, 103+i)
		}
	}
	s.minerBal += s.params.CalcSubsidy(103) + s.params.CalcSubsidy(104)
	b102, b103, b104 := s.blocks[102], s.blocks[103], s.blocks[104]

	if out := d.ctlOK(t, "invalidateblock", b103.String()); out != "" {
		t.Errorf("invalidateblock printed %q, want nothing (null)", out)
	}
	s.checkTip(b102, 102)
	s.expectBlocks(rpcjson.MethodBlockDisconnected, b104, b103)
	s.expectReorg(b102, 102, []chain.Hash{b104, b103}, nil)
	s.checkTips(rpcjson.ChainTip{Height: 104, Hash: b104, BranchLen: 2, Status: "invalid"},
		rpcjson.ChainTip{Height: 102, Hash: b102, Status: "active"})
	if h := callInto[rpcjson.BlockHeaderVerbose](t, d, "getblockheader", b104); h.Confirmations != -1 {
		t.Errorf("invalidated block confirmations = %d, want -1", h.Confirmations)
	}
	s.checkAccount(s.miner, s.params.CalcSubsidy(102)+s.tx1.Fee+s.tx2.Fee, 0, 0, s.params.CalcSubsidy(102)+s.tx1.Fee+s.tx2.Fee)

	if res := d.Call(t, "reconsiderblock", b103); string(res) != "null" {
		t.Errorf("reconsiderblock = %s, want null", res)
	}
	s.checkTip(b104, 104)
	s.expectBlocks(rpcjson.MethodBlockConnected, b103, b104)
	s.checkTips(rpcjson.ChainTip{Height: 104, Hash: b104, Status: "active"})
	s.checkAccount(s.miner, s.minerBal, 0, 0, s.minerBal)
}

// competingBranch builds a second branch from block 103 and switches
// between the two with invalidateblock/reconsiderblock; the WebSocket sees
// every disconnection, connection and reorg.
func (s *scenario) competingBranch() {
	t, d := s.t, s.d
	b103, b104 := s.blocks[103], s.blocks[104]

	d.ctlOK(t, "invalidateblock", b104.String())
	s.checkTip(b103, 103)
	s.expectBlocks(rpcjson.MethodBlockDisconnected, b104)
	s.expectReorg(b103, 103, []chain.Hash{b104}, nil)

	// Two blocks on the other side, paid to carol (so they differ from b104).
	side := callInto[[]chain.Hash](t, d, "generatetoaddress", 2, s.addr(s.carol))
	if len(side) != 2 {
		t.Fatalf("generatetoaddress 2 returned %v", side)
	}
	c104, c105 := side[0], side[1]
	s.checkTip(c105, 105)
	s.expectBlocks(rpcjson.MethodBlockConnected, c104, c105)
	if hdr := callInto[rpcjson.BlockHeaderVerbose](t, d, "getblockheader", c104); hdr.PreviousBlockHash == nil || *hdr.PreviousBlockHash != b103 {
		t.Fatalf("block %s does not build on %s: %+v", c104, b103, hdr)
	}

	// Reconsidering the shorter branch does not move the tip.
	d.Call(t, "reconsiderblock", b104)
	s.checkTip(c105, 105)
	branchTips := []rpcjson.ChainTip{{Height: 105, Hash: c105, Status: "active"}, {Height: 104, Hash: b104, BranchLen: 1, Status: "valid-fork"}}
	s.checkTips(branchTips...)

	// Invalidating the longer branch reorganises onto the other one ...
	d.ctlOK(t, "invalidateblock", c104.String())
	s.checkTip(b104, 104)
	s.expectBlocks(rpcjson.MethodBlockDisconnected, c105, c104)
	s.expectBlocks(rpcjson.MethodBlockConnected, b104)
	s.expectReorg(b103, 103, []chain.Hash{c105, c104}, []chain.Hash{b104})

	// ... and reconsidering it reorganises back: depth 1, fork at 103.
	d.ctlOK(t, "reconsiderblock", c104.String())
	s.checkTip(c105, 105)
	s.expectBlocks(rpcjson.MethodBlockDisconnected, b104)
	s.expectBlocks(rpcjson.MethodBlockConnected, c104, c105)
	s.expectReorg(b103, 103, []chain.Hash{b104}, []chain.Hash{c104, c105})
	s.checkTips(branchTips...)
	s.blocks = append(s.blocks[:104], c104, c105)

	s.checkBlock(105, 105, 1)
	s.checkBlock(104, 105, 1)
	s.checkBlock(102, 105, 3)
	s.minerBal -= s.params.CalcSubsidy(104)
	s.checkAccount(s.miner, s.minerBal, 0, 0, s.minerBal)
	carol := s.params.CalcSubsidy(104) + s.params.CalcSubsidy(105)
	s.checkAccount(s.carol, carol, 0, 0, carol)
	s.checkAccount(s.alice.Address, s.aliceBal, 2, 2, s.aliceBal)
}

// secondInstance: quarryd on a data dir in use fails at once, clearly, and
// leaves the running node and its cookie alone.
func (s *scenario) secondInstance() {
	t := s.t
	cookie, err := os.ReadFile(filepath.Join(s.dataDir, ".cookie"))
	if err != nil {
		t.Fatal(err)
	}
	p := labtest.StartProcess(t, s.bins.quarryd, "--network", "regtest", "--datadir", s.dataDir, "--no-mdns",
		"--p2p-listen", "127.0.0.1:0", "--rpc-listen", labtest.FreeAddr(t), "--metrics-listen", labtest.FreeAddr(t))
	if code := p.ExitCode(stopTimeout); code == 0 || code == -1 {
		t.Errorf("second quarryd on the same data dir exited %d, want a failure status", code)
	}
	if out := p.Output.String(); !strings.Contains(out, "in use") || !strings.Contains(out, s.dataDir) {
		t.Errorf("second instance's error does not say the data dir is in use:\n%s", out)
	}
	if now, err := os.ReadFile(filepath.Join(s.dataDir, ".cookie")); err != nil || string(now) != string(cookie) {
		t.Errorf("the second instance changed the running node's cookie (%v)", err)
	}
	if got := callInto[uint64](t, s.d, "getblockcount"); got != 105 {
		t.Errorf("first node after the second instance failed: getblockcount %d", got)
	}
}

// wrongNetwork: a dev node on the regtest data dir refuses to start.
func (s *scenario) wrongNetwork() {
	t := s.t
	p := labtest.StartProcess(t, s.bins.quarryd, "--network", "dev", "--datadir", s.dataDir, "--no-mdns",
		"--p2p-listen", "127.0.0.1:0", "--rpc-listen", labtest.FreeAddr(t))
	if code := p.ExitCode(stopTimeout); code == 0 || code == -1 {
		t.Errorf("quarryd --network dev on a regtest data dir exited %d, want a failure status", code)
	}
	out := p.Output.String()
	for _, want := range []string{`network "regtest"`, `not "dev"`, "--network regtest"} {
		if !strings.Contains(out, want) {
			t.Errorf("wrong-network error lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, ".cookie")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed dev start left a cookie: %v", err)
	}
}

// checkWSClosed: the subscriber is told the server is going away (1001).
func (s *scenario) checkWSClosed() {
	t := s.t
	deadline := time.After(eventTimeout)
	for {
		select {
		case m, ok := <-s.ws.sub.C:
			if ok {
				t.Errorf("unexpected WebSocket message before shutdown: %s %s", m.Method, m.Params)
				continue
			}
			if err := s.ws.sub.Err(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Errorf("WebSocket ended with %v, want close code 1001 (going away)", err)
			}
			for topic, left := range s.ws.pending {
				if len(left) > 0 {
					t.Errorf("unexpected notifications on %s: %v", topic, left)
				}
			}
			return
		case <-deadline:
			t.Fatal("WebSocket not closed after shutdown")
		}
	}
}

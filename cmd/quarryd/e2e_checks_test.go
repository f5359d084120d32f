package main

// Assertions of the end-to-end scenario: blocks, tips, accounts,
// WebSocket notifications, metrics, authentication and error mapping.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// expectedDifficulty is Core's GetDifficulty for bits, computed
// independently of the server: target(0x1d00ffff) / target(bits).
func expectedDifficulty(bits uint32) float64 {
	one, _ := chain.CompactToBig(0x1d00ffff)
	t, _ := chain.CompactToBig(bits)
	f, _ := new(big.Float).Quo(new(big.Float).SetInt(one), new(big.Float).SetInt(t)).Float64()
	return f
}

// checkBlock checks getblock (verbosity 0, 1, 2; raw HTTP and quarryctl)
// and getblockheader of the main-chain block at height, with the tip at
// tipHeight, and returns the verbose block.
func (s *scenario) checkBlock(height, tipHeight uint64, nTx int) rpcjson.BlockVerbose {
	t, d := s.t, s.d
	t.Helper()
	hash := s.blocks[height]
	raw1 := d.Call(t, "getblock", hash)
	if explicit := d.Call(t, "getblock", hash, 1); !jsonEqual(raw1, explicit) {
		t.Errorf("getblock %s differs from getblock %s 1", hash, hash)
	}
	if viaCtl := d.ctlOK(t, "getblock", hash.String()); !jsonEqual(raw1, []byte(viaCtl)) {
		t.Errorf("quarryctl getblock %s = %s\nraw HTTP = %s", hash, viaCtl, raw1)
	}
	fields := decodeJSON[map[string]json.RawMessage](t, raw1)
	want := []string{"hash", "confirmations", "height", "version", "versionHex", "merkleroot", "time", "mediantime",
		"nonce", "bits", "target", "difficulty", "chainwork", "nTx", "previousblockhash", "size", "tx"}
	if height < tipHeight {
		want = append(want, "nextblockhash")
	}
	for _, k := range want {
		if _, ok := fields[k]; !ok {
			t.Errorf("getblock %d lacks %q: %s", height, k, raw1)
		}
	}
	v := decodeJSON[rpcjson.BlockVerbose](t, raw1)

	// Verbosity 0 is the block itself; everything else must agree with it.
	blk, err := chain.DecodeBlock(mustHex(s, callInto[string](t, d, "getblock", hash, 0)))
	if err != nil {
		t.Fatalf("getblock %s 0: %v", hash, err)
	}
	root, _ := chain.MerkleRoot(blk.TxIDs())
	work := new(big.Int).Mul(chain.CalcWork(s.params.PowLimitBits), big.NewInt(int64(height+1)))
	switch {
	case blk.Hash() != hash || v.Hash != hash:
		t.Errorf("getblock %s: hash %s, decoded block hash %s", hash, v.Hash, blk.Hash())
	case v.Height != height:
		t.Errorf("getblock %s: height %d, want %d", hash, v.Height, height)
	case v.Confirmations != int64(tipHeight-height+1):
		t.Errorf("getblock at %d: confirmations %d, want %d", height, v.Confirmations, tipHeight-height+1)
	case v.PreviousBlockHash == nil || *v.PreviousBlockHash != s.blocks[height-1] || blk.Header.PrevBlock != s.blocks[height-1]:
		t.Errorf("getblock at %d: previousblockhash %v, want %s", height, v.PreviousBlockHash, s.blocks[height-1])
	case height < tipHeight && (v.NextBlockHash == nil || *v.NextBlockHash != s.blocks[height+1]):
		t.Errorf("getblock at %d: nextblockhash %v, want %s", height, v.NextBlockHash, s.blocks[height+1])
	case height == tipHeight && v.NextBlockHash != nil:
		t.Errorf("getblock of the tip has nextblockhash %s", v.NextBlockHash)
	case v.MerkleRoot != root || blk.Header.MerkleRoot != root:
		t.Errorf("getblock at %d: merkleroot %s, computed %s", height, v.MerkleRoot, root)
	case v.NTx != nTx || len(v.Tx) != nTx || !slices.Equal(v.Tx, blk.TxIDs()):
		t.Errorf("getblock at %d: nTx %d, tx %v; want %d txs %v", height, v.NTx, v.Tx, nTx, blk.TxIDs())
	case v.Bits != fmt.Sprintf("%08x", s.params.PowLimitBits) || blk.Header.Bits != s.params.PowLimitBits:
		t.Errorf("getblock at %d: bits %s, want %08x", height, v.Bits, s.params.PowLimitBits)
	case math.Abs(v.Difficulty/expectedDifficulty(s.params.PowLimitBits)-1) > 1e-12:
		t.Errorf("getblock at %d: difficulty %g, want %g", height, v.Difficulty, expectedDifficulty(s.params.PowLimitBits))
	case v.ChainWork != fmt.Sprintf("%064x", work):
		t.Errorf("getblock at %d: chainwork %s, want %064x", height, v.ChainWork, work)
	case v.Size != blk.SerializeSize() || v.Time != blk.Header.Timestamp || v.Nonce != blk.Header.Nonce || v.Version != blk.Header.Version:
		t.Errorf("getblock at %d: size/time/nonce/version %d/%d/%d/%d, block has %d/%d/%d/%d", height,
			v.Size, v.Time, v.Nonce, v.Version, blk.SerializeSize(), blk.Header.Timestamp, blk.Header.Nonce, blk.Header.Version)
	}

	v2 := callInto[rpcjson.BlockVerboseTx](t, d, "getblock", hash, 2)
	if !reflect.DeepEqual(v2.BlockHeaderVerbose, v.BlockHeaderVerbose) || len(v2.Tx) != nTx {
		t.Errorf("getblock %s 2: header %+v or %d txs differ from verbosity 1", hash, v2.BlockHeaderVerbose, len(v2.Tx))
	} else {
		for i, tx := range v2.Tx {
			if tx.TxID != v.Tx[i] {
				t.Errorf("getblock %s 2: tx %d is %s, want %s", hash, i, tx.TxID, v.Tx[i])
			}
		}
		if cb := v2.Tx[0]; cb.Kind != "coinbase" || cb.Height == nil || *cb.Height != height ||
			uint64(cb.Amount) < s.params.CalcSubsidy(height) {
			t.Errorf("getblock %s 2: coinbase %+v", hash, cb)
		}
	}

	hdr := callInto[rpcjson.BlockHeaderVerbose](t, d, "getblockheader", hash)
	if !reflect.DeepEqual(hdr, v.BlockHeaderVerbose) {
		t.Errorf("getblockheader %s = %+v\ngetblock header = %+v", hash, hdr, v.BlockHeaderVerbose)
	}
	hdrHex := callInto[string](t, d, "getblockheader", hash, false)
	if h, err := chain.DecodeHeader(mustHex(s, hdrHex)); err != nil || len(hdrHex) != 2*chain.HeaderSize || h.BlockHash() != hash {
		t.Errorf("getblockheader %s false = %s (%v)", hash, hdrHex, err)
	}
	return v
}

func mustHex(s *scenario, h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		s.t.Fatalf("not hex: %q", h)
	}
	return b
}

// checkTip checks getbestblockhash and getblockcount.
func (s *scenario) checkTip(hash chain.Hash, height uint64) {
	s.t.Helper()
	if got := callInto[chain.Hash](s.t, s.d, "getbestblockhash"); got != hash {
		s.t.Errorf("getbestblockhash = %s, want %s", got, hash)
	}
	if got := callInto[uint64](s.t, s.d, "getblockcount"); got != height {
		s.t.Errorf("getblockcount = %d, want %d", got, height)
	}
}

// checkTips checks getchaintips (ordered by height, highest first).
func (s *scenario) checkTips(want ...rpcjson.ChainTip) {
	s.t.Helper()
	if got := callInto[[]rpcjson.ChainTip](s.t, s.d, "getchaintips"); !slices.Equal(got, want) {
		s.t.Errorf("getchaintips = %+v\nwant %+v", got, want)
	}
}

// checkAccount checks getaccount: confirmed balance and nonce, and the
// pending nonce and balance with the mempool.
func (s *scenario) checkAccount(a chain.Address, balance, nonce, pendingNonce, pendingBalance uint64) {
	t := s.t
	t.Helper()
	acct := callInto[rpcjson.AccountInfo](t, s.d, "getaccount", s.addr(a))
	if acct.Address != s.addr(a) || uint64(acct.Balance) != balance || acct.Nonce != nonce ||
		acct.Pending.Nonce != pendingNonce || uint64(acct.Pending.Balance) != pendingBalance {
		t.Errorf("getaccount %s = balance %s nonce %d pending {nonce %d balance %s txs %d}; want balance %s nonce %d pending {nonce %d balance %s}",
			s.addr(a), acct.Balance, acct.Nonce, acct.Pending.Nonce, acct.Pending.Balance, acct.Pending.TxCount,
			rpcjson.Amount(balance), nonce, pendingNonce, rpcjson.Amount(pendingBalance))
	}
	if best := callInto[chain.Hash](t, s.d, "getbestblockhash"); acct.Tip != best {
		t.Errorf("getaccount bestblockhash %s, tip %s", acct.Tip, best)
	}
}

// expectBlocks takes the next "blocks" notifications, which must be method
// for hashes in this order, with consistent heights and parents.
func (s *scenario) expectBlocks(method string, hashes ...chain.Hash) {
	s.t.Helper()
	for _, h := range hashes {
		n := s.ws.nextBlock(method)
		hdr := callInto[rpcjson.BlockHeaderVerbose](s.t, s.d, "getblockheader", h)
		if n.Hash != h || n.Height != hdr.Height || hdr.PreviousBlockHash == nil || n.PreviousBlockHash != *hdr.PreviousBlockHash ||
			n.NTx != hdr.NTx || len(n.Tx) != n.NTx {
			s.t.Errorf("%s = %+v, want block %s (height %d)", method, n, h, hdr.Height)
		}
	}
}

// expectReorg takes the next "reorgs" notification and checks it.
func (s *scenario) expectReorg(fork chain.Hash, forkHeight uint64, removed, added []chain.Hash) {
	s.t.Helper()
	r := s.ws.nextReorg()
	oldTip, newTip := removed[0], fork
	if len(added) > 0 {
		newTip = added[len(added)-1]
	}
	if added == nil {
		added = []chain.Hash{}
	}
	if r.Depth != len(removed) || r.ForkPoint != fork || r.ForkHeight != forkHeight || r.OldTip != oldTip || r.NewTip != newTip ||
		!slices.Equal(r.Removed, removed) || !slices.Equal(r.Added, added) || r.Added == nil {
		s.t.Errorf("reorg = %+v\nwant depth %d fork %s at %d, removed %v, added %v, old tip %s, new tip %s",
			r, len(removed), fork, forkHeight, removed, added, oldTip, newTip)
	}
}

// checkMetrics scrapes the Prometheus endpoint: the height gauge, the
// chain counters (updated by the node's event loop, so polled) and the
// naming lint.
func (s *scenario) checkMetrics(connected, disconnected, reorgs int) {
	t := s.t
	tip := callInto[uint64](t, s.d, "getblockcount")
	page := s.d.scrape(t)
	if v, ok := metricValue(page, "quarry_chain_height_blocks"); !ok || v != strconv.FormatUint(tip, 10) {
		t.Errorf("quarry_chain_height_blocks = %q (present %v), want %d", v, ok, tip)
	}
	want := map[string]int{
		"quarry_chain_blocks_connected_total":    connected,
		"quarry_chain_blocks_disconnected_total": disconnected,
		"quarry_chain_reorgs_total":              reorgs,
		"quarry_chain_reorg_depth_blocks_count":  reorgs,
	}
	testkit.WaitFor(t, eventTimeout, "the chain counters", func() bool {
		page = s.d.scrape(t)
		for name, n := range want {
			if v, _ := metricValue(page, name); v != strconv.Itoa(n) {
				return false
			}
		}
		return true
	})
	problems, err := promlint.New(strings.NewReader(page)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "quarry_") {
			t.Errorf("metric %s: %s", p.Metric, p.Text)
		}
	}
	for _, prefix := range []string{"quarry_chain_", "quarry_rpc_", "quarry_mempool_", "quarry_miner_", "quarry_p2p_"} {
		if !strings.Contains(page, "\n"+prefix) {
			t.Errorf("no %s* metric on /metrics", prefix)
		}
	}
}

// checkAuthAndErrors: authentication failures are 401 on HTTP and on the
// WebSocket; JSON-RPC errors carry Core's codes and HTTP statuses.
func (s *scenario) checkAuthAndErrors() {
	t, d := s.t, s.d
	user, pass := d.cookie(t)
	const body = `{"jsonrpc":"1.0","id":1,"method":"getblockcount","params":[]}`
	for _, tc := range []struct{ name, auth string }{
		{"no auth", ""},
		{"wrong password", basicAuth(user, strings.Repeat("0", 64))},
		{"wrong user", basicAuth("alice", pass)},
		{"not basic", "Bearer " + pass},
		{"bad base64", "Basic !!!"},
	} {
		r, err := d.post(body, tc.auth)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.status != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("%s: HTTP %d, WWW-Authenticate %q; want 401 with a Basic challenge", tc.name, r.status, r.header.Get("WWW-Authenticate"))
		}
		if strings.Contains(string(r.body), "result") {
			t.Errorf("%s: a 401 carried a result: %s", tc.name, r.body)
		}
	}
	// The WebSocket endpoint needs the same credentials.
	dialer := websocket.Dialer{HandshakeTimeout: callTimeout}
	for _, hdr := range []http.Header{nil, {"Authorization": {basicAuth(user, "wrong")}}} {
		conn, resp, err := dialer.Dial("ws://"+d.RPCAddr+"/ws", hdr)
		if err == nil {
			conn.Close()
			t.Errorf("WebSocket with auth %v accepted", hdr)
		} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("WebSocket with auth %v: %v, want HTTP 401", hdr, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
	// quarryctl with wrong credentials.
	_, errOut, code := d.ctl(t, "--rpc-user", "x", "--rpc-password", "y", "getblockcount")
	if code != 1 || !strings.Contains(errOut, "Authorization failed") {
		t.Errorf("quarryctl with a wrong password: exit %d, stderr %q", code, errOut)
	}

	auth := basicAuth(user, pass)
	if r, err := d.http.Get("http://" + d.RPCAddr + "/"); err != nil || r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /: %v %v, want 405", r.StatusCode, err)
	} else {
		r.Body.Close()
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code       int
		msg        string
	}{
		{"unknown method 1.0", `{"jsonrpc":"1.0","id":7,"method":"nosuchmethod","params":[]}`, 404, rpcjson.CodeMethodNotFound, "Method not found"},
		{"unknown method 2.0", `{"jsonrpc":"2.0","id":7,"method":"nosuchmethod"}`, 200, rpcjson.CodeMethodNotFound, "Method not found"},
		{"parse error", `{"method":`, 500, rpcjson.CodeParseError, "Parse error"},
		{"bad envelope", `{"id":7,"params":[]}`, 400, rpcjson.CodeInvalidRequest, "Missing method"},
		{"string for a number", `{"id":7,"method":"getblockhash","params":["ten"]}`, 500, rpcjson.CodeTypeError, "JSON value of type string is not of expected type number"},
		{"height out of range", `{"id":7,"method":"getblockhash","params":[100000]}`, 500, rpcjson.CodeInvalidParameter, "Block height out of range"},
		{"short hash", `{"id":7,"method":"getblock","params":["abc"]}`, 500, rpcjson.CodeInvalidParameter, "blockhash must be of length 64"},
		{"unknown block", `{"id":7,"method":"getblock","params":["` + strings.Repeat("0", 64) + `"]}`, 500, rpcjson.CodeInvalidAddressOrKey, "Block not found"},
		{"bad verbosity", `{"id":7,"method":"getblock","params":["` + s.blocks[1].String() + `",3]}`, 500, rpcjson.CodeInvalidParameter, "verbosity"},
		{"too many arguments", `{"id":7,"method":"getblockcount","params":[1]}`, 500, rpcjson.CodeMiscError, "getblockcount"},
		{"missing argument", `{"id":7,"method":"getblock","params":[]}`, 500, rpcjson.CodeMiscError, "getblock"},
		{"unknown named parameter", `{"id":7,"method":"getblockhash","params":{"height":1,"bogus":2}}`, 500, rpcjson.CodeInvalidParameter, "Unknown named parameter bogus"},
		{"bad address", `{"id":7,"method":"getaccount","params":["qr1nonsense"]}`, 500, rpcjson.CodeInvalidAddressOrKey, "Invalid address"},
		{"address of another network", `{"id":7,"method":"getaccount","params":["` + s.alice.Address.Encode(chain.DevParams()) + `"]}`, 500, rpcjson.CodeInvalidAddressOrKey, "another network"},
		{"unknown transaction", `{"id":7,"method":"getrawtransaction","params":["` + strings.Repeat("1", 64) + `"]}`, 500, rpcjson.CodeInvalidAddressOrKey, "No such mempool or blockchain transaction"},
	} {
		r, err := d.post(tc.body, auth)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var resp rpcResponse
		if err := json.Unmarshal(r.body, &resp); err != nil {
			t.Errorf("%s: HTTP %d body %q: %v", tc.name, r.status, r.body, err)
			continue
		}
		if r.status != tc.status || resp.Error == nil || resp.Error.Code != tc.code || !strings.Contains(resp.Error.Message, tc.msg) {
			t.Errorf("%s: HTTP %d %s; want HTTP %d, code %d, message containing %q", tc.name, r.status, r.body, tc.status, tc.code, tc.msg)
		}
		fields := decodeJSON[map[string]json.RawMessage](t, r.body)
		_, hasResult := fields["result"]
		if strings.Contains(tc.body, `"2.0"`) == hasResult {
			t.Errorf("%s: result member present = %v in %s (1.0 replies carry result:null, 2.0 errors none)", tc.name, hasResult, r.body)
		}
	}

	// A batch answers 200 with each reply in order, errors inside.
	r, err := d.post(`[{"jsonrpc":"2.0","id":1,"method":"getblockcount"},{"jsonrpc":"2.0","id":2,"method":"nosuchmethod"},`+
		`{"jsonrpc":"2.0","method":"getblockcount"}]`, auth)
	if err != nil {
		t.Fatal(err)
	}
	batch := decodeJSON[[]rpcResponse](t, r.body)
	if r.status != 200 || len(batch) != 2 || string(batch[0].ID) != "1" || string(batch[0].Result) != "105" ||
		batch[1].Error == nil || batch[1].Error.Code != rpcjson.CodeMethodNotFound {
		t.Errorf("batch: HTTP %d %s", r.status, r.body)
	}

	// quarryctl prints Core's error report and exits with |code| mod 256.
	_, errOut, code = d.ctl(t, "nosuchmethod")
	if code != (-rpcjson.CodeMethodNotFound)%256 || !strings.Contains(errOut, "error code: -32601") || !strings.Contains(errOut, "Method not found") {
		t.Errorf("quarryctl nosuchmethod: exit %d, stderr %q; want exit %d and error code -32601", code, errOut, (-rpcjson.CodeMethodNotFound)%256)
	}
	_, errOut, code = d.ctl(t, "getblockhash", "100000")
	if code != 8 || !strings.Contains(errOut, "error code: -8") {
		t.Errorf("quarryctl getblockhash 100000: exit %d, stderr %q; want exit 8", code, errOut)
	}
	// Named arguments through quarryctl reach the same method.
	if got := d.ctlOK(t, "--named", "getblockhash", "height=1"); got != s.blocks[1].String() {
		t.Errorf("quarryctl --named getblockhash height=1 = %q", got)
	}
	// The WebSocket runs ordinary methods and maps errors the same way.
	replies := wsRequests(t, s.d, []any{"getblockcount"}, []any{"nosuchmethod"}, []any{"subscribe", "weather"})
	if m := replies[0]; m.Error != nil || string(m.Result) != "105" {
		t.Errorf("getblockcount over the WebSocket: %+v", m)
	}
	if m := replies[1]; m.Error == nil || m.Error.Code != rpcjson.CodeMethodNotFound {
		t.Errorf("unknown method over the WebSocket: %+v", m)
	}
	if m := replies[2]; m.Error == nil || m.Error.Code != rpcjson.CodeInvalidParameter {
		t.Errorf("subscribe to an unknown topic: %+v", m)
	}
}

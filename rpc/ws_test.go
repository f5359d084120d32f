package rpc_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

func dialWS(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Authorization": {basicAuth(testUser, testPass)}}
	c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws", h)
	if err != nil {
		t.Fatalf("dial ws: %v (%v)", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wsMsg is any server message: a reply (ID set) or a notification.
type wsMsg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *rpcjson.Error  `json:"error"`
}

func readMsg(t testing.TB, c *websocket.Conn) wsMsg {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m wsMsg
	if err := c.ReadJSON(&m); err != nil {
		t.Fatalf("read ws: %v", err)
	}
	return m
}

func wsCall(t testing.TB, c *websocket.Conn, method string, params string) wsMsg {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":"x","method":%q,"params":%s}`, method, params))); err != nil {
		t.Fatal(err)
	}
	return readMsg(t, c)
}

func subscribe(t testing.TB, c *websocket.Conn, topic string) rpcjson.SubscribeResult {
	t.Helper()
	m := wsCall(t, c, "subscribe", fmt.Sprintf("[%q]", topic))
	var r rpcjson.SubscribeResult
	if m.Error != nil || json.Unmarshal(m.Result, &r) != nil || r.Topic != topic {
		t.Fatalf("subscribe %s: %+v %s", topic, m.Error, m.Result)
	}
	return r
}

func TestWSBlocksInOrder(t *testing.T) {
	f := rpctest.New()
	url := runServer(t, newServer(t, f, nil))
	c := dialWS(t, url)
	sub := subscribe(t, c, "blocks")
	if sub.Seq != 0 {
		t.Fatalf("first subscription seq %d", sub.Seq)
	}
	var mined []*chain.Block
	for i := 0; i < 5; i++ {
		mined = append(mined, f.MineBlock())
	}
	for i, b := range mined {
		m := readMsg(t, c)
		var p rpcjson.BlockNotification
		if m.Method != "block_connected" || json.Unmarshal(m.Params, &p) != nil {
			t.Fatalf("notification %d: %+v", i, m)
		}
		if p.Seq != uint64(i+1) || p.Hash != b.Hash() || p.Height != uint64(6+i) || p.PreviousBlockHash != b.Header.PrevBlock ||
			p.NTx != 1 || len(p.Tx) != 1 || p.Tx[0] != b.Txs[0].TxID() || p.Bits != "207fffff" || p.Size != b.SerializeSize() {
			t.Fatalf("notification %d: %+v, want block %s", i, p, b.Hash())
		}
	}
	// Ordinary methods work over the socket too, in both dialects.
	if m := wsCall(t, c, "getblockcount", "[]"); string(m.Result) != "10" {
		t.Fatalf("getblockcount over ws: %+v", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"id":5,"method":"getbestblockhash"}`)); err != nil {
		t.Fatal(err)
	}
	if m := readMsg(t, c); string(m.ID) != "5" || !strings.Contains(string(m.Result), mined[4].Hash().String()) {
		t.Fatalf("v1 over ws: %+v", m)
	}
	// A second subscriber starts after the numbers already sent.
	c2 := dialWS(t, url)
	if s2 := subscribe(t, c2, "blocks"); s2.Seq != 5 {
		t.Fatalf("late subscriber seq %d, want 5", s2.Seq)
	}
}

func TestWSReorg(t *testing.T) {
	f := rpctest.New()
	url := runServer(t, newServer(t, f, nil))
	blocks, reorgs := dialWS(t, url), dialWS(t, url)
	subscribe(t, blocks, "blocks")
	subscribe(t, reorgs, "reorgs")
	tip := f.Tip()
	h5, _ := f.HashAtHeight(5)
	h4, _ := f.HashAtHeight(4)
	var side chain.Hash
	for _, tp := range f.ChainTips() {
		if tp.Status == "valid-fork" {
			side = tp.Hash
		}
	}
	a1, a2 := chain.DoubleSHA256([]byte("a1")), chain.DoubleSHA256([]byte("a2"))
	// A two-block reorg in the chain's event order.
	events := []rpc.Notification{
		{Kind: rpc.NotifyBlockDisconnected, Hash: h5, Height: 5},
		{Kind: rpc.NotifyBlockDisconnected, Hash: h4, Height: 4},
		{Kind: rpc.NotifyBlockConnected, Hash: side, Height: 4},
		{Kind: rpc.NotifyBlockConnected, Hash: a1, Height: 5},
		{Kind: rpc.NotifyBlockConnected, Hash: a2, Height: 6},
		{Kind: rpc.NotifyReorg, Reorg: &rpc.Reorg{ForkPoint: tip.Hash, ForkHeight: 3, Removed: []chain.Hash{h5, h4}, Added: []chain.Hash{side, a1, a2}, OldTip: h5, NewTip: a2}},
	}
	for _, e := range events {
		if !f.Emit(e) {
			t.Fatal("emit dropped")
		}
	}
	want := []struct {
		method string
		hash   chain.Hash
	}{{"block_disconnected", h5}, {"block_disconnected", h4}, {"block_connected", side}, {"block_connected", a1}, {"block_connected", a2}}
	for i, w := range want {
		m := readMsg(t, blocks)
		var p rpcjson.BlockNotification
		_ = json.Unmarshal(m.Params, &p)
		if m.Method != w.method || p.Hash != w.hash || p.Seq != uint64(i+1) {
			t.Fatalf("blocks[%d] = %s %s seq %d, want %s %s seq %d", i, m.Method, p.Hash, p.Seq, w.method, w.hash, i+1)
		}
	}
	m := readMsg(t, reorgs)
	var r rpcjson.ReorgNotification
	if m.Method != "reorg" || json.Unmarshal(m.Params, &r) != nil {
		t.Fatalf("reorg: %+v", m)
	}
	if r.Seq != 1 || r.Depth != 2 || r.ForkPoint != tip.Hash || r.ForkHeight != 3 || len(r.Removed) != 2 || r.Removed[0] != h5 ||
		len(r.Added) != 3 || r.Added[0] != side || r.NewTip != a2 || r.OldTip != h5 {
		t.Fatalf("reorg params %+v", r)
	}
}

func TestWSMempool(t *testing.T) {
	f := rpctest.New()
	s := newServer(t, f, nil)
	url := runServer(t, s)
	c := dialWS(t, url)
	subscribe(t, c, "mempool")
	tx := f.Transfer(2, rpctest.KeyAddress(1), 0, chain.Coin, 1000, "")
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"sendrawtransaction","params":["%x"]}`, tx.Bytes())
	if st, resp, _ := httpPost(t, url, basicAuth(testUser, testPass), body); st != 200 || !strings.Contains(resp, tx.TxID().String()) {
		t.Fatalf("send: %d %s", st, resp)
	}
	m := readMsg(t, c)
	var p rpcjson.MempoolNotification
	if m.Method != "mempool_added" || json.Unmarshal(m.Params, &p) != nil {
		t.Fatalf("mempool notification %+v", m)
	}
	if p.Seq != 1 || p.TxID != tx.TxID() || p.From != rpctest.KeyAddress(2).Encode(f.Params()) || p.Amount == nil || *p.Amount != chain.Coin || p.Nonce == nil || *p.Nonce != 0 {
		t.Fatalf("params %+v", p)
	}
	f.Emit(rpc.Notification{Kind: rpc.NotifyMempoolRemoved, TxID: tx.TxID(), Reason: "block"})
	m = readMsg(t, c)
	_ = json.Unmarshal(m.Params, &p)
	if m.Method != "mempool_removed" || p.Seq != 2 || p.Reason != "block" || p.TxID != tx.TxID() {
		t.Fatalf("removal %+v %+v", m, p)
	}
}

func TestWSSubscribeErrors(t *testing.T) {
	f := rpctest.New()
	url := runServer(t, newServer(t, f, nil))
	c := dialWS(t, url)
	for _, tc := range []struct{ params string }{{`["nope"]`}, {`[]`}, {`[1]`}, {`["blocks","reorgs"]`}} {
		if m := wsCall(t, c, "subscribe", tc.params); m.Error == nil || m.Error.Code != rpcjson.CodeInvalidParameter && m.Error.Code != rpcjson.CodeTypeError {
			t.Errorf("subscribe %s: %+v", tc.params, m)
		}
	}
	subscribe(t, c, "blocks")
	if m := wsCall(t, c, "unsubscribe", `{"topic":"blocks"}`); string(m.Result) != "true" {
		t.Fatalf("unsubscribe: %+v", m)
	}
	f.MineBlock()
	// Nothing arrives for an unsubscribed topic: the next message is the
	// reply to this call.
	if m := wsCall(t, c, "getblockcount", "[]"); string(m.Result) != "6" || m.Method != "" {
		t.Fatalf("after unsubscribe: %+v", m)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if m := readMsg(t, c); m.Error == nil || m.Error.Code != rpcjson.CodeParseError {
		t.Fatalf("garbage: %+v", m)
	}
	// A notification (no id) gets no reply.
	_ = c.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","method":"getblockcount"}`))
	if m := wsCall(t, c, "uptime", "[]"); m.Error != nil || string(m.ID) != `"x"` {
		t.Fatalf("after notification: %+v", m)
	}
}

func TestWSAuthAndNoEvents(t *testing.T) {
	f := rpctest.New()
	f.NoEvents = true
	url := runServer(t, newServer(t, f, nil))
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/ws"
	_, resp, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated dial: %v %v", err, resp)
	}
	c := dialWS(t, url)
	if m := wsCall(t, c, "subscribe", `["blocks"]`); m.Error == nil || m.Error.Code != rpcjson.CodeMiscError {
		t.Fatalf("subscribe without events: %+v", m)
	}
	// waitfornewblock without events waits out its timeout.
	if m := wsCall(t, c, "waitfornewblock", `[5]`); m.Error != nil {
		t.Fatalf("waitfornewblock: %+v", m)
	}
}

// TestWSSlowSubscriber: a subscriber that stops reading is disconnected
// with 1008 once its queue fills, while the event source never blocks and a
// reading subscriber gets every notification in order.
func TestWSSlowSubscriber(t *testing.T) {
	f := rpctest.New()
	reg := prometheus.NewRegistry()
	s := newServer(t, f, func(c *rpc.Config) { c.WSQueueSize = 8; c.Registerer = reg })
	url := runServer(t, s)
	slow, fast := dialWS(t, url), dialWS(t, url)
	subscribe(t, slow, "mempool")
	subscribe(t, fast, "mempool")

	// The fast reader checks order and reports each notification, so the
	// emitter never gets more than a few ahead of it.
	got := make(chan error, 1)
	progress := make(chan uint64, 64)
	go func() {
		want := uint64(1)
		for {
			_ = fast.SetReadDeadline(time.Now().Add(10 * time.Second))
			var m wsMsg
			if err := fast.ReadJSON(&m); err != nil {
				got <- err
				return
			}
			if m.Method == "" { // reply to the final getblockcount
				got <- nil
				return
			}
			var p rpcjson.MempoolNotification
			if err := json.Unmarshal(m.Params, &p); err != nil || p.Seq != want {
				got <- fmt.Errorf("fast reader: seq %d, want %d (%v)", p.Seq, want, err)
				return
			}
			progress <- want
			want++
		}
	}()
	memo := strings.Repeat("m", chain.MaxMemoSize)
	tx := f.Transfer(2, rpctest.KeyAddress(1), 0, 1, 1, memo)
	deadline := time.Now().Add(30 * time.Second)
	sent := uint64(0)
	for sumFamily(t, reg, "quarry_rpc_websocket_disconnects_total", map[string]string{"reason": "slow"}) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slow subscriber not disconnected after %d notifications", sent)
		}
		for i := 0; i < 64; i++ {
			for j := 0; j < 4; j++ {
				f.Emit(rpc.Notification{Kind: rpc.NotifyMempoolAdded, TxID: tx.TxID(), Tx: tx}) // never blocks
				sent++
			}
			for seen := uint64(0); seen < sent; {
				select {
				case seen = <-progress:
				case err := <-got:
					t.Fatalf("fast reader stopped after %d: %v", sent, err)
				}
			}
		}
	}
	_ = fast.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"getblockcount"}`))
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	t.Logf("slow subscriber disconnected after %d notifications", sent)
	// The slow client finds its contiguous prefix, then the 1008 close.
	want := uint64(1)
	for {
		_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m wsMsg
		err := slow.ReadJSON(&m)
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
				t.Fatalf("slow client ended with %v, want close 1008", err)
			}
			break
		}
		var p rpcjson.MempoolNotification
		if json.Unmarshal(m.Params, &p) != nil || p.Seq != want {
			t.Fatalf("slow client: seq %d, want %d", p.Seq, want)
		}
		want++
	}
	if want-1 >= sent {
		t.Fatalf("slow client received all %d notifications", sent)
	}
	testkit.WaitFor(t, 10*time.Second, "one WebSocket client", func() bool { return gaugeValue(t, reg, "quarry_rpc_websocket_clients") == 1 })
}

// TestWSLostEvents: when the source reports dropped events, subscribers
// are closed with 1013 instead of silently missing notifications.
func TestWSLostEvents(t *testing.T) {
	f := rpctest.New()
	url := runServer(t, newServer(t, f, nil))
	c := dialWS(t, url)
	subscribe(t, c, "blocks")
	f.Emit(rpc.Notification{Kind: rpc.NotifyBlockConnected, Lost: 3, Hash: chain.DoubleSHA256([]byte("x")), Height: 9})
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != websocket.CloseTryAgainLater {
				t.Fatalf("got %v, want close 1013", err)
			}
			return
		}
	}
}

func TestWSShutdownCloses(t *testing.T) {
	f := rpctest.New()
	url, stop := runServerStop(t, newServer(t, f, nil))
	c := dialWS(t, url)
	subscribe(t, c, "blocks")
	stop()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("got %v, want close 1001", err)
	}
}

func TestWSClientLimit(t *testing.T) {
	f := rpctest.New()
	url := runServer(t, newServer(t, f, func(c *rpc.Config) { c.MaxWSClients = 1 }))
	dialWS(t, url)
	h := http.Header{"Authorization": {basicAuth(testUser, testPass)}}
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/ws", h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second client: %v %v", err, resp)
	}
}

package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// start runs an RPC server over a fresh fake until the test ends.
func start(t *testing.T) (*rpctest.Backend, *rpc.Server, string) {
	t.Helper()
	f := rpctest.New()
	s, err := rpc.New(rpc.Config{Backend: f, ListenAddr: "127.0.0.1:0", User: "u", Password: "p", AuthFailureDelay: -1, Now: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunReady(t, s.Run, s.Ready(), 10*time.Second)
	return f, s, s.Addr().String()
}

func ctx(t *testing.T) context.Context { return testkit.Context(t, 10*time.Second) }

func TestCallAndTyped(t *testing.T) {
	f, _, addr := start(t)
	c := client.New(addr, "u", "p")
	n, err := c.GetBlockCount(ctx(t))
	if err != nil || n != 5 {
		t.Fatalf("GetBlockCount = %d, %v", n, err)
	}
	best, err := c.GetBestBlockHash(ctx(t))
	if err != nil || best != f.Tip().Hash {
		t.Fatalf("GetBestBlockHash = %s, %v", best, err)
	}
	h3, _ := f.HashAtHeight(3)
	if h, err := c.GetBlockHash(ctx(t), 3); err != nil || h != h3 {
		t.Fatalf("GetBlockHash = %s, %v", h, err)
	}
	blk, err := c.GetBlock(ctx(t), h3)
	if err != nil || blk.Hash() != h3 || len(blk.Txs) != 2 {
		t.Fatalf("GetBlock: %v", err)
	}
	v, err := c.GetBlockVerbose(ctx(t), h3)
	if err != nil || v.Height != 3 || len(v.Tx) != 2 || v.Confirmations != 3 {
		t.Fatalf("GetBlockVerbose = %+v, %v", v, err)
	}
	info, err := c.GetBlockchainInfo(ctx(t))
	if err != nil || info.Chain != "regtest" || info.Blocks != 5 {
		t.Fatalf("GetBlockchainInfo = %+v, %v", info, err)
	}
	acct, err := c.GetAccount(ctx(t), rpctest.KeyAddress(2).Encode(f.Params()))
	if err != nil || acct.Balance != 10*chain.Coin || acct.Nonce != 0 {
		t.Fatalf("GetAccount = %+v, %v", acct, err)
	}
	tx := f.Transfer(2, rpctest.KeyAddress(1), 0, chain.Coin, 1000, "")
	if id, err := c.SendRawTransaction(ctx(t), tx); err != nil || id != tx.TxID() {
		t.Fatalf("SendRawTransaction = %s, %v", id, err)
	}
	pool, err := c.GetRawMempool(ctx(t))
	if err != nil || len(pool) != 4 {
		t.Fatalf("GetRawMempool = %v, %v", pool, err)
	}
	hashes, err := c.GenerateToAddress(ctx(t), 2, rpctest.KeyAddress(3).Encode(f.Params()))
	if err != nil || len(hashes) != 2 || hashes[1] != f.Tip().Hash {
		t.Fatalf("GenerateToAddress = %v, %v", hashes, err)
	}
	if tips, err := c.GetChainTips(ctx(t)); err != nil || len(tips) != 2 || tips[0].Height != 7 {
		t.Fatalf("GetChainTips = %+v, %v", tips, err)
	}
	if err := c.Partition(ctx(t), "12D3KooWPeerA"); err != nil {
		t.Fatal(err)
	}
	ni, err := c.GetNetworkInfo(ctx(t))
	if err != nil || len(ni.Partitioned) != 1 {
		t.Fatalf("GetNetworkInfo = %+v, %v", ni, err)
	}
	if err := c.Heal(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if peers, err := c.GetPeerInfo(ctx(t)); err != nil || len(peers) != 2 {
		t.Fatalf("GetPeerInfo = %v, %v", peers, err)
	}
	if ref, err := c.WaitForNewBlock(ctx(t), 1); err != nil || ref.Height != 7 {
		t.Fatalf("WaitForNewBlock = %+v, %v", ref, err)
	}
	var named string
	if err := c.CallNamed(ctx(t), "getblockhash", map[string]json.RawMessage{"height": json.RawMessage("1")}, &named); err != nil || len(named) != 64 {
		t.Fatalf("CallNamed = %q, %v", named, err)
	}
	if err := c.Stop(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	_, _, addr := start(t)
	c := client.New("http://"+addr+"/", "u", "p")
	err := c.Call(ctx(t), "getblockhash", []json.RawMessage{json.RawMessage("99")}, nil)
	var re *client.RPCError
	if !errors.As(err, &re) || re.Code != rpcjson.CodeInvalidParameter || re.Message != "Block height out of range" {
		t.Fatalf("got %v", err)
	}
	if err := c.Call(ctx(t), "nosuch", nil, nil); !errors.As(err, &re) || re.Code != rpcjson.CodeMethodNotFound {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := client.New(addr, "u", "wrong").GetBlockCount(ctx(t)); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("bad password: %v", err)
	}
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Work queue depth exceeded", http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	var he *client.HTTPError
	if _, err := client.New(busy.URL, "", "").GetBlockCount(ctx(t)); !errors.As(err, &he) || he.StatusCode != 503 {
		t.Fatalf("503: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	_, err = client.New(closed, "u", "p").GetBlockCount(ctx(t))
	if !client.IsConnectionError(err) {
		t.Fatalf("closed port: %v is not a connection error", err)
	}
	if client.IsConnectionError(re) || client.IsConnectionError(nil) {
		t.Fatal("RPC error classified as connection error")
	}
}

func TestSubscribe(t *testing.T) {
	f, _, addr := start(t)
	c := client.New(addr, "u", "p")
	sub, err := c.Subscribe(ctx(t), "blocks", "mempool")
	if err != nil {
		t.Fatal(err)
	}
	if sub.Seqs["blocks"] != 0 || sub.Seqs["mempool"] != 0 {
		t.Fatalf("seqs %v", sub.Seqs)
	}
	b := f.MineBlock()
	tx := f.Transfer(2, rpctest.KeyAddress(1), 0, chain.Coin, 1000, "")
	if _, err := c.SendRawTransaction(ctx(t), tx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		select {
		case n := <-sub.C:
			got = append(got, n.Method)
			switch n.Method {
			case rpcjson.MethodBlockConnected:
				var p rpcjson.BlockNotification
				if json.Unmarshal(n.Params, &p) != nil || p.Hash != b.Hash() || p.Seq != 1 {
					t.Fatalf("block notification %s", n.Params)
				}
			case rpcjson.MethodMempoolAdded:
				var p rpcjson.MempoolNotification
				if json.Unmarshal(n.Params, &p) != nil || p.TxID != tx.TxID() || p.Seq != 1 {
					t.Fatalf("mempool notification %s", n.Params)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("notifications: got %v", got)
		}
	}
	if got[0] != rpcjson.MethodBlockConnected || got[1] != rpcjson.MethodMempoolAdded {
		t.Fatalf("order %v", got)
	}
	if err := sub.Close(); err != nil || sub.Err() != nil {
		t.Fatalf("Close: %v, Err: %v", err, sub.Err())
	}
	_ = sub.Close()
	if _, err := c.Subscribe(ctx(t), "nope"); err == nil {
		t.Fatal("unknown topic accepted")
	}
	if _, err := client.New(addr, "u", "x").Subscribe(ctx(t), "blocks"); !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("bad password: %v", err)
	}
}

func TestSubscriptionEndsAtShutdown(t *testing.T) {
	f := rpctest.New()
	s, err := rpc.New(rpc.Config{Backend: f, ListenAddr: "127.0.0.1:0", User: "u", Password: "p", Now: f.Now})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	<-s.Ready()
	sub, err := client.New(s.Addr().String(), "u", "p").Subscribe(ctx(t), "blocks")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range sub.C {
	}
	var ce *websocket.CloseError
	if !errors.As(sub.Err(), &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("Err = %v, want close 1001", sub.Err())
	}
	_ = sub.Close()
}

package rpc_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

const (
	testUser = "alice"
	testPass = "s3cret"
)

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// newServer builds a server over f with test settings (no auth delay);
// mod may adjust the config.
func newServer(t testing.TB, f *rpctest.Backend, mod func(*rpc.Config)) *rpc.Server {
	t.Helper()
	cfg := rpc.Config{
		Backend:          f,
		ListenAddr:       "127.0.0.1:0",
		User:             testUser,
		Password:         testPass,
		AuthFailureDelay: -1,
		Now:              f.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := rpc.New(cfg)
	if err != nil {
		t.Fatalf("rpc.New: %v", err)
	}
	return s
}

// post sends a body to the handler in-process and returns status and body.
func post(t testing.TB, h http.Handler, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Authorization", basicAuth(testUser, testPass))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// runServer runs s until the test ends and returns its base URL.
func runServer(t testing.TB, s *rpc.Server) string {
	t.Helper()
	url, stop := runServerStop(t, s)
	t.Cleanup(stop)
	return url
}

// runServerStop runs s and returns its base URL and a function that stops
// it and waits for Run to return (idempotent; Run's error fails the test).
func runServerStop(t testing.TB, s *rpc.Server) (string, func()) {
	t.Helper()
	stop := testkit.RunReady(t, s.Run, s.Ready(), 10*time.Second)
	return "http://" + s.Addr().String(), func() { _ = stop() }
}

// httpPost posts over the network with the given credentials.
func httpPost(t testing.TB, url, auth, body string) (int, string, http.Header) {
	t.Helper()
	st, b, h, err := tryPost(url, auth, body)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	return st, b, h
}

// tryPost is httpPost for goroutines other than the test's: it returns
// the error instead of failing the test.
func tryPost(url, auth, body string) (int, string, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// fixtures maps the {{name}} placeholders of the golden requests to values
// derived from a fresh fake (deterministic).
func fixtures(t testing.TB, f *rpctest.Backend) *strings.Replacer {
	t.Helper()
	p := f.Params()
	var pairs []string
	add := func(k, v string) { pairs = append(pairs, "{{"+k+"}}", v) }
	names := []string{"genesis", "h1", "h2", "h3", "h4", "h5"}
	var blocks []*chain.Block
	for i, n := range names {
		h, ok := f.HashAtHeight(uint64(i))
		if !ok {
			t.Fatalf("no block at %d", i)
		}
		add(n, h.String())
		b, err := f.Block(h)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	for _, tip := range f.ChainTips() {
		if tip.Status == "valid-fork" {
			add("side", tip.Hash.String())
		}
	}
	add("tx3", blocks[3].Txs[1].TxID().String())
	add("cb1", blocks[1].Txs[0].TxID().String())
	add("h3hex", hex.EncodeToString(blocks[3].Bytes()))
	for i, id := range f.Mempool() {
		add("mp"+string(rune('0'+i)), id.String())
	}
	for i := 1; i <= 3; i++ {
		add("addr"+string(rune('0'+i)), rpctest.KeyAddress(i).Encode(p))
	}
	add("mainaddr", rpctest.KeyAddress(1).Encode(chain.MainParams()))
	newTx := f.Transfer(2, rpctest.KeyAddress(1), 0, chain.Coin, 1000, "")
	add("newtx", hex.EncodeToString(newTx.Bytes()))
	add("newtxid", newTx.TxID().String())
	bad := f.Transfer(2, rpctest.KeyAddress(1), 0, chain.Coin, 1000, "")
	bad.Sig[40] ^= 1
	add("badsigtx", hex.EncodeToString(bad.Bytes()))
	low := f.Transfer(1, rpctest.KeyAddress(2), 0, 5, 1000, "")
	add("lowtx", hex.EncodeToString(low.Bytes()))
	rich := f.Transfer(2, rpctest.KeyAddress(1), 0, 1000*chain.Coin, 1000, "")
	add("richtx", hex.EncodeToString(rich.Bytes()))
	add("cbtx", hex.EncodeToString(blocks[1].Txs[0].Bytes()))

	tip := blocks[5]
	mk := func(prev chain.Hash, root *chain.Hash, wantValid bool) (string, string) {
		cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: 6, To: rpctest.KeyAddress(2), Amount: p.CalcSubsidy(6)}
		b := &chain.Block{Header: chain.Header{Version: 1, PrevBlock: prev, Timestamp: tip.Header.Timestamp + 600, Bits: p.PowLimitBits}, Txs: []*chain.Tx{cb}}
		b.Header.MerkleRoot, _ = chain.MerkleRoot(b.TxIDs())
		if root != nil {
			b.Header.MerkleRoot = *root
		}
		for n := uint32(0); ; n++ {
			b.Header.Nonce = n
			if (chain.CheckProofOfWork(b.Hash(), b.Header.Bits, p.PowLimit) == nil) == wantValid {
				break
			}
		}
		return hex.EncodeToString(b.Bytes()), b.Hash().String()
	}
	bogus := chain.DoubleSHA256([]byte("bogus root"))
	var unknown chain.Hash
	unknown[0] = 1
	badMerkle, _ := mk(tip.Hash(), &bogus, true)
	highHash, _ := mk(tip.Hash(), nil, false)
	orphan, _ := mk(unknown, nil, true)
	newBlock, newHash := mk(tip.Hash(), nil, true)
	add("badmerkleblock", badMerkle)
	add("highhashblock", highHash)
	add("orphanblock", orphan)
	add("newblock", newBlock)
	add("newblockhash", newHash)
	add("unknownhash", chain.DoubleSHA256([]byte("unknown")).String())
	return strings.NewReplacer(pairs...)
}

// indentJSON pretty-prints a JSON body for golden files (whitespace only;
// key order and values unchanged).
func indentJSON(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		return s
	}
	return b.String()
}

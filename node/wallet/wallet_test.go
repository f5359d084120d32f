package wallet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// fakeNode is an AccountReader plus submit function. With lag set,
// PendingNonce ignores submitted transactions (an asynchronous submit path).
type fakeNode struct {
	mu        sync.Mutex
	accts     map[chain.Address]chain.Account
	pending   map[chain.Address]uint64
	submitted []*chain.Tx
	lag       bool
	fail      error
}

func newFakeNode() *fakeNode {
	return &fakeNode{accts: map[chain.Address]chain.Account{}, pending: map[chain.Address]uint64{}}
}

func (f *fakeNode) Account(a chain.Address) chain.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accts[a]
}

func (f *fakeNode) PendingNonce(a chain.Address) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(f.pending[a], f.accts[a].Nonce)
}

func (f *fakeNode) submit(tx *chain.Tx) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	if err := tx.VerifySignature(); err != nil {
		return err
	}
	f.submitted = append(f.submitted, tx)
	if !f.lag {
		f.pending[tx.From()] = tx.Nonce + 1
	}
	return nil
}

func (f *fakeNode) set(a chain.Address, acct chain.Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accts[a] = acct
}

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func openTest(t *testing.T, dir string, node *fakeNode) *Wallet {
	t.Helper()
	clock := &fixedClock{t: time.Unix(1_800_000_000, 0)}
	opts := Options{Now: clock.Now}
	if node != nil {
		opts.State, opts.Submit = node, node.submit
	}
	w, err := Open(dir, chain.RegtestParams(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestOpenAndKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "wallet")
	w := openTest(t, dir, nil)
	if m := fileMode(t, dir); m != 0o700 {
		t.Fatalf("dir mode %04o", m)
	}
	if _, err := os.Stat(w.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("wallet file created before any key")
	}
	if len(w.Addresses()) != 0 {
		t.Fatal("fresh wallet has addresses")
	}
	def, err := w.DefaultAddress()
	if err != nil {
		t.Fatal(err)
	}
	if m := fileMode(t, w.Path()); m != 0o600 {
		t.Fatalf("wallet file mode %04o, want 0600", m)
	}
	if again, _ := w.DefaultAddress(); again != def {
		t.Fatal("default address changed")
	}
	a2, err := w.NewAddress()
	if err != nil || a2 == def {
		t.Fatalf("new address: %v", err)
	}
	imported, _ := GenerateKey()
	if a, err := w.ImportKey(imported); err != nil || a != imported.Address {
		t.Fatalf("import: %v", err)
	}
	if _, err := w.ImportKey(imported); err != nil {
		t.Fatal("re-import failed")
	}
	want := []chain.Address{def, a2, imported.Address}

	// Reopen: same keys, same default, same file mode.
	w2 := openTest(t, dir, nil)
	got := w2.Addresses()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("addresses after reopen %v, want %v", got, want)
	}
	if d, _ := w2.DefaultAddress(); d != def {
		t.Fatal("default address lost")
	}
	k, err := w2.PrivateKey(a2)
	if err != nil || k.Address != a2 {
		t.Fatalf("private key: %v", err)
	}
	if _, err := w2.PrivateKey(chain.Address{1}); !errors.Is(err, ErrUnknownAddress) {
		t.Fatalf("unknown: %v", err)
	}
	if !w2.HasAddress(def) || w2.HasAddress(chain.Address{1}) {
		t.Fatal("HasAddress")
	}
	if m := fileMode(t, w.Path()); m != 0o600 {
		t.Fatalf("wallet file mode after rewrite %04o", m)
	}
	if _, _, err := w2.Balance(); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("balance without backend: %v", err)
	}
	if _, err := w2.Send(Payment{To: a2, Amount: 1, Fee: 1}); !errors.Is(err, ErrNoBackend) {
		t.Fatalf("send without backend: %v", err)
	}

	// Wrong network, insecure mode, corrupt file.
	if _, err := Open(dir, chain.DevParams(), Options{}); !errors.Is(err, ErrWrongNetwork) {
		t.Fatalf("wrong network: %v", err)
	}
	if err := os.Chmod(w.Path(), 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, chain.RegtestParams(), Options{}); !errors.Is(err, ErrInsecureFile) {
		t.Fatalf("insecure: %v", err)
	}
	if err := os.Chmod(w.Path(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.Path(), []byte(`{"version":1,"network":"regtest","keys":[{"address":"qr1x","private_key":"00"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, chain.RegtestParams(), Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt: %v", err)
	}
}

func TestSend(t *testing.T) {
	node := newFakeNode()
	w := openTest(t, t.TempDir(), node)
	def, _ := w.DefaultAddress()
	rich, _ := w.NewAddress()
	dest, _ := GenerateKey()
	node.set(def, chain.Account{Balance: 1 * chain.Coin, Nonce: 3})
	node.set(rich, chain.Account{Balance: 100 * chain.Coin})

	// Default first when it can pay.
	tx, err := w.Send(Payment{To: dest.Address, Amount: chain.Coin / 2, Fee: 1000, Memo: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if tx.From() != def || tx.Nonce != 3 {
		t.Fatalf("from %v nonce %d", tx.From() == def, tx.Nonce)
	}
	// The default can no longer pay 0.6: the next funded key pays.
	tx2, err := w.Send(Payment{To: dest.Address, Amount: 6 * chain.Coin / 10, Fee: 1000})
	if err != nil || tx2.From() != rich || tx2.Nonce != 0 {
		t.Fatalf("second send: %v", err)
	}
	bs, err := w.Balances()
	if err != nil || bs[0].Spendable != chain.Coin/2-1000 || bs[0].PendingNonce != 4 || bs[1].Spendable != 100*chain.Coin-6*chain.Coin/10-1000 {
		t.Fatalf("balances %+v, %v", bs, err)
	}
	conf, spend, _ := w.Balance()
	if conf != 101*chain.Coin || spend != bs[0].Spendable+bs[1].Spendable {
		t.Fatalf("balance %d %d", conf, spend)
	}

	// Too much for any single address, though enough in total.
	if _, err := w.Send(Payment{To: dest.Address, Amount: 100 * chain.Coin, Fee: 0}); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("split funds: %v", err)
	}
	if _, err := w.Send(Payment{To: dest.Address, Amount: 1000 * chain.Coin, Fee: 0}); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("too much: %v", err)
	}
	if _, err := w.SendFrom(dest.Address, Payment{To: def, Amount: 1, Fee: 1}); !errors.Is(err, ErrUnknownAddress) {
		t.Fatalf("send from foreign: %v", err)
	}
	if _, err := w.SendFrom(def, Payment{To: dest.Address, Amount: chain.Coin, Fee: 1}); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("send from poor: %v", err)
	}
	if _, err := w.Send(Payment{To: def, Amount: 1, Fee: ^uint64(0)}); !errors.Is(err, ErrBadAmount) {
		t.Fatalf("overflow: %v", err)
	}
	if _, err := w.Send(Payment{To: dest.Address, Amount: 0, Fee: 1}); !errors.Is(err, ErrInvalidTx) {
		t.Fatalf("zero amount: %v", err)
	}

	// A rejected submit is not recorded and does not consume the nonce.
	sentinel := errors.New("mempool says no")
	node.fail = sentinel
	if _, err := w.SendFrom(rich, Payment{To: dest.Address, Amount: 1, Fee: 1000}); !errors.Is(err, sentinel) {
		t.Fatalf("submit failure not wrapped: %v", err)
	}
	node.fail = nil
	tx3, err := w.SendFrom(rich, Payment{To: dest.Address, Amount: 1, Fee: 1000})
	if err != nil || tx3.Nonce != 1 {
		t.Fatalf("after failure nonce %d, %v", tx3.Nonce, err)
	}
	recs := w.ListTransactions(10, 0)
	if len(recs) != 3 || recs[0].ID != tx.TxID() || recs[2].ID != tx3.TxID() || recs[0].Category != CategorySend ||
		string(recs[0].Memo) != "x" || recs[0].Counterparty != dest.Address || recs[0].Fee != 1000 {
		t.Fatalf("records %+v", recs)
	}
	// History survives a reopen.
	w2 := openTest(t, filepath.Dir(w.Path()), node)
	if got := w2.ListTransactions(10, 0); len(got) != 3 || got[1].ID != tx2.TxID() || got[0].Nonce != 3 {
		t.Fatalf("history after reopen %+v", got)
	}
}

func TestQuickSendsDoNotCollide(t *testing.T) {
	node := newFakeNode()
	node.lag = true // the node has not seen the first send when the second is built
	w := openTest(t, t.TempDir(), node)
	def, _ := w.DefaultAddress()
	node.set(def, chain.Account{Balance: 100 * chain.Coin})
	dest, _ := GenerateKey()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.Send(Payment{To: dest.Address, Amount: chain.Coin, Fee: 1000}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, tx := range node.submitted {
		if seen[tx.Nonce] {
			t.Fatalf("nonce %d reused", tx.Nonce)
		}
		seen[tx.Nonce] = true
	}
	if len(seen) != 8 || !seen[0] || !seen[7] {
		t.Fatalf("nonces %v", seen)
	}
}

func TestNonceReservationExpires(t *testing.T) {
	node := newFakeNode()
	node.lag = true
	clock := &fixedClock{t: time.Unix(1_800_000_000, 0)}
	w, err := Open(t.TempDir(), chain.RegtestParams(), Options{State: node, Submit: node.submit, Now: func() time.Time { return clock.t }})
	if err != nil {
		t.Fatal(err)
	}
	def, _ := w.DefaultAddress()
	node.set(def, chain.Account{Balance: 100 * chain.Coin})
	dest, _ := GenerateKey()
	if tx, _ := w.Send(Payment{To: dest.Address, Amount: 1, Fee: 1000}); tx.Nonce != 0 {
		t.Fatal("first nonce")
	}
	// The node dropped it (never reflected in PendingNonce); after the
	// reservation window the wallet trusts the node again.
	clock.t = clock.t.Add(2 * time.Minute)
	if tx, _ := w.Send(Payment{To: dest.Address, Amount: 1, Fee: 1000}); tx.Nonce != 0 {
		t.Fatalf("nonce after reservation expiry %d", tx.Nonce)
	}
}

func TestHistoryFromBlocks(t *testing.T) {
	node := newFakeNode()
	p := chain.RegtestParams()
	dir := t.TempDir()
	w, err := Open(dir, p, Options{State: node, Submit: node.submit, MaxHistory: 5})
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := w.DefaultAddress()
	other, _ := GenerateKey()
	node.set(mine, chain.Account{Balance: 10 * chain.Coin})
	sent, err := w.Send(Payment{To: other.Address, Amount: chain.Coin, Fee: 1000})
	if err != nil {
		t.Fatal(err)
	}
	in, _ := BuildTransfer(p, other.Private, Payment{To: mine, Amount: 2 * chain.Coin, Fee: 500}, 0)
	cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: 5, To: mine, Amount: 50 * chain.Coin}
	b5 := &chain.Block{Header: chain.Header{Nonce: 5}, Txs: []*chain.Tx{cb, sent, in}}
	if err := w.BlockConnected(b5, 5); err != nil {
		t.Fatal(err)
	}
	b6 := &chain.Block{Header: chain.Header{Nonce: 6}, Txs: []*chain.Tx{{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: 6, To: other.Address, Amount: 1}}}
	w.HandleEvent(chain.Event{Kind: chain.EventBlockConnected, Block: b6, Height: 6})

	recs := w.ListTransactions(10, 0)
	if len(recs) != 3 {
		t.Fatalf("records %+v", recs)
	}
	byCat := map[Category]TxRecord{}
	for _, r := range recs {
		byCat[r.Category] = r
	}
	if r := byCat[CategorySend]; r.ID != sent.TxID() || r.BlockHash != b5.Hash() || r.Confirmations != 2 {
		t.Fatalf("send %+v", r)
	}
	if r := byCat[CategoryReceive]; r.ID != in.TxID() || r.Amount != 2*chain.Coin || r.Counterparty != other.Address || r.Confirmations != 2 {
		t.Fatalf("receive %+v", r)
	}
	if r := byCat[CategoryGenerate]; r.Amount != 50*chain.Coin || r.Height != 5 {
		t.Fatalf("generate %+v", r)
	}
	if got := w.ListTransactions(1, 1); len(got) != 1 || got[0].ID != recs[1].ID {
		t.Fatalf("count/skip %+v", got)
	}
	if w.ListTransactions(5, 3) != nil || w.ListTransactions(0, 0) != nil {
		t.Fatal("empty pages")
	}

	// Disconnect b6 then b5: the send becomes unconfirmed, the rest goes.
	w.HandleEvent(chain.Event{Kind: chain.EventBlockDisconnected, Block: b6, Height: 6})
	w.HandleEvent(chain.Event{Kind: chain.EventBlockDisconnected, Block: b5, Height: 5})
	recs = w.ListTransactions(10, 0)
	if len(recs) != 1 || recs[0].ID != sent.TxID() || !recs[0].BlockHash.IsZero() || recs[0].Confirmations != 0 {
		t.Fatalf("after disconnect %+v", recs)
	}
	// Reconnected elsewhere: confirmed again; history persisted.
	if err := w.BlockConnected(b5, 5); err != nil {
		t.Fatal(err)
	}
	w2, err := Open(dir, p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := w2.ListTransactions(10, 0); len(got) != 3 {
		t.Fatalf("persisted history %+v", got)
	}
	// The history is bounded.
	for i := range 6 {
		blk := &chain.Block{Header: chain.Header{Nonce: uint32(100 + i)}, Txs: []*chain.Tx{{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: uint64(7 + i), To: mine, Amount: 1}}}
		if err := w.BlockConnected(blk, uint64(7+i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.ListTransactions(100, 0); len(got) != 5 || got[4].Height != 12 {
		t.Fatalf("bounded history %d", len(got))
	}
}

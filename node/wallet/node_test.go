package wallet_test

import (
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/mempool"
	"github.com/quarrychain/quarry/node/wallet"
)

// nodeState is the adaptor node writes: confirmed state from the chain,
// pending nonces from the mempool.
type nodeState struct {
	c    *chain.Chain
	pool *mempool.Pool
}

func (n nodeState) Account(a chain.Address) chain.Account { return n.c.Account(a) }
func (n nodeState) PendingNonce(a chain.Address) uint64   { return n.pool.PendingNonce(a) }

// TestWalletWithChainAndMempool: the miner pays the wallet's default
// address, two quick sends get consecutive nonces through the real mempool,
// a mempool rejection surfaces with its kind, and the mined block confirms
// the records.
func TestWalletWithChainAndMempool(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	clock := chaintest.NewClock(chaintest.FarFuture(p))
	c := chaintest.NewChain(t, p, clock.Now)
	sub := c.Subscribe(64)
	defer sub.Close()
	pool := mempool.New(mempool.Config{Params: p, State: c, Now: clock.Now})
	w, err := wallet.Open(t.TempDir(), p, wallet.Options{
		State:  nodeState{c: c, pool: pool},
		Submit: func(tx *chain.Tx) error { _, err := pool.Add(tx); return err },
		Now:    clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	pump := func() {
		for {
			select {
			case ev := <-sub.Events():
				pool.HandleEvent(ev)
				w.HandleEvent(ev)
			default:
				return
			}
		}
	}
	def, err := w.DefaultAddress()
	if err != nil {
		t.Fatal(err)
	}
	g.Next("b1", chaintest.GenesisName, chaintest.CoinbaseTo(def))
	g.Accept(t, c, "b1")
	pump()
	if conf, _, _ := w.Balance(); conf != p.CalcSubsidy(1) {
		t.Fatalf("balance %d after coinbase", conf)
	}

	dest := g.Addr(3)
	tx1, err := w.Send(wallet.Payment{To: dest, Amount: 3 * chain.Coin, Fee: 2000, Memo: []byte("one")})
	if err != nil {
		t.Fatal(err)
	}
	tx2, err := w.Send(wallet.Payment{To: dest, Amount: 4 * chain.Coin, Fee: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if tx1.Nonce != 0 || tx2.Nonce != 1 || !pool.Has(tx1.TxID()) || !pool.Has(tx2.TxID()) {
		t.Fatalf("nonces %d %d, in pool %v %v", tx1.Nonce, tx2.Nonce, pool.Has(tx1.TxID()), pool.Has(tx2.TxID()))
	}
	if _, err := w.Send(wallet.Payment{To: dest, Amount: chain.Coin, Fee: 0}); !errors.Is(err, mempool.ErrFeeTooLow) {
		t.Fatalf("fee-less send: %v", err)
	}
	if _, spendable, _ := w.Balance(); spendable != p.CalcSubsidy(1)-7*chain.Coin-4000 {
		t.Fatalf("spendable %d", spendable)
	}

	txs := pool.SelectForBlock(p.MaxBlockSize - 1000)
	g.Next("b2", "b1", chaintest.Txs(txs...))
	g.Accept(t, c, "b2")
	pump()
	if pool.Count() != 0 {
		t.Fatalf("pool not emptied: %d", pool.Count())
	}
	recs := w.ListTransactions(10, 0)
	confirmed := 0
	for _, r := range recs {
		if r.Category == wallet.CategorySend && r.Confirmations == 1 && r.BlockHash == g.Hash("b2") {
			confirmed++
		}
	}
	if confirmed != 2 {
		t.Fatalf("records %+v", recs)
	}
	if c.Account(dest).Balance != 7*chain.Coin {
		t.Fatal("recipient not paid")
	}
	// The hex form round-trips through the decoder RPC uses.
	back, err := wallet.DecodeTxHex(wallet.EncodeTxHex(tx1))
	if err != nil || back.TxID() != tx1.TxID() {
		t.Fatalf("hex: %v", err)
	}
}

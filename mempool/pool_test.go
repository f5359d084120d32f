package mempool

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/chain"
)

const coin = chain.Coin

func TestAddAndQuery(t *testing.T) {
	e := newEnv(t, nil)
	from := e.fund(1, 10*coin)
	sub := e.pool.Subscribe(8)
	defer sub.Close()

	tx := e.transfer(1, 2, 0, coin, 1000)
	res := e.mustAdd(tx)
	if res.ID != tx.TxID() || res.Queued || !res.Replaced.IsZero() {
		t.Fatalf("result %+v", res)
	}
	if !e.pool.Has(res.ID) || e.pool.Count() != 1 || e.pool.Bytes() != tx.SerializeSize() {
		t.Fatalf("pool state: has=%v count=%d bytes=%d", e.pool.Has(res.ID), e.pool.Count(), e.pool.Bytes())
	}
	if got, ok := e.pool.Get(res.ID); !ok || got != tx {
		t.Fatalf("Get = %v, %v", got, ok)
	}
	ents := e.pool.Entries()
	if len(ents) != 1 || ents[0].ID != res.ID || ents[0].From != from || ents[0].Size != tx.SerializeSize() ||
		!ents[0].Added.Equal(e.clock.Now()) || ents[0].Queued {
		t.Fatalf("entries %+v", ents)
	}
	if r := ents[0].FeeRate(); r != float64(1000)/float64(tx.SerializeSize()) {
		t.Fatalf("fee rate %v", r)
	}
	if ids := e.pool.TxIDs(); len(ids) != 1 || ids[0] != res.ID {
		t.Fatalf("TxIDs %v", ids)
	}
	if n := e.pool.PendingNonce(from); n != 1 {
		t.Fatalf("pending nonce %d, want 1", n)
	}
	info := e.pool.Sender(from)
	if info.Confirmed.Balance != 10*coin || info.PendingBalance != 9*coin-1000 || info.Ready != 1 || info.Queued != 0 {
		t.Fatalf("sender info %+v", info)
	}
	if in := e.pool.Info(); in.Count != 1 || in.TotalFee != 1000 || in.Senders != 1 || in.MinAcceptRate != 1 {
		t.Fatalf("info %+v", in)
	}
	ev := waitEvents(t, sub, 1)[0]
	if ev.Kind != EventAdded || ev.ID != res.ID || ev.Tx != tx {
		t.Fatalf("event %+v", ev)
	}
	checkInvariants(t, e.pool, e.state)
}

func TestRejections(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxPerSender = 3; c.MaxNonceGap = 2 })
	e.fund(1, 10*coin)
	e.fund(3, 1000)
	p := e.params

	signed := func(mod func(tx *chain.Tx)) *chain.Tx {
		tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: 0, To: addrOf(testKey(2)), Amount: 10, Fee: 1000}
		mod(tx)
		tx.Sign(testKey(1))
		return tx
	}
	badSig := e.transfer(1, 2, 0, 10, 1000)
	badSig.Sig[5] ^= 1
	highS := e.transfer(1, 2, 0, 10, 1000)
	highS.PubKey[0] = 0x04

	e.mustAdd(e.transfer(1, 2, 0, coin, 1000))
	dup := e.transfer(1, 2, 0, coin, 1000)

	cases := []struct {
		name   string
		tx     *chain.Tx
		kind   ErrorKind
		chain  chain.ErrorKind
		reason string
	}{
		{"coinbase", &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID}, ErrCoinbase, "", "coinbase"},
		{"wrong chain", signed(func(tx *chain.Tx) { tx.ChainID = 7 }), ErrInvalid, chain.ErrWrongChainID, "bad-txns-chain-id"},
		{"bad signature", badSig, ErrInvalid, chain.ErrBadSignature, "bad-txns-signature"},
		{"bad pubkey", highS, ErrInvalid, chain.ErrBadPubKey, "bad-txns-signature"},
		{"memo too long", signed(func(tx *chain.Tx) { tx.Memo = make([]byte, chain.MaxMemoSize+1) }), ErrInvalid, chain.ErrMemoTooLong, "bad-txns-memo-too-long"},
		{"zero amount", signed(func(tx *chain.Tx) { tx.Amount = 0 }), ErrInvalid, chain.ErrZeroAmount, "bad-txns-zero-amount"},
		{"self transfer", signed(func(tx *chain.Tx) { tx.To = addrOf(testKey(1)) }), ErrInvalid, chain.ErrSelfTransfer, "bad-txns-self-transfer"},
		{"fee too low", e.transfer(1, 2, 1, 10, 100), ErrFeeTooLow, "", "min relay fee not met"},
		{"duplicate", dup, ErrDuplicate, "", "txn-already-in-mempool"},
		{"replacement underpriced", e.transfer(1, 4, 0, coin, 1050), ErrReplacementUnderpriced, "", "insufficient fee"},
		{"nonce gap", e.transfer(1, 2, 4, 10, 1000), ErrNonceGap, "", "bad-txns-nonce-gap"},
		{"insufficient funds", e.transfer(3, 2, 0, 1000, 1000), ErrInsufficientFunds, "", "bad-txns-insufficient-funds"},
		{"cumulative insufficient", e.transfer(1, 2, 1, 9*coin, 1000), ErrInsufficientFunds, "", "bad-txns-insufficient-funds"},
		{"unfunded account", e.transfer(5, 2, 0, 1, 1000), ErrInsufficientFunds, "", "bad-txns-insufficient-funds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.pool.Add(c.tx)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, c.kind) || KindOf(err) != c.kind {
				t.Fatalf("err %v, want kind %s", err, c.kind)
			}
			if c.chain != "" && !errors.Is(err, c.chain) {
				t.Fatalf("err %v does not wrap %s", err, c.chain)
			}
			if got := RejectReason(err); got != c.reason {
				t.Fatalf("reason %q, want %q", got, c.reason)
			}
			var re *RuleError
			if !errors.As(err, &re) || len(re.Error()) < 20 {
				t.Fatalf("no actionable description: %v", err)
			}
		})
	}

	// Nonce too low once the chain has used the nonce.
	e.state.set(addrOf(testKey(1)), chain.Account{Balance: 10 * coin, Nonce: 5})
	_, err := e.pool.Add(e.transfer(1, 2, 4, 10, 1000))
	if !errors.Is(err, ErrNonceTooLow) || !strings.Contains(err.Error(), "next nonce is 5") {
		t.Fatalf("nonce too low: %v", err)
	}
	if e.pool.Count() != 0 { // the pending nonce-0 tx was dropped as a conflict
		t.Fatalf("stale tx kept: %d", e.pool.Count())
	}
	// Sender limit: 3 pending per sender.
	for n := uint64(5); n < 8; n++ {
		e.mustAdd(e.transfer(1, 2, n, 10, 1000))
	}
	if _, err := e.pool.Add(e.transfer(1, 2, 8, 10, 1000)); !errors.Is(err, ErrSenderLimit) || RejectReason(err) != "too-long-mempool-chain" {
		t.Fatalf("sender limit: %v", err)
	}
	if _, err := e.pool.Add(nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil tx: %v", err)
	}
	checkInvariants(t, e.pool, e.state)
}

func TestReplacement(t *testing.T) {
	e := newEnv(t, nil)
	from := e.fund(1, 10*coin)
	sub := e.pool.Subscribe(16)
	defer sub.Close()

	orig := e.transfer(1, 2, 0, coin, 10_000)
	e.mustAdd(orig)
	size := uint64(orig.SerializeSize())
	// 10% bump = 1000 > size*1, so 10_999 fails and 11_000 passes.
	if _, err := e.pool.Add(e.transfer(1, 3, 0, coin, 10_999)); !errors.Is(err, ErrReplacementUnderpriced) {
		t.Fatalf("underpriced: %v", err)
	}
	repl := e.transfer(1, 3, 0, coin, 11_000)
	res := e.mustAdd(repl)
	if res.Replaced != orig.TxID() || e.pool.Has(orig.TxID()) || e.pool.Count() != 1 {
		t.Fatalf("replace result %+v count %d", res, e.pool.Count())
	}
	evs := waitEvents(t, sub, 3)
	if evs[1].Kind != EventRemoved || evs[1].ID != orig.TxID() || evs[1].Reason != ReasonReplaced ||
		evs[2].Kind != EventAdded || evs[2].ID != repl.TxID() {
		t.Fatalf("events %+v", evs)
	}
	if got := testutil.ToFloat64(e.pool.met.removedBy.WithLabelValues("replaced")); got != 1 {
		t.Fatalf("replacements metric %v", got)
	}

	// For a small fee the per-byte bump dominates: old fee + size.
	e.fund(4, 10*coin)
	small := e.transfer(4, 2, 0, coin, size)
	e.mustAdd(small)
	if _, err := e.pool.Add(e.transfer(4, 3, 0, coin, 2*size-1)); !errors.Is(err, ErrReplacementUnderpriced) ||
		!strings.Contains(err.Error(), "at least") {
		t.Fatalf("per-byte bump: %v", err)
	}
	e.mustAdd(e.transfer(4, 3, 0, coin, 2*size))

	// A replacement must still be funded together with the successors.
	e.mustAdd(e.transfer(1, 2, 1, 8*coin, 1000))
	if _, err := e.pool.Add(e.transfer(1, 3, 0, 2*coin, 20_000)); !errors.Is(err, ErrInsufficientFunds) {
		t.Fatalf("unfunded replacement: %v", err)
	}
	// Replacing a middle transaction keeps the sequence.
	e.mustAdd(e.transfer(1, 2, 2, 1000, 1000))
	e.mustAdd(e.transfer(1, 5, 1, 8*coin, 2000))
	if info := e.pool.Sender(from); info.Ready != 3 || info.PendingNonce != 3 {
		t.Fatalf("after middle replacement %+v", info)
	}
	checkInvariants(t, e.pool, e.state)
}

func TestNonceGapQueued(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxNonceGap = 3 })
	from := e.fund(1, 10*coin)

	if res := e.mustAdd(e.transfer(1, 2, 2, 10, 1000)); !res.Queued {
		t.Fatal("gapped tx not queued")
	}
	if res := e.mustAdd(e.transfer(1, 2, 3, 10, 1000)); !res.Queued {
		t.Fatal("second gapped tx not queued")
	}
	if _, err := e.pool.Add(e.transfer(1, 2, 4, 10, 1000)); !errors.Is(err, ErrNonceGap) {
		t.Fatalf("beyond window: %v", err)
	}
	if got := e.pool.SelectForBlock(1 << 20); len(got) != 0 {
		t.Fatalf("queued txs selected: %d", len(got))
	}
	if n := e.pool.PendingNonce(from); n != 0 {
		t.Fatalf("pending nonce %d with a gap at 0", n)
	}
	if res := e.mustAdd(e.transfer(1, 2, 0, 10, 1000)); res.Queued {
		t.Fatal("next nonce queued")
	}
	info := e.pool.Sender(from)
	if info.Ready != 1 || info.Queued != 2 || info.PendingNonce != 1 {
		t.Fatalf("info %+v", info)
	}
	e.mustAdd(e.transfer(1, 2, 1, 10, 1000)) // fills the gap
	info = e.pool.Sender(from)
	if info.Ready != 4 || info.Queued != 0 || info.PendingNonce != 4 {
		t.Fatalf("after fill %+v", info)
	}
	got := e.pool.SelectForBlock(1 << 20)
	if len(got) != 4 {
		t.Fatalf("selected %d", len(got))
	}
	for i, tx := range got {
		if tx.Nonce != uint64(i) {
			t.Fatalf("selection out of nonce order: %d at %d", tx.Nonce, i)
		}
	}
	checkTemplate(t, e.state, got)
	checkInvariants(t, e.pool, e.state)

	// Strictly contiguous mode.
	c := newEnv(t, func(c *Config) { c.MaxNonceGap = DisableNonceGap })
	c.fund(1, coin)
	if _, err := c.pool.Add(c.transfer(1, 2, 1, 10, 1000)); !errors.Is(err, ErrNonceGap) || !strings.Contains(err.Error(), "next nonce is 0") {
		t.Fatalf("contiguous mode: %v", err)
	}
}

func TestEvictionOrder(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxCount = 4 })
	for i := 1; i <= 6; i++ {
		e.fund(i, 10*coin)
	}
	sub := e.pool.Subscribe(64)
	defer sub.Close()
	// Sender 1: a cheap nonce 0 followed by an expensive nonce 1. Only the
	// last (expensive) one is evictable.
	cheapParent := e.transfer(1, 9, 0, 10, 200)
	richChild := e.transfer(1, 9, 1, 10, 5000)
	mid := e.transfer(2, 9, 0, 10, 1000)
	low := e.transfer(3, 9, 0, 10, 400)
	for _, tx := range []*chain.Tx{cheapParent, richChild, mid, low} {
		e.mustAdd(tx)
	}
	// Full: a newcomer not beating the cheapest evictable (low, 400) is refused.
	if _, err := e.pool.Add(e.transfer(4, 9, 0, 10, 400)); !errors.Is(err, ErrPoolFull) || RejectReason(err) != "mempool full" {
		t.Fatalf("pool full: %v", err)
	}
	// A better one evicts "low" (cheapParent is not evictable: its child
	// would lose its predecessor).
	e.mustAdd(e.transfer(4, 9, 0, 10, 600))
	if e.pool.Has(low.TxID()) || !e.pool.Has(cheapParent.TxID()) || e.pool.Count() != 4 {
		t.Fatalf("wrong victim: low=%v parent=%v", e.pool.Has(low.TxID()), e.pool.Has(cheapParent.TxID()))
	}
	// Next victims in order: 600, 1000, then sender 1's child (5000), and only
	// then the parent.
	e.mustAdd(e.transfer(5, 9, 0, 10, 6000))
	e.mustAdd(e.transfer(6, 9, 0, 10, 7000))
	if e.pool.Has(mid.TxID()) || !e.pool.Has(richChild.TxID()) {
		t.Fatal("mid should be gone, child kept")
	}
	e.fund(7, 10*coin)
	e.mustAdd(e.transfer(7, 9, 0, 10, 8000))
	if e.pool.Has(richChild.TxID()) || !e.pool.Has(cheapParent.TxID()) {
		t.Fatal("child must go before the parent")
	}
	checkInvariants(t, e.pool, e.state)
	if got := testutil.ToFloat64(e.pool.met.removedBy.WithLabelValues("evicted")); got != 4 {
		t.Fatalf("evictions metric %v", got)
	}

	// Queued transactions are evicted before ready ones whatever they pay.
	q := newEnv(t, func(c *Config) { c.MaxCount = 2 })
	q.fund(1, 10*coin)
	q.fund(2, 10*coin)
	q.fund(3, 10*coin)
	queued := q.transfer(1, 9, 3, 10, 90_000)
	q.mustAdd(queued)
	q.mustAdd(q.transfer(2, 9, 0, 10, 300))
	q.mustAdd(q.transfer(3, 9, 0, 10, 200))
	if q.pool.Has(queued.TxID()) || q.pool.Count() != 2 {
		t.Fatal("queued tx should be evicted first")
	}
	checkInvariants(t, q.pool, q.state)
}

func TestMaxBytes(t *testing.T) {
	size := (&chain.Tx{Kind: chain.TxTransfer}).SerializeSize()
	e := newEnv(t, func(c *Config) { c.MaxBytes = 3*size + 10 })
	for i := 1; i <= 4; i++ {
		e.fund(i, coin)
	}
	first := e.transfer(1, 9, 0, 10, 300)
	e.mustAdd(first)
	e.mustAdd(e.transfer(2, 9, 0, 10, 400))
	e.mustAdd(e.transfer(3, 9, 0, 10, 500))
	e.mustAdd(e.transfer(4, 9, 0, 10, 600))
	if e.pool.Has(first.TxID()) || e.pool.Bytes() > 3*size+10 {
		t.Fatalf("bytes %d over limit or cheapest kept", e.pool.Bytes())
	}
	checkInvariants(t, e.pool, e.state)
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Expiry = time.Hour; c.MaxNonceGap = 2 })
	from := e.fund(1, 10*coin)
	e.fund(2, 10*coin)
	sub := e.pool.Subscribe(16)
	defer sub.Close()
	old := e.transfer(1, 9, 0, 10, 1000)
	e.mustAdd(old)
	e.clock.advance(30 * time.Minute)
	e.mustAdd(e.transfer(1, 9, 1, 10, 1000))
	e.mustAdd(e.transfer(2, 9, 0, 10, 1000))
	if n := e.pool.Expire(e.clock.Now()); n != 0 {
		t.Fatalf("expired %d early", n)
	}
	e.clock.advance(30 * time.Minute)
	if n := e.pool.Expire(e.clock.Now()); n != 1 || e.pool.Has(old.TxID()) {
		t.Fatalf("expired %d", n)
	}
	// The successor stays, queued behind the gap the expiry left.
	if info := e.pool.Sender(from); info.Queued != 1 || info.Ready != 0 {
		t.Fatalf("successor %+v", info)
	}
	evs := waitEvents(t, sub, 4)
	if evs[3].Kind != EventRemoved || evs[3].Reason != ReasonExpired {
		t.Fatalf("event %+v", evs[3])
	}
	// Add expires too.
	e.clock.advance(31 * time.Minute)
	e.fund(3, coin)
	e.mustAdd(e.transfer(3, 9, 0, 10, 1000))
	if e.pool.Count() != 1 {
		t.Fatalf("count %d after expiry on add", e.pool.Count())
	}
	checkInvariants(t, e.pool, e.state)
}

func TestSubscriptionDropsAndClose(t *testing.T) {
	e := newEnv(t, nil)
	e.fund(1, 10*coin)
	sub := e.pool.Subscribe(1)
	for n := uint64(0); n < 3; n++ {
		e.mustAdd(e.transfer(1, 2, n, 10, 1000))
	}
	if sub.Dropped() != 2 || testutil.ToFloat64(e.pool.met.notifyDropped) != 2 {
		t.Fatalf("dropped %d", sub.Dropped())
	}
	sub.Close()
	sub.Close()
	if _, ok := <-sub.Events(); !ok {
		t.Fatal("buffered event lost")
	}
	if _, ok := <-sub.Events(); ok {
		t.Fatal("channel not closed")
	}
	e.mustAdd(e.transfer(1, 2, 3, 10, 1000)) // no panic after close
}

func TestConcurrentAdds(t *testing.T) {
	e := newEnv(t, nil)
	const senders, per = 8, 6
	txs := make([][]*chain.Tx, senders)
	for s := range senders {
		e.fund(s+1, 10*coin)
		for n := range per {
			txs[s] = append(txs[s], e.transfer(s+1, 99, uint64(n), 10, 1000+uint64(s)))
		}
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tx := range txs[s] {
				if _, err := e.pool.Add(tx); err != nil {
					t.Errorf("add: %v", err)
				}
				e.pool.SelectForBlock(1000)
				e.pool.Entries()
			}
		}()
	}
	wg.Wait()
	if e.pool.Count() != senders*per {
		t.Fatalf("count %d", e.pool.Count())
	}
	checkInvariants(t, e.pool, e.state)
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *Config) { c.Registerer = reg })
	e.fund(1, coin)
	e.mustAdd(e.transfer(1, 2, 0, 10, 1000))
	if _, err := e.pool.Add(e.transfer(1, 2, 0, 10, 1000)); err == nil {
		t.Fatal("duplicate accepted")
	}
	e.pool.SelectForBlock(1 << 20)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric %s: %s", p.Metric, p.Text)
	}
	if got := testutil.ToFloat64(e.pool.met.rejectedBy.WithLabelValues("duplicate")); got != 1 {
		t.Fatalf("rejected{duplicate} = %v", got)
	}
	if got := testutil.ToFloat64(e.pool.met.txs); got != 1 {
		t.Fatalf("transactions gauge %v", got)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "quarry_mempool_") {
			t.Errorf("metric %s lacks prefix", mf.GetName())
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	e := newEnv(t, nil)
	c := e.pool.cfg
	if c.MaxBytes != 32<<20 || c.MaxCount != 50_000 || c.MaxPerSender != 64 || c.MaxNonceGap != 16 ||
		c.MinFeeRate != 1 || c.Expiry != 24*time.Hour || c.ReplaceBumpPercent != 10 || c.ReplaceBumpRate != 1 {
		t.Fatalf("defaults %+v", c)
	}
	z := newEnv(t, func(c *Config) { c.MinFeeRate = -1 })
	z.fund(1, coin)
	z.mustAdd(z.transfer(1, 2, 0, 10, 0))
	defer func() {
		if recover() == nil {
			t.Fatal("New without State did not panic")
		}
	}()
	New(Config{Params: chain.RegtestParams()})
}

func TestCheckDoesNotAdd(t *testing.T) {
	env := newEnv(t, nil)
	env.fund(1, 10_000_000)
	tx := env.transfer(1, 2, 0, 1_000_000, 1_000)
	if err := env.pool.Check(tx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if env.pool.Has(tx.TxID()) || env.pool.Count() != 0 {
		t.Fatal("Check added the transaction")
	}
	if _, err := env.pool.Add(tx); err != nil {
		t.Fatal(err)
	}
	if err := env.pool.Check(tx); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Check of a pending tx: %v, want ErrDuplicate", err)
	}
}

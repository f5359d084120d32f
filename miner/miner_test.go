package miner

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/miner/kernel"
)

// TestMinerRegtestMinesBlocks mines on a real regtest chain whose tip is
// hours old, with no peers and 2 workers: blocks are found, submitted
// through ProcessBlock and the chain advances; a mempool transaction is
// included once the payer has funds.
func TestMinerRegtestMinesBlocks(t *testing.T) {
	p := chain.RegtestParams()
	clock := fixedClock(testNow)
	c := newChain(t, p, clock)
	key, payTo := testKey(1)
	pay := signedTx(p, key, 0, addr(7), 5*chain.Coin, 1234)
	var selects atomic.Int32
	src := TxSourceFunc(func(parent chain.Hash, maxBytes int) []*chain.Tx {
		selects.Add(1)
		if c.Account(payTo).Balance == 0 || c.Account(pay.From()).Nonce > 0 || c.Best().Hash != parent {
			return nil
		}
		return []*chain.Tx{pay}
	})
	m, err := New(Config{Chain: c, Txs: src, Submitter: processSubmitter(c), PayTo: payTo, Generate: true,
		Threads: 2, Now: clock, CoinbaseMemo: []byte("test")})
	if err != nil {
		t.Fatal(err)
	}
	sub := c.Subscribe(4096)
	defer sub.Close()
	stop := runMiner(t, m)
	for c.Height() < 6 {
		select {
		case <-sub.Events():
		case <-time.After(20 * time.Second):
			t.Fatalf("chain stuck at height %d", c.Height())
		}
	}
	stop()

	st := m.Stats()
	if st.BlocksFound < 6 || st.HashesTotal == 0 || !st.Generating || st.Threads != 2 || st.Kernel != kernel.Best().Name() {
		t.Fatalf("stats %+v", st)
	}
	if c.Account(addr(7)).Balance != 5*chain.Coin {
		t.Fatal("the mempool transaction was never mined")
	}
	for h := uint64(1); h <= c.Height(); h++ {
		hash, _ := c.HashAtHeight(h)
		b, err := c.Block(hash)
		if err != nil {
			t.Fatal(err)
		}
		cb := b.Txs[0]
		if cb.To != payTo || cb.Height != h || string(cb.Memo) != "test" {
			t.Fatalf("block %d coinbase %+v", h, cb)
		}
		var fees uint64
		for _, tx := range b.Txs[1:] {
			fees += tx.Fee
		}
		if cb.Amount != p.CalcSubsidy(h)+fees {
			t.Fatalf("block %d pays %d", h, cb.Amount)
		}
		if lane := uint16(cb.ExtraNonce[0])<<8 | uint16(cb.ExtraNonce[1]); lane >= 2 {
			t.Fatalf("block %d mined by lane %d", h, lane)
		}
	}
}

// TestMinerDevDifficulty runs the real kernel against a non-trivial target
// (the dev network's limit, ~65k hashes a block) and checks every submitted
// block with the chain's context-free rules.
func TestMinerDevDifficulty(t *testing.T) {
	p := chain.DevParams()
	view := staticView{p: p, tip: chain.Snapshot{Hash: p.GenesisHash, MedianTime: testNow.Unix() - 100, NextBits: p.PowLimitBits}}
	var mu sync.Mutex
	var got []*chain.Block
	submit := SubmitterFunc(func(b *chain.Block) error {
		if err := chain.CheckBlockSanity(b, p); err != nil {
			t.Errorf("submitted block: %v", err)
		}
		mu.Lock()
		got = append(got, b)
		mu.Unlock()
		return nil
	})
	m, err := New(Config{Chain: view, Submitter: submit, PayTo: addr(1), Generate: true, Threads: 2, Now: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runMiner(t, m)
	testkit.WaitFor(t, waitTimeout, "3 dev-difficulty blocks", func() bool { return m.blocksFound.Load() >= 3 })
	stop()
	mu.Lock()
	defer mu.Unlock()
	seen := map[chain.Hash]bool{}
	for _, b := range got {
		if seen[b.Hash()] {
			t.Fatal("the same block was submitted twice")
		}
		seen[b.Hash()] = true
	}
}

// TestExtraNonceWrap uses a kernel that never finds a block and a tiny
// nonce space: each worker must exhaust it, move to its next extra-nonce
// (recomputing only coinbase hash and merkle root) and never overlap
// another worker.
func TestExtraNonceWrap(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, fixedClock(testNow))
	fk := newFakeKernel()
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), PayTo: addr(1), Generate: true, Threads: 2,
		Kernel: fk, BatchSize: 1000, ExtraNonceSalt: 0xbeef, Now: fixedClock(testNow), RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	m.nonceSpace = 4096 // not a multiple of the batch: the last batch is short

	type prep struct {
		en   [8]byte
		root [32]byte
		p    *kernel.Prepared
	}
	var mu sync.Mutex
	preps := map[uint16][]prep{}
	m.onPrepare = func(l *lane) {
		var root [32]byte
		copy(root[:], l.job.Header[36:68])
		mu.Lock()
		preps[l.id] = append(preps[l.id], prep{l.en, root, l.prep})
		mu.Unlock()
	}
	stop := runMiner(t, m)
	testkit.WaitFor(t, waitTimeout, "every worker on its 6th extra-nonce", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(preps[0]) >= 6 && len(preps[1]) >= 6
	})
	stop()

	mu.Lock()
	defer mu.Unlock()
	ens, roots := map[[8]byte]bool{}, map[[32]byte]bool{}
	for id, ps := range preps {
		for i, pr := range ps {
			if pr.en != makeExtraNonce(id, 0xbeef, uint32(i+1)) {
				t.Fatalf("lane %d prepare %d: extra-nonce %x", id, i, pr.en)
			}
			if ens[pr.en] || roots[pr.root] {
				t.Fatalf("lane %d reused an extra-nonce or root", id)
			}
			ens[pr.en], roots[pr.root] = true, true
			// Every extra-nonce but the last was searched exactly once over
			// the whole nonce space before the bump.
			if i < len(ps)-1 {
				if got := fk.coveredBy(pr.p); got != m.nonceSpace {
					t.Fatalf("lane %d extra-nonce %d covered %d nonces, want %d", id, i, got, m.nonceSpace)
				}
			}
		}
	}
	if len(preps) != 2 {
		t.Fatalf("lanes %v", len(preps))
	}
}

// TestTipSwitch checks that after a block arrives from elsewhere no worker
// starts a batch on the old tip once the new work is published (so at most
// the one batch in flight is wasted per worker), using logical signals only.
func TestTipSwitch(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, time.Now)
	const threads = 2
	fk := newFakeKernel()
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), PayTo: addr(1), Generate: true, Threads: threads,
		Kernel: fk, BatchSize: 1 << 12, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var (
		prepTip  sync.Map // *kernel.Prepared -> parent hash
		oldTip   atomic.Pointer[chain.Hash]
		oldAfter atomic.Int64 // old-tip batches started after the switch was published
		units    = make(chan *workUnit, 16)
	)
	m.onPrepare = func(l *lane) { prepTip.Store(l.prep, l.tmpl.PrevHash) }
	m.onPublish = func(u *workUnit) {
		select {
		case units <- u:
		default: // never block the template loop
		}
	}
	fk.onSearch = func(p *kernel.Prepared, _ uint32, _ uint64) {
		if old := oldTip.Load(); old != nil {
			if tip, _ := prepTip.Load(p); tip == *old {
				oldAfter.Add(1)
			}
		}
	}
	allOn := func(u *workUnit) func() bool {
		return func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, s := range m.slots[:threads] {
				if s.gen.Load() < u.gen {
					return false
				}
			}
			return true
		}
	}
	nextUnit := func(parent chain.Hash) *workUnit {
		for {
			select {
			case u := <-units:
				if u.tmpl.PrevHash == parent {
					return u
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no template on %s", parent)
			}
		}
	}

	runMiner(t, m)
	first := nextUnit(p.GenesisHash)
	testkit.WaitFor(t, waitTimeout, "workers on the first template", allOn(first))

	for i, viaPoll := range []bool{false, true} {
		before := m.Stats()
		old := c.Best().Hash
		blk := externalBlock(t, c, addr(2), uint32(time.Now().Unix()))
		if _, err := c.ProcessBlock(blk); err != nil {
			t.Fatal(err)
		}
		if !viaPoll {
			m.TipChanged() // what the node does on EventNewTip
		}
		u := nextUnit(blk.Hash())
		// The publish hook has run, so every Search counted from here on
		// started after the new work was published: a worker may still
		// start at most the one batch for which it read the generation
		// before the publish.
		oldTip.Store(&old)
		if u.sw == nil {
			t.Fatal("unit on the new tip not marked as a tip switch")
		}
		testkit.WaitFor(t, waitTimeout, "every worker on the new tip", allOn(u))
		testkit.WaitFor(t, waitTimeout, "switch latency recorded", func() bool { return m.tipSwitches.Load() > before.TipSwitches })
		after := m.Stats()
		if n := oldAfter.Swap(0); n > threads {
			t.Fatalf("switch %d: %d batches started on the old tip after the switch", i, n)
		}
		if d := after.StaleBatches - before.StaleBatches; d > threads {
			t.Fatalf("switch %d: %d stale batches, want <= %d", i, d, threads)
		}
		if after.TemplateHeight != uint64(i+2) {
			t.Fatalf("template height %d", after.TemplateHeight)
		}
		t.Logf("switch %d (poll=%v): latency %v (from notice to every worker on new work), stale batches %d",
			i, viaPoll, after.LastTipSwitch, after.StaleBatches-before.StaleBatches)
	}
}

// TestSetGenerate turns mining on and off: off means no worker goroutine.
func TestSetGenerate(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, fixedClock(testNow))
	fk := newFakeKernel()
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), PayTo: addr(1), Threads: 1, Kernel: fk, Now: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	alive := func() int {
		m.mu.Lock()
		defer m.mu.Unlock()
		n := 0
		for _, a := range m.alive {
			if a {
				n++
			}
		}
		return n
	}
	runMiner(t, m)
	if m.Generating() || alive() != 0 {
		t.Fatal("generating without being asked")
	}
	if err := m.SetGenerate(true, 3); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, waitTimeout, "3 workers hashing", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return len(m.slots) == 3 && m.slots[2].hashes.Load() > 0
	})
	if alive() != 3 {
		t.Fatalf("%d workers alive", alive())
	}
	if err := m.SetGenerate(true, 1); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, waitTimeout, "surplus workers exit", func() bool { return alive() == 1 })
	if err := m.SetGenerate(false, 0); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, waitTimeout, "all workers exit", func() bool { return alive() == 0 })
	h := m.hashesTotal()
	calls := fk.calls.Load()
	if !(m.hashesTotal() == h && fk.calls.Load() == calls) || m.Generating() {
		t.Fatal("hashing while off")
	}
	if st := m.Stats(); st.Threads != 1 || st.Generating || st.TemplateHeight != 0 || st.TemplateAge != 0 {
		t.Fatalf("stats %+v", st)
	}

	m2, err := New(Config{Chain: c, Submitter: processSubmitter(c), Kernel: fk})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.SetGenerate(true, 1); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("no address: %v", err)
	}
	if _, err := m2.BuildTemplate(testNow); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("no address: %v", err)
	}
}

// TestRejectedBlockFallsBackToEmpty: when a block with transactions is
// rejected, the next template on the same parent is coinbase-only.
func TestRejectedBlockFallsBackToEmpty(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, fixedClock(testNow))
	key, _ := testKey(3)
	bad := signedTx(p, key, 0, addr(7), chain.Coin, 10) // the sender has no funds
	var rejected atomic.Int32
	submit := SubmitterFunc(func(b *chain.Block) error {
		_, err := c.ProcessBlock(b)
		if err != nil {
			rejected.Add(1)
		}
		return err
	})
	m, err := New(Config{Chain: c, Submitter: submit, PayTo: addr(1), Generate: true, Threads: 1,
		Txs: TxSourceFunc(func(chain.Hash, int) []*chain.Tx { return []*chain.Tx{bad} }), Now: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	stop := runMiner(t, m)
	testkit.WaitFor(t, waitTimeout, "a block", func() bool { return c.Height() >= 1 })
	stop()
	hash, _ := c.HashAtHeight(1)
	b, _ := c.Block(hash)
	if len(b.Txs) != 1 || rejected.Load() == 0 || m.Stats().BlocksRejected == 0 {
		t.Fatalf("block 1 has %d txs after %d rejections", len(b.Txs), rejected.Load())
	}
}

// TestGenerateBlocks mines n blocks synchronously on regtest, without Run.
func TestGenerateBlocks(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, fixedClock(testNow))
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), Threads: 2, Now: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := m.GenerateBlocks(context.Background(), 5, addr(4))
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 5 || c.Height() != 5 {
		t.Fatalf("%d hashes, height %d", len(hashes), c.Height())
	}
	for i, h := range hashes {
		if got, _ := c.HashAtHeight(uint64(i + 1)); got != h {
			t.Fatalf("block %d is %s, generate returned %s", i+1, got, h)
		}
		b, _ := c.Block(h)
		if b.Txs[0].To != addr(4) || b.Txs[0].ExtraNonce[0]&0x80 == 0 {
			t.Fatalf("block %d coinbase %+v", i+1, b.Txs[0])
		}
	}
	if c.Account(addr(4)).Balance != 5*p.CalcSubsidy(1) || m.Stats().BlocksFound != 5 {
		t.Fatal("rewards or found counter wrong")
	}

	// A cancelled context stops a search that cannot succeed.
	hard, err := New(Config{Chain: hardView{c, 0x1a00ffff}, Submitter: processSubmitter(c), Threads: 2, Now: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	hard.onPrepare = func(*lane) { cancel() } // cancel once the search has started
	if got, err := hard.GenerateBlocks(ctx, 1, addr(4)); !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Fatalf("cancelled generate: %v %v", got, err)
	}
	// maxtries: 100000 nonces cannot meet a hard target; GenerateBlocks
	// returns what it has (nothing) and no error once they are spent.
	got, err := hard.GenerateBlocksMaxTries(context.Background(), 3, addr(4), 100_000)
	if err != nil || len(got) != 0 {
		t.Fatalf("maxtries: %v %v", got, err)
	}
	if used := hard.hashesTotal(); used < 100_000 {
		t.Fatalf("budget of 100000 tries, %d hashed", used)
	}
	// On regtest a small budget is plenty.
	if got, err = m.GenerateBlocksMaxTries(context.Background(), 2, addr(4), 1000); err != nil || len(got) != 2 {
		t.Fatalf("maxtries on regtest: %v %v", got, err)
	}
	if _, err := m.GenerateBlocks(context.Background(), 1, chain.Address{}); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("zero address: %v", err)
	}
	if _, err := m.GenerateBlocks(context.Background(), -1, addr(4)); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("negative count: %v", err)
	}
}

func TestConfigAndRunErrors(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("empty config: %v", err)
	}
	c := newChain(t, chain.RegtestParams(), fixedClock(testNow))
	if _, err := New(Config{Chain: c, Submitter: processSubmitter(c), CoinbaseMemo: make([]byte, 81)}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("long memo: %v", err)
	}
	if _, err := New(Config{Chain: c, Submitter: processSubmitter(c), Generate: true}); !errors.Is(err, ErrNoAddress) {
		t.Fatalf("generate without address: %v", err)
	}
	if _, err := New(Config{Chain: c, Submitter: processSubmitter(c), Threads: -1}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("negative threads: %v", err)
	}
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), Kernel: newFakeKernel()})
	if err != nil {
		t.Fatal(err)
	}
	if m.cfg.Threads < 1 || m.KernelName() != "fake" {
		t.Fatalf("defaults %+v", m.cfg)
	}
	runMiner(t, m)
	testkit.WaitFor(t, waitTimeout, "Run started", func() bool { m.mu.Lock(); defer m.mu.Unlock(); return m.started })
	if err := m.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

// TestBuildTemplateSubmitFlow is the getblocktemplate / submitblock flow:
// an external miner takes the template, picks its own extra-nonce, time
// and nonce, and the block it makes is accepted by the chain.
func TestBuildTemplateSubmitFlow(t *testing.T) {
	p := chain.RegtestParams()
	c := newChain(t, p, fixedClock(testNow))
	m, err := New(Config{Chain: c, Submitter: processSubmitter(c), PayTo: addr(5), Kernel: newFakeKernel(), Now: fixedClock(testNow)})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := m.BuildTemplate(testNow)
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.Height != 1 || tmpl.PrevHash != p.GenesisHash || m.Stats().TemplateHeight != 0 {
		t.Fatalf("template height %d on %s", tmpl.Height, tmpl.PrevHash)
	}
	if other, err := m.BuildTemplateFor(testNow, addr(6)); err != nil || other.Block.Txs[0].To != addr(6) || m.PayTo() != addr(5) {
		t.Fatalf("BuildTemplateFor: %v", err)
	}
	en := [8]byte{0xca, 0xfe}
	ts := tmpl.RollTime(testNow.Add(time.Minute))
	var blk *chain.Block
	for nonce := uint32(0); ; nonce++ {
		h := tmpl.Header(en, ts, nonce)
		if chain.CheckProofOfWork(h.BlockHash(), h.Bits, p.PowLimit) == nil {
			blk = tmpl.MakeBlock(en, ts, nonce)
			break
		}
	}
	if res, err := c.ProcessBlock(blk); err != nil || res.Status != chain.StatusConnected {
		t.Fatalf("%v %v", res.Status, err)
	}
	if c.Account(addr(5)).Balance != p.CalcSubsidy(1) {
		t.Fatal("coinbase not paid")
	}
}

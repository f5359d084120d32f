package mempool

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
)

// fakeState is an in-memory StateReader with chain-like block application.
type fakeState struct {
	mu     sync.Mutex
	params *chain.Params
	accts  map[chain.Address]chain.Account
	tip    chain.Snapshot
}

func newFakeState(p *chain.Params) *fakeState {
	return &fakeState{params: p, accts: make(map[chain.Address]chain.Account),
		tip: chain.Snapshot{Hash: p.GenesisHash}}
}

func (f *fakeState) Account(a chain.Address) chain.Account {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accts[a]
}

func (f *fakeState) Best() chain.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tip
}

func (f *fakeState) set(a chain.Address, acct chain.Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accts[a] = acct
}

// snapshot returns a copy of the accounts and tip.
func (f *fakeState) snapshot() (map[chain.Address]chain.Account, chain.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.accts), f.tip
}

// restore replaces the accounts and tip.
func (f *fakeState) restore(accts map[chain.Address]chain.Account, tip chain.Snapshot) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accts, f.tip = maps.Clone(accts), tip
}

// apply applies a block's transfers with the chain's rules (nonce, balance)
// and makes it the tip; it fails without changes if a transfer is invalid.
func (f *fakeState) apply(b *chain.Block) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := maps.Clone(f.accts)
	for _, tx := range b.Txs {
		if tx.IsCoinbase() {
			acc := next[tx.To]
			acc.Balance += tx.Amount
			next[tx.To] = acc
			continue
		}
		from := tx.From()
		acc := next[from]
		if tx.Nonce != acc.Nonce {
			return fmt.Errorf("tx %s: nonce %d, account expects %d", tx.TxID(), tx.Nonce, acc.Nonce)
		}
		if acc.Balance < tx.Amount+tx.Fee {
			return fmt.Errorf("tx %s: balance %d < %d", tx.TxID(), acc.Balance, tx.Amount+tx.Fee)
		}
		acc.Balance -= tx.Amount + tx.Fee
		acc.Nonce++
		next[from] = acc
		to := next[tx.To]
		to.Balance += tx.Amount
		next[tx.To] = to
	}
	f.accts = next
	f.tip = chain.Snapshot{Hash: b.Hash(), Height: f.tip.Height + 1}
	return nil
}

// testKey returns a deterministic private key.
func testKey(i int) *secp256k1.PrivateKey {
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(i))
	sum := sha256.Sum256(append([]byte("quarry mempool test key "), seed[:]...))
	return secp256k1.PrivKeyFromBytes(sum[:])
}

func addrOf(k *secp256k1.PrivateKey) chain.Address {
	return chain.AddressFromPubKey(k.PubKey().SerializeCompressed())
}

// testClock is a manually advanced clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env bundles a pool with its fake state and clock.
type env struct {
	t      testing.TB
	params *chain.Params
	state  *fakeState
	clock  *testClock
	pool   *Pool
}

func newEnv(t testing.TB, mod func(*Config)) *env {
	t.Helper()
	p := chain.RegtestParams()
	e := &env{t: t, params: p, state: newFakeState(p), clock: newTestClock()}
	cfg := Config{Params: p, State: e.state, Now: e.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	e.pool = New(cfg)
	return e
}

// fund gives key i the balance (nonce unchanged).
func (e *env) fund(i int, balance uint64) chain.Address {
	a := addrOf(testKey(i))
	acct := e.state.Account(a)
	acct.Balance = balance
	e.state.set(a, acct)
	return a
}

// transfer builds a signed transfer from key i.
func (e *env) transfer(from, to int, nonce, amount, fee uint64) *chain.Tx {
	return signedTx(e.params, testKey(from), addrOf(testKey(to)), nonce, amount, fee, nil)
}

func signedTx(p *chain.Params, key *secp256k1.PrivateKey, to chain.Address, nonce, amount, fee uint64, memo []byte) *chain.Tx {
	tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: nonce, To: to, Amount: amount, Fee: fee, Memo: memo}
	tx.Sign(key)
	return tx
}

// mustAdd adds tx and fails the test on error.
func (e *env) mustAdd(tx *chain.Tx) AddResult {
	e.t.Helper()
	res, err := e.pool.Add(tx)
	if err != nil {
		e.t.Fatalf("Add(%v): %v", tx, err)
	}
	return res
}

// block builds a block (no proof of work) on parent with the given transfers.
func block(p *chain.Params, parent chain.Hash, height uint64, tag uint32, txs ...*chain.Tx) *chain.Block {
	cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: height, Amount: p.CalcSubsidy(height)}
	binary.LittleEndian.PutUint32(cb.ExtraNonce[:], tag)
	all := append([]*chain.Tx{cb}, txs...)
	b := &chain.Block{Header: chain.Header{Version: 1, PrevBlock: parent, Timestamp: 1_800_000_000 + uint32(height), Nonce: tag}, Txs: all}
	b.Header.MerkleRoot, _ = chain.MerkleRoot(b.TxIDs())
	return b
}

// checkInvariants verifies the pool's internal consistency and that every
// pending transaction applies in order on top of the state.
func checkInvariants(t testing.TB, p *Pool, st StateReader) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	count, size := 0, 0
	for a, s := range p.senders {
		if s.addr != a {
			t.Fatalf("sender key mismatch")
		}
		if len(s.txs) == 0 {
			t.Fatalf("empty sender %x kept", a[:4])
		}
		if len(s.txs) > p.cfg.MaxPerSender {
			t.Fatalf("sender %x has %d txs > %d", a[:4], len(s.txs), p.cfg.MaxPerSender)
		}
		if s.hidx < 0 || s.hidx >= len(p.evict) || p.evict[s.hidx] != s {
			t.Fatalf("sender %x not in eviction heap at %d", a[:4], s.hidx)
		}
		acct := st.Account(a)
		next, ready, spend := acct.Nonce, 0, uint64(0)
		for i, e := range s.txs {
			if p.txs[e.id] != e {
				t.Fatalf("sender tx %s not indexed", e.id)
			}
			if e.from != a {
				t.Fatalf("tx %s in wrong sender", e.id)
			}
			if i > 0 && s.txs[i-1].tx.Nonce >= e.tx.Nonce {
				t.Fatalf("sender %x nonces not increasing", a[:4])
			}
			if e.tx.Nonce < acct.Nonce {
				t.Fatalf("tx %s nonce %d below account nonce %d", e.id, e.tx.Nonce, acct.Nonce)
			}
			spend += e.spend
			if spend > acct.Balance {
				t.Fatalf("sender %x spends %d > balance %d", a[:4], spend, acct.Balance)
			}
			if e.tx.Nonce == next && ready == i {
				ready++
				next++
			} else if e.tx.Nonce-next > uint64(p.cfg.MaxNonceGap) {
				t.Fatalf("queued tx nonce %d outside window of next %d", e.tx.Nonce, next)
			}
			count++
			size += e.size
		}
		if ready != s.ready {
			t.Fatalf("sender %x ready %d, recomputed %d (acct %+v cached %+v)", a[:4], s.ready, ready, acct, s.acct)
		}
		if spend != s.spend {
			t.Fatalf("sender %x spend %d, recomputed %d", a[:4], s.spend, spend)
		}
	}
	if count != len(p.txs) || size != p.bytes {
		t.Fatalf("index has %d txs/%d bytes, senders %d/%d", len(p.txs), p.bytes, count, size)
	}
	if len(p.txs) > p.cfg.MaxCount {
		t.Fatalf("count %d > MaxCount %d", len(p.txs), p.cfg.MaxCount)
	}
	listed := 0
	var prev *entry
	for e := p.head; e != nil; e = e.next {
		if e.prev != prev || (prev != nil && prev.seq >= e.seq) {
			t.Fatalf("arrival list broken")
		}
		prev = e
		listed++
	}
	if listed != len(p.txs) || p.tail != prev {
		t.Fatalf("arrival list has %d, index %d", listed, len(p.txs))
	}
	for i := 1; i < len(p.evict); i++ {
		if evictLess(p.evict[i], p.evict[(i-1)/2]) {
			t.Fatalf("eviction heap property broken at %d", i)
		}
		if p.evict[i].hidx != i {
			t.Fatalf("heap index mismatch")
		}
	}
}

// checkTemplate verifies that txs apply in order on a copy of st.
func checkTemplate(t testing.TB, st *fakeState, txs []*chain.Tx) {
	t.Helper()
	accts, tip := st.snapshot()
	cp := &fakeState{accts: accts, tip: tip}
	if err := cp.apply(&chain.Block{Txs: txs}); err != nil {
		t.Fatalf("template does not apply: %v", err)
	}
}

// waitEvents reads n events from sub within a deadline.
func waitEvents(t testing.TB, sub *Subscription, n int) []Event {
	t.Helper()
	var out []Event
	deadline := time.After(5 * time.Second)
	for len(out) < n {
		select {
		case ev := <-sub.Events():
			out = append(out, ev)
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(out), n)
		}
	}
	return out
}

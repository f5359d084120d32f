package miner

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/miner/kernel"

	"github.com/quarrychain/quarry/chain/memstore"
)

// testNow is a fixed instant a few hours after the genesis blocks, so a
// fresh chain's tip is "hours old" (mining must not care).
var testNow = time.Unix(1795219200+5*3600, 0)

// fixedClock returns a clock that always reads t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// newChain opens an in-memory chain of the given network.
func newChain(t testing.TB, p *chain.Params, now func() time.Time) *chain.Chain {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	c, err := chain.New(chain.Config{Params: p, Store: st, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// processSubmitter routes mined blocks through ProcessBlock, as the node does.
func processSubmitter(c *chain.Chain) Submitter {
	return SubmitterFunc(func(b *chain.Block) error {
		_, err := c.ProcessBlock(b)
		return err
	})
}

// testKey returns a deterministic private key and its address.
func testKey(seed byte) (*secp256k1.PrivateKey, chain.Address) {
	var b [32]byte
	b[31] = seed
	b[0] = 0x42
	k := secp256k1.PrivKeyFromBytes(b[:])
	return k, chain.AddressFromPubKey(k.PubKey().SerializeCompressed())
}

func addr(b byte) chain.Address {
	var a chain.Address
	a[0], a[19] = b, 0xaa
	return a
}

// signedTx returns a signed transfer from key.
func signedTx(p *chain.Params, key *secp256k1.PrivateKey, nonce uint64, to chain.Address, amount, fee uint64) *chain.Tx {
	tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: nonce, To: to, Amount: amount, Fee: fee}
	tx.Sign(key)
	return tx
}

// externalBlock builds and solves (regtest difficulty) a child of the
// chain's tip paying to, as a peer would.
func externalBlock(t testing.TB, c *chain.Chain, to chain.Address, ts uint32) *chain.Block {
	t.Helper()
	tip := c.Best()
	ts = max(ts, uint32(tip.MedianTime+1))
	p := c.Params()
	cb := &chain.Tx{Kind: chain.TxCoinbase, ChainID: p.ChainID, Height: tip.Height + 1, To: to, Amount: p.CalcSubsidy(tip.Height + 1)}
	cb.ExtraNonce[0] = 0xee
	b := &chain.Block{Txs: []*chain.Tx{cb}}
	root, _ := chain.MerkleRoot(b.TxIDs())
	b.Header = chain.Header{Version: 1, PrevBlock: tip.Hash, MerkleRoot: root, Timestamp: ts, Bits: tip.NextBits}
	for chain.CheckProofOfWork(b.Header.BlockHash(), b.Header.Bits, p.PowLimit) != nil {
		b.Header.Nonce++
	}
	return b
}

// waitTimeout bounds the tests' waits for a condition (testkit.WaitFor):
// generous, since they synchronise on a logical condition, never on
// elapsed time.
const waitTimeout = 20 * time.Second

// runMiner starts m.Run and returns a stop function that cancels it and
// waits for it to return (Run's error fails the test).
func runMiner(t testing.TB, m *Miner) (stop func()) {
	t.Helper()
	stopRun := testkit.Run(t, m.Run)
	return func() { _ = stopRun() }
}

// fakeKernel never finds anything: it reports every nonce as tried at
// once, so a worker walks its nonce space as fast as the loop allows. It
// records per Prepared the nonces covered, and calls onSearch if set.
type fakeKernel struct {
	calls    atomic.Uint64
	mu       sync.Mutex
	covered  map[*kernel.Prepared]uint64
	onSearch func(p *kernel.Prepared, start uint32, count uint64)
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{covered: make(map[*kernel.Prepared]uint64)}
}

func (k *fakeKernel) Name() string { return "fake" }

func (k *fakeKernel) Search(p *kernel.Prepared, start uint32, count uint64) (uint32, bool, uint64) {
	k.calls.Add(1)
	if k.onSearch != nil {
		k.onSearch(p, start, count)
	}
	k.mu.Lock()
	k.covered[p] += count
	k.mu.Unlock()
	return 0, false, count
}

func (k *fakeKernel) coveredBy(p *kernel.Prepared) uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.covered[p]
}

// hardView wraps a chain and overrides the bits a child must carry, so the
// real kernel hashes at full speed without ever finding a block.
type hardView struct {
	*chain.Chain
	bits uint32
}

func (v hardView) Best() chain.Snapshot {
	s := v.Chain.Best()
	s.NextBits = v.bits
	return s
}

// staticView is a ChainView with a fixed tip.
type staticView struct {
	p   *chain.Params
	tip chain.Snapshot
}

func (v staticView) Params() *chain.Params { return v.p }
func (v staticView) Best() chain.Snapshot  { return v.tip }

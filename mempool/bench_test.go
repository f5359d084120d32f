package mempool

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain"
)

// benchTxs builds n transfers from n/perSender funded senders, signed when
// sign is set, with varied fees.
type benchTxs struct {
	params *chain.Params
	state  *fakeState
	txs    []*chain.Tx
}

func newBenchTxs(b *testing.B, n, perSender int, sign bool) *benchTxs {
	b.Helper()
	p := chain.RegtestParams()
	bt := &benchTxs{params: p, state: newFakeState(p)}
	rng := rand.New(rand.NewPCG(1, 2))
	to := addrOf(testKey(-1))
	for s := 0; len(bt.txs) < n; s++ {
		key := testKey(s)
		var pub [chain.PubKeySize]byte
		copy(pub[:], key.PubKey().SerializeCompressed())
		bt.state.accts[chain.AddressFromPubKey(pub[:])] = chain.Account{Balance: 1000 * coin}
		for nonce := 0; nonce < perSender && len(bt.txs) < n; nonce++ {
			tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: uint64(nonce), To: to,
				Amount: 1 + rng.Uint64N(coin), Fee: 200 + rng.Uint64N(20_000), PubKey: pub}
			if sign {
				tx.Sign(key)
			}
			bt.txs = append(bt.txs, tx)
		}
	}
	return bt
}

func (bt *benchTxs) pool() *Pool {
	return New(Config{Params: bt.params, State: bt.state, Now: func() time.Time { return time.Unix(1_800_000_000, 0) },
		MaxCount: len(bt.txs) + 1, MaxBytes: 1 << 30})
}

// BenchmarkAccept measures transactions accepted per second with signature
// checks, next to the raw secp256k1 verification rate of the same machine.
//
//	go test -run '^$' -bench 'Accept|SelectForBlock' -benchtime 2s ./mempool/
func BenchmarkAccept(b *testing.B) {
	b.Run("secp256k1-verify", func(b *testing.B) {
		key := testKey(1)
		hash := chain.DoubleSHA256([]byte("bench"))
		sig := ecdsa.Sign(key, hash[:])
		pub := key.PubKey()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if !sig.Verify(hash[:], pub) {
				b.Fatal("verify failed")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})
	b.Run("secp256k1-verify-with-parse", func(b *testing.B) {
		// What VerifySignature does per tx: parse the compressed key, then verify.
		key := testKey(1)
		hash := chain.DoubleSHA256([]byte("bench"))
		sig := ecdsa.Sign(key, hash[:])
		pubBytes := key.PubKey().SerializeCompressed()
		b.ResetTimer()
		for range b.N {
			pub, err := secp256k1.ParsePubKey(pubBytes)
			if err != nil || !sig.Verify(hash[:], pub) {
				b.Fatal("verify failed")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
	})

	const batch = 8192
	var signed *benchTxs
	getSigned := func(b *testing.B) *benchTxs {
		if signed == nil {
			signed = newBenchTxs(b, batch, 8, true)
		}
		return signed
	}
	// run adds b.N transactions with the given parallelism, refilling fresh
	// pools outside the timer whenever the batch is used up.
	run := func(b *testing.B, bt *benchTxs, workers int, verify bool) {
		b.ReportAllocs()
		done := 0
		b.ResetTimer()
		for done < b.N {
			b.StopTimer()
			pool := bt.pool()
			n := min(b.N-done, len(bt.txs))
			runtime.GC()
			b.StartTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			// Each worker takes whole senders so nonces arrive in order.
			const per = 8
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						start := int(next.Add(per)) - per
						if start >= n {
							return
						}
						for i := start; i < min(start+per, n); i++ {
							if _, err := pool.add(bt.txs[i], verify, true); err != nil {
								b.Errorf("add: %v", err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			done += n
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	}
	b.Run("add-verify-1worker", func(b *testing.B) { run(b, getSigned(b), 1, true) })
	b.Run("add-verify-parallel", func(b *testing.B) { run(b, getSigned(b), runtime.GOMAXPROCS(0), true) })
	b.Run("add-noverify-1worker", func(b *testing.B) { run(b, getSigned(b), 1, false) })
}

// BenchmarkSelectForBlock measures template selection from a pool of 50,000
// transactions (10,000 senders with 5 each), filling a 1 MiB block and
// selecting the whole pool.
func BenchmarkSelectForBlock(b *testing.B) {
	bt := newBenchTxs(b, 50_000, 5, false)
	pool := bt.pool()
	for _, tx := range bt.txs {
		if _, err := pool.add(tx, false, true); err != nil {
			b.Fatal(err)
		}
	}
	if pool.Count() != 50_000 {
		b.Fatalf("pool has %d", pool.Count())
	}
	for _, c := range []struct {
		name     string
		maxBytes int
	}{{"50k-pool-1MiB-block", bt.params.MaxBlockSize - 1000}, {"50k-pool-all", 1 << 30}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for range b.N {
				n = len(pool.SelectForBlock(c.maxBytes))
			}
			b.ReportMetric(float64(n), "txs/template")
		})
	}
}

package mempool

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// runPoolOps drives a pool through a seeded sequence of adds, mined blocks,
// foreign blocks, reorgs, expiries and lost events, and after every step
// checks that the pool is consistent with the tip state: every pending
// transaction applies in order (ready nonces contiguous from the account
// nonce, cumulative spends within the balance, queued ones inside the gap
// window), the indexes agree, and a selected template applies to the state.
func runPoolOps(t testing.TB, seed uint64, ops []byte) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	gap := []int{DisableNonceGap, 1, 3}[rng.IntN(3)]
	e := newEnv(t, func(c *Config) {
		c.MaxCount = 4 + rng.IntN(12)
		c.MaxPerSender = 2 + rng.IntN(6)
		c.MaxNonceGap = gap
		c.Expiry = time.Hour
		c.MaxReorgReadd = 1 + rng.IntN(20)
	})
	const nkeys = 6
	var pubs [nkeys][chain.PubKeySize]byte
	var addrs [nkeys + 3]chain.Address
	for i := range addrs {
		addrs[i] = addrOf(testKey(i))
	}
	for i := range nkeys {
		copy(pubs[i][:], testKey(i).PubKey().SerializeCompressed())
		e.fund(i, uint64(rng.IntN(4))*coin+uint64(rng.IntN(20_000)))
	}
	fc := newFakeChain(e)
	stale := false
	recipient := func(from int) chain.Address {
		to := rng.IntN(nkeys + 2)
		if to == from {
			to = nkeys + 2
		}
		return addrs[to]
	}
	// foreignTx spends from a random sender at its state nonce (a block
	// mined elsewhere), valid against acct.
	foreignTx := func(acct func(chain.Address) chain.Account) *chain.Tx {
		from := rng.IntN(nkeys)
		a := acct(addrs[from])
		fee := uint64(rng.IntN(2000))
		if a.Balance <= fee+1 {
			return nil
		}
		return unsignedTx(e.params, pubs[from], recipient(from), a.Nonce, 1+rng.Uint64N(a.Balance-fee), fee)
	}

	for _, op := range ops {
		switch op % 12 {
		case 0, 1, 2, 3, 10, 11: // submit
			from := rng.IntN(nkeys)
			a := addrs[from]
			next := e.pool.PendingNonce(a)
			nonce := next + uint64(rng.IntN(3)*rng.IntN(2))
			if nonce > 0 && rng.IntN(4) == 0 {
				nonce-- // replacement or too low
			}
			bal := e.state.Account(a).Balance
			tx := unsignedTx(e.params, pubs[from], recipient(from), nonce, 1+rng.Uint64N(bal/2+1), uint64(rng.IntN(4000)))
			if _, err := e.pool.add(tx, false, true); err != nil && KindOf(err) == "" {
				t.Fatalf("untyped rejection: %v", err)
			}
		case 4: // mine the pool's template
			if stale {
				break
			}
			txs := e.pool.SelectForBlock(200 + rng.IntN(6)*200)
			fc.push(fc.build(txs...), true)
		case 5: // a block mined elsewhere
			var txs []*chain.Tx
			if tx := foreignTx(e.state.Account); tx != nil {
				txs = append(txs, tx)
			}
			fc.push(fc.build(txs...), true)
			stale = false
		case 6, 7: // reorg onto a heavier branch
			if fc.height() == 0 {
				break
			}
			depth := 1 + rng.IntN(min(3, int(fc.height())))
			fork := len(fc.blocks) - depth
			scratch := &fakeState{accts: cloneAccts(fc.states[fork]), tip: fc.tips[fork]}
			var old []*chain.Tx
			for _, b := range fc.blocks[fork:] {
				old = append(old, b.Txs[1:]...)
			}
			lists := make([][]*chain.Tx, depth+1)
			for i := range lists {
				var cands []*chain.Tx
				for _, tx := range old {
					if rng.IntN(3) == 0 {
						cands = append(cands, tx) // re-mined on the new branch
					}
				}
				if tx := foreignTx(scratch.Account); tx != nil {
					cands = append(cands, tx) // possibly a double spend
				}
				for _, tx := range cands {
					if scratch.apply(&chain.Block{Txs: []*chain.Tx{tx}}) == nil {
						lists[i] = append(lists[i], tx)
					}
				}
			}
			fc.reorg(depth, fc.branchFrom(depth, lists...))
			stale = false
		case 8: // time passes
			e.clock.advance(time.Duration(rng.IntN(45)) * time.Minute)
			e.pool.Expire(e.clock.Now())
		case 9: // a block whose events are lost
			var txs []*chain.Tx
			if tx := foreignTx(e.state.Account); tx != nil {
				txs = append(txs, tx)
			}
			fc.push(fc.build(txs...), false)
			stale = true
		}
		if !stale {
			checkInvariants(t, e.pool, e.state)
		}
		checkTemplate(t, e.state, e.pool.SelectForBlock(1<<20))
	}
}

// unsignedTx builds a transfer with the sender's public key but no
// signature: the property test exercises state handling, and skipping
// secp256k1 keeps it fast under the race detector.
func unsignedTx(p *chain.Params, pub [chain.PubKeySize]byte, to chain.Address, nonce, amount, fee uint64) *chain.Tx {
	return &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: nonce, To: to, Amount: amount, Fee: fee, PubKey: pub}
}

func cloneAccts(m map[chain.Address]chain.Account) map[chain.Address]chain.Account {
	out := make(map[chain.Address]chain.Account, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestPoolProperty(t *testing.T) {
	seeds := 24
	if testing.Short() {
		seeds = 6
	}
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 1))
		ops := make([]byte, 50)
		for i := range ops {
			ops[i] = byte(rng.IntN(256))
		}
		runPoolOps(t, seed, ops)
	}
}

func FuzzPoolOps(f *testing.F) {
	f.Add(uint64(1), []byte{0, 0, 1, 4, 2, 6, 0, 5, 9, 0, 7, 4})
	f.Add(uint64(7), []byte{3, 3, 3, 3, 4, 4, 6, 7, 8, 8, 8, 0, 1, 2, 5})
	f.Add(uint64(42), []byte{9, 0, 1, 9, 6, 0, 0, 4, 9, 5, 2})
	f.Fuzz(func(t *testing.T, seed uint64, ops []byte) {
		if len(ops) > 64 {
			ops = ops[:64]
		}
		runPoolOps(t, seed, ops)
	})
}

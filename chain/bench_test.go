package chain

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/quarrychain/quarry/chain/leveldbstore"
	"github.com/quarrychain/quarry/chain/memstore"
)

// Benchmarks of the chain engine. Run them with, for example:
//
//	go test -run '^$' -bench . -benchtime 3x -count 3 ./chain/
//
// Throughput is reported next to ns/op as tx/s, blocks/s, headers/s or
// cycles/s. Every fixture is deterministic (seeded keys, regtest blocks,
// fixed clock); chains live on the map-backed memstore unless a
// sub-benchmark says store=leveldb (a temp dir, synced commits).

const (
	benchTxsPerBlock = 2000 // transfers per block in the connect benchmarks
	benchTxBlocks    = 4    // pre-signed blocks connected before the fixture is rebuilt
)

// benchNow is the fixed clock of the benchmark chains.
func benchNow() time.Time { return time.Unix(genesisTime+1<<24, 0) }

// benchBlock builds and solves a regtest block on parent (at parentHeight,
// parentTime) paying the subsidy plus fees to miner.
func benchBlock(p *Params, parent Hash, parentHeight uint64, parentTime uint32, miner Address, txs []*Tx) *Block {
	var fees uint64
	for _, tx := range txs {
		fees += tx.Fee
	}
	cb := &Tx{Kind: TxCoinbase, ChainID: p.ChainID, Height: parentHeight + 1, To: miner, Amount: p.CalcSubsidy(parentHeight+1) + fees}
	b := &Block{Txs: append([]*Tx{cb}, txs...)}
	root, _ := MerkleRoot(b.TxIDs())
	b.Header = Header{Version: 1, PrevBlock: parent, MerkleRoot: root, Timestamp: parentTime + 1, Bits: p.PowLimitBits}
	for CheckProofOfWork(b.Header.BlockHash(), b.Header.Bits, p.PowLimit) != nil {
		b.Header.Nonce++
	}
	return b
}

// benchTxFixture holds benchTxsPerBlock funded senders and benchTxBlocks
// consecutive blocks in which every sender makes one signed transfer.
type benchTxFixture struct {
	p *Params
	// setup are the blocks that fund the senders (from genesis).
	setup []*Block
	// blocks follow setup; each holds benchTxsPerBlock transfers.
	blocks []*Block
}

func benchKey(rng *rand.Rand) *secp256k1.PrivateKey {
	var kb [32]byte
	for j := 0; j < 32; j += 8 {
		binary.LittleEndian.PutUint64(kb[j:], rng.Uint64())
	}
	kb[0] |= 1
	return secp256k1.PrivKeyFromBytes(kb[:])
}

// newBenchTxFixture funds benchTxsPerBlock distinct senders (three coinbases
// to a funder, then one block of funding transfers) and pre-signs nBlocks
// transfer blocks: in block j sender i pays sender i+1 with nonce j.
func newBenchTxFixture(b *testing.B, nBlocks int) *benchTxFixture {
	b.Helper()
	p := RegtestParams()
	rng := rand.New(rand.NewPCG(1, 2))
	f := &benchTxFixture{p: p}
	funder := benchKey(rng)
	funderAddr := AddressFromPubKey(funder.PubKey().SerializeCompressed())
	keys := make([]*secp256k1.PrivateKey, benchTxsPerBlock)
	addrs := make([]Address, benchTxsPerBlock)
	for i := range keys {
		keys[i] = benchKey(rng)
		addrs[i] = AddressFromPubKey(keys[i].PubKey().SerializeCompressed())
	}
	parent, height, ts := p.GenesisHash, uint64(0), p.GenesisBlock.Header.Timestamp
	add := func(txs []*Tx) *Block {
		blk := benchBlock(p, parent, height, ts, funderAddr, txs)
		parent, height, ts = blk.Hash(), height+1, blk.Header.Timestamp
		return blk
	}
	for range 3 {
		f.setup = append(f.setup, add(nil))
	}
	funding := make([]*Tx, benchTxsPerBlock)
	for i := range funding {
		funding[i] = &Tx{Kind: TxTransfer, ChainID: p.ChainID, Nonce: uint64(i), To: addrs[i], Amount: Coin / 20, Fee: 1}
		funding[i].Sign(funder)
	}
	f.setup = append(f.setup, add(funding))
	for j := range nBlocks {
		txs := make([]*Tx, benchTxsPerBlock)
		for i := range txs {
			txs[i] = &Tx{Kind: TxTransfer, ChainID: p.ChainID, Nonce: uint64(j), To: addrs[(i+1)%len(addrs)], Amount: 1000, Fee: 1}
			txs[i].Sign(keys[i])
		}
		f.blocks = append(f.blocks, add(txs))
	}
	return f
}

// newChain returns an in-memory chain with the setup blocks connected.
func (f *benchTxFixture) newChain(b *testing.B, workers int, sigs *SigCache) (*Chain, Store) {
	b.Helper()
	st := memstore.New()
	c, err := New(Config{Params: f.p, Store: st, Now: benchNow, VerifyWorkers: workers, SigCache: sigs})
	if err != nil {
		b.Fatal(err)
	}
	for _, blk := range f.setup {
		if res, err := c.ProcessBlock(blk); err != nil || res.Status != StatusConnected {
			b.Fatalf("setup block: %v %v", res.Status, err)
		}
	}
	return c, st
}

// BenchmarkConnectBlock measures ProcessBlock of blocks holding 2,000 signed
// transfers from distinct senders (sanity checks, storing, reading back,
// signature verification, state update, two commits), with signatures
// verified by GOMAXPROCS workers and by one; next to it, in the same run, the
// rate of the secp256k1 library's ecdsa.Signature.Verify on the same
// signatures (parsed beforehand) on one core and on GOMAXPROCS cores, and of
// Tx.VerifySignature on one core (which also parses the key and hashes the
// transaction). The tx/s metric is the figure to compare; ns/op is per
// block (connect) or per signature (verify).
func BenchmarkConnectBlock(b *testing.B) {
	f := newBenchTxFixture(b, benchTxBlocks)
	connect := func(workers int, sigs *SigCache) func(*testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			var c *Chain
			var st Store
			next := len(f.blocks)
			for i := 0; i < b.N; i++ {
				if next == len(f.blocks) {
					// Out of pre-signed blocks: start over on a fresh chain.
					b.StopTimer()
					if st != nil {
						_ = st.Close()
					}
					c, st = f.newChain(b, workers, sigs)
					next = 0
					b.StartTimer()
				}
				if res, err := c.ProcessBlock(f.blocks[next]); err != nil || res.Status != StatusConnected {
					b.Fatalf("block: %v %v", res.Status, err)
				}
				next++
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*benchTxsPerBlock)/b.Elapsed().Seconds(), "tx/s")
			if st != nil {
				_ = st.Close()
			}
		}
	}
	procs := runtime.GOMAXPROCS(0)
	b.Run(fmt.Sprintf("workers=%d", procs), connect(procs, nil))
	if procs != 1 {
		b.Run("workers=1", connect(1, nil))
	}
	// The steady state of a node: the mempool verified every transaction
	// on admission, so connecting its block finds them in the shared cache
	// and the rest of the pipeline (decode, state, store) is what remains.
	warm := NewSigCache(len(f.blocks) * benchTxsPerBlock)
	for _, blk := range f.blocks {
		for _, tx := range blk.Txs[1:] {
			if err := warm.Verify(tx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("sigcache-warm", connect(procs, warm))

	txs := f.blocks[0].Txs[1:]
	type sigItem struct {
		sig  *ecdsa.Signature
		pub  *secp256k1.PublicKey
		hash Hash
	}
	items := make([]sigItem, len(txs))
	for i, tx := range txs {
		pub, err := secp256k1.ParsePubKey(tx.PubKey[:])
		if err != nil {
			b.Fatal(err)
		}
		var r, s secp256k1.ModNScalar
		r.SetByteSlice(tx.Sig[:32])
		s.SetByteSlice(tx.Sig[32:])
		items[i] = sigItem{ecdsa.NewSignature(&r, &s), pub, tx.SigHash()}
	}
	b.Run("secp256k1-verify-1core", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			it := &items[i%len(items)]
			if !it.sig.Verify(it.hash[:], it.pub) {
				b.Fatal("signature does not verify")
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
	b.Run(fmt.Sprintf("secp256k1-verify-%dcores", procs), func(b *testing.B) {
		b.ReportAllocs()
		var next atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(uint64(len(items)/procs)) % uint64(len(items)))
			for pb.Next() {
				it := &items[i%len(items)]
				if !it.sig.Verify(it.hash[:], it.pub) {
					panic("signature does not verify")
				}
				i++
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
	b.Run("tx-verify-1core", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := txs[i%len(txs)].VerifySignature(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
}

// BenchmarkProcessEmptyBlock measures ProcessBlock of coinbase-only regtest
// blocks extending the tip: the fixed cost of a block (sanity, contextual
// checks, two commits, index and snapshot updates). store=leveldb commits
// to a temp dir with fsync, as a node does.
func BenchmarkProcessEmptyBlock(b *testing.B) {
	p := RegtestParams()
	var miner Address
	miner[0] = 7
	run := func(open func(b *testing.B) Store) func(*testing.B) {
		return func(b *testing.B) {
			blocks := make([]*Block, b.N)
			parent, height, ts := p.GenesisHash, uint64(0), p.GenesisBlock.Header.Timestamp
			for i := range blocks {
				blocks[i] = benchBlock(p, parent, height, ts, miner, nil)
				parent, height, ts = blocks[i].Hash(), height+1, blocks[i].Header.Timestamp
			}
			st := open(b)
			defer func() { _ = st.Close() }()
			c, err := New(Config{Params: p, Store: st, Now: benchNow})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for _, blk := range blocks {
				if res, err := c.ProcessBlock(blk); err != nil || res.Status != StatusConnected {
					b.Fatalf("block: %v %v", res.Status, err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "blocks/s")
		}
	}
	b.Run("store=mem", run(func(*testing.B) Store { return memstore.New() }))
	b.Run("store=leveldb", run(func(b *testing.B) Store {
		st, err := leveldbstore.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return st
	}))
}

// BenchmarkHeaderValidation measures the per-header rules a node runs on
// every announced or synced header: CheckHeaderSanity (version, bits, one
// SHA-256d and the PoW compare) plus the contextual checks against the
// parent (expected bits, median time past, future limit).
//
// regtest validates the 2,000 headers of a real regtest chain in turn (no
// retargeting: the expected bits are a constant). dev-asert validates a
// header mined on top of a synthetic dev-network index of the given height,
// so the expected bits come from aserti3-2d; the two heights guard against
// the cost growing with the height of the parent (finding the ASERT anchor
// by walking the branch once made it linear).
func BenchmarkHeaderValidation(b *testing.B) {
	b.Run("regtest", func(b *testing.B) {
		p := RegtestParams()
		c, err := New(Config{Params: p, Store: memstore.New(), Now: benchNow})
		if err != nil {
			b.Fatal(err)
		}
		var miner Address
		parent, height, ts := p.GenesisHash, uint64(0), p.GenesisBlock.Header.Timestamp
		for range 2000 {
			blk := benchBlock(p, parent, height, ts, miner, nil)
			if _, err := c.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
			parent, height, ts = blk.Hash(), height+1, blk.Header.Timestamp
		}
		c.mu.RLock()
		mainNodes := append([]*blockNode(nil), c.main...)
		c.mu.RUnlock()
		now := benchNow()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			n := mainNodes[1+i%(len(mainNodes)-1)]
			if err := CheckHeaderSanity(&n.header, p); err != nil {
				b.Fatal(err)
			}
			if err := c.checkHeaderContext(&n.header, n.parent, now); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "headers/s")
	})
	for _, h := range []uint64{1_000, 100_000} {
		b.Run(fmt.Sprintf("dev-asert-height=%d", h), func(b *testing.B) {
			p := DevParams()
			c, err := New(Config{Params: p, Store: memstore.New(), Now: benchNow})
			if err != nil {
				b.Fatal(err)
			}
			tip := benchDevIndex(p, h)
			// One block per hour against a 5 s target: ASERT has eased the
			// difficulty to the PoW limit, so mining the header is quick.
			hdr := Header{Version: 1, PrevBlock: tip.hash, Timestamp: tip.header.Timestamp + 3600, Bits: c.nextBits(tip)}
			for CheckProofOfWork(hdr.BlockHash(), hdr.Bits, p.PowLimit) != nil {
				hdr.Nonce++
			}
			now := time.Unix(int64(hdr.Timestamp), 0)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := CheckHeaderSanity(&hdr, p); err != nil {
					b.Fatal(err)
				}
				if err := c.checkHeaderContext(&hdr, tip, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "headers/s")
		})
	}
}

// benchDevIndex builds an in-memory index branch of height blocks on the dev
// genesis, one block per hour (headers are not mined: only the contextual
// rules read them), and returns its tip.
func benchDevIndex(p *Params, height uint64) *blockNode {
	g := p.GenesisBlock.Header
	n := &blockNode{hash: p.GenesisHash, header: g, chainWork: CalcWork(g.Bits)}
	for h := uint64(1); h <= height; h++ {
		hdr := Header{Version: 1, PrevBlock: n.hash, Timestamp: n.header.Timestamp + 3600, Bits: p.PowLimitBits}
		if h == 1 {
			hdr.Bits = p.InitialBits
		}
		child := &blockNode{hash: hdr.BlockHash(), header: hdr, height: h}
		child.setParent(n)
		n = child
	}
	return n
}

// BenchmarkConnectDisconnect measures one disconnect of the tip followed by
// its reconnection (undo, state and digest updates, indexes, two commits,
// and on reconnection the signature checks again), for a coinbase-only
// block and for a block of 2,000 transfers; and, at the bottom, one
// incremental update of the state digest (two SHA-256 leaves).
func BenchmarkConnectDisconnect(b *testing.B) {
	cycle := func(b *testing.B, c *Chain, txs int) {
		c.mu.Lock()
		defer c.mu.Unlock()
		tip := c.tipNode()
		want := c.digest
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.disconnectTip(); err != nil {
				b.Fatal(err)
			}
			if _, err := c.connectBlock(tip); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if c.digest != want || c.tipNode() != tip {
			b.Fatal("a connect+disconnect cycle changed the state")
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
		if txs > 0 {
			b.ReportMetric(float64(b.N*txs)/b.Elapsed().Seconds(), "tx/s")
		}
	}
	b.Run("empty", func(b *testing.B) {
		p := RegtestParams()
		st := memstore.New()
		defer func() { _ = st.Close() }()
		c, err := New(Config{Params: p, Store: st, Now: benchNow})
		if err != nil {
			b.Fatal(err)
		}
		var miner Address
		miner[0] = 3
		if _, err := c.ProcessBlock(benchBlock(p, p.GenesisHash, 0, p.GenesisBlock.Header.Timestamp, miner, nil)); err != nil {
			b.Fatal(err)
		}
		cycle(b, c, 0)
	})
	b.Run(fmt.Sprintf("transfers=%d", benchTxsPerBlock), func(b *testing.B) {
		f := newBenchTxFixture(b, 1)
		c, st := f.newChain(b, 0, nil)
		defer func() { _ = st.Close() }()
		if _, err := c.ProcessBlock(f.blocks[0]); err != nil {
			b.Fatal(err)
		}
		cycle(b, c, benchTxsPerBlock)
	})
	b.Run("digest-update", func(b *testing.B) {
		var d stateDigest
		var a Address
		acc := Account{Balance: 1}
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			binary.LittleEndian.PutUint64(a[:], uint64(i))
			next := Account{Balance: acc.Balance + 1, Nonce: acc.Nonce + 1}
			d.update(a, acc, next)
			acc = next
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
	})
}

// BenchmarkBlockRead measures reading a stored block of 2,000 transfers:
// "get+decode" is a store read and decoding alone, "verified" is Chain.Block,
// which also checks the header hash and the merkle root so that damaged data
// is reported as corrupt instead of served.
func BenchmarkBlockRead(b *testing.B) {
	f := newBenchTxFixture(b, 1)
	c, st := f.newChain(b, 0, nil)
	blk := f.blocks[0]
	if _, err := c.ProcessBlock(blk); err != nil {
		b.Fatal(err)
	}
	h := blk.Hash()
	b.Run("get+decode", func(b *testing.B) {
		for b.Loop() {
			raw, err := st.Get(hashKey(prefixBlock, h))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := DecodeBlock(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("verified", func(b *testing.B) {
		for b.Loop() {
			if _, err := c.Block(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkBlockBytes measures serving a stored block to a peer
// (BlockBytes): the store read and the integrity checks that prove the
// bytes are block h (decoding, header hash, merkle root), for a block that
// holds a coinbase only (txs=0) or 300 signed transfers (txs=300, 44 KB);
// store=leveldb reads from a LevelDB directory as a node does.
//
//	go test -run '^$' -bench BlockBytes -count 5 ./chain/
func BenchmarkBlockBytes(b *testing.B) {
	p := RegtestParams()
	rng := rand.New(rand.NewPCG(3, 4))
	key := benchKey(rng)
	var miner Address
	miner[0] = 7
	for _, nTx := range []int{0, 300} {
		txs := make([]*Tx, nTx)
		for i := range txs {
			txs[i] = &Tx{Kind: TxTransfer, ChainID: p.ChainID, Nonce: uint64(i), To: miner, Amount: 1000 + uint64(i), Fee: 1}
			txs[i].Sign(key)
		}
		blk := benchBlock(p, p.GenesisHash, 0, p.GenesisBlock.Header.Timestamp, miner, txs)
		h, raw := blk.Hash(), blk.Bytes()
		for _, store := range []string{"mem", "leveldb"} {
			b.Run(fmt.Sprintf("txs=%d/store=%s", nTx, store), func(b *testing.B) {
				var st Store = memstore.New()
				if store == "leveldb" {
					var err error
					if st, err = leveldbstore.Open(b.TempDir()); err != nil {
						b.Fatal(err)
					}
				}
				defer func() { _ = st.Close() }()
				c, err := New(Config{Params: p, Store: st, Now: benchNow})
				if err != nil {
					b.Fatal(err)
				}
				var batch Batch
				batch.Put(hashKey(prefixBlock, h), raw)
				if err := st.Commit(&batch); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					if got, err := c.BlockBytes(h); err != nil || len(got) != len(raw) {
						b.Fatalf("BlockBytes: %d bytes, %v", len(got), err)
					}
				}
			})
		}
	}
}

package p2p

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// arrivals records when each node connected each block.
type arrivals struct {
	mu   sync.Mutex
	cond *sync.Cond
	at   map[chain.Hash][]time.Time // per node
	k    int
}

func watchArrivals(tb testing.TB, nodes []*testNode) *arrivals {
	a := &arrivals{at: make(map[chain.Hash][]time.Time), k: len(nodes)}
	a.cond = sync.NewCond(&a.mu)
	var wg sync.WaitGroup
	subs := make([]*chain.Subscription, len(nodes))
	tb.Cleanup(func() {
		for _, s := range subs {
			s.Close()
		}
		wg.Wait()
	})
	for i, tn := range nodes {
		sub := tn.c.Subscribe(4096)
		subs[i] = sub
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range sub.Events() {
				if ev.Kind != chain.EventBlockConnected {
					continue
				}
				now := time.Now()
				a.mu.Lock()
				ts := a.at[ev.Hash]
				if ts == nil {
					ts = make([]time.Time, a.k)
					a.at[ev.Hash] = ts
				}
				ts[i] = now
				a.mu.Unlock()
				a.cond.Broadcast()
			}
		}()
	}
	return a
}

// waitAll blocks until every node connected h (or the timeout) and returns
// the arrival times.
func (a *arrivals) waitAll(tb testing.TB, h chain.Hash, timeout time.Duration) []time.Time {
	tb.Helper()
	timer := time.AfterFunc(timeout, a.cond.Broadcast)
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		ts := a.at[h]
		if ts != nil && !slices.ContainsFunc(ts, time.Time.IsZero) {
			return ts
		}
		if time.Now().After(deadline) {
			tb.Fatalf("block %s did not reach every node within %v", h, timeout)
		}
		a.cond.Wait()
	}
}

// startSparseNetwork starts k nodes, each dialling up to degree random
// earlier nodes (seeded), so blocks need several gossip hops.
func startSparseNetwork(tb testing.TB, k, degree int, seed uint64) []*testNode {
	rng := rand.New(rand.NewPCG(seed, 7))
	nodes := make([]*testNode, 0, k)
	for i := range k {
		var boot []*testNode
		for _, j := range rng.Perm(i)[:min(i, degree)] {
			boot = append(boot, nodes[j])
		}
		nodes = append(nodes, startNode(tb, fmt.Sprintf("n%d", i), nil, withBootnodes(boot...), withStatusInterval(time.Second)))
	}
	testkit.WaitFor(tb, 30*time.Second, "connectivity", func() bool {
		for _, tn := range nodes {
			if tn.n.ConnectionCount() == 0 || tn.n.topicPeers(topicBlocks) < tn.n.ConnectionCount() {
				return false
			}
		}
		return true
	})
	return nodes
}

// BenchmarkPropagation measures how long a freshly mined block takes to be
// connected by every node (from PublishBlock on the miner), over a sparse
// random topology (degree 3), mining on a different node each time.
// Reports the median and p99 of the time to reach all nodes.
func BenchmarkPropagation(b *testing.B) {
	for _, k := range []int{5, 10} {
		b.Run(fmt.Sprintf("nodes=%d", k), func(b *testing.B) {
			nodes := startSparseNetwork(b, k, 3, 1)
			arr := watchArrivals(b, nodes)
			g := chaintest.NewGenerator(b, chain.RegtestParams())
			parent := chaintest.GenesisName
			n := 0
			mineOne := func() time.Duration {
				n++
				name := fmt.Sprintf("p%d", n)
				miner := nodes[n%k]
				blk := g.Next(name, parent)
				parent = name
				if _, err := miner.c.ProcessBlock(blk); err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				if err := miner.n.PublishBlock(context.Background(), blk); err != nil {
					b.Fatal(err)
				}
				ts := arr.waitAll(b, blk.Hash(), 30*time.Second)
				var last time.Time
				for _, t := range ts {
					if t.After(last) {
						last = t
					}
				}
				return last.Sub(start)
			}
			for range 2 * k { // warm-up: let the gossip meshes form
				mineOne()
			}
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, mineOne())
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkSyncThroughput: a node joins a network whose chain is 2,000
// blocks ahead and catches up by the sync protocol; the same blocks handed
// to a fresh chain with ProcessBlock give the local bound, measured in the
// same iteration (with an event reader like the syncing node's).
//
// Throughput is a rate, so it is measured from the first block connected to
// the tip: sync-rate/local (target >= 0.85) is the steady download rate over
// the local rate. Start-up (host start, dial, status and the first headers
// round trip, until the first block connects) is reported apart as
// first-block-ms; sync-blocks/s and overhead-x (local/sync) include it.
// sync-rate/local-med is the median over iterations of the same ratio,
// each from one local run and the sync right after it: the machine is
// shared, and a burst of other work that hits one phase of one iteration
// moves the ratio of sums but not the median.
//
//	go test -run '^$' -bench BenchmarkSyncThroughput -benchtime 10x -count 5 ./p2p/
func BenchmarkSyncThroughput(b *testing.B) {
	const blocks = 2000
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(b, p)
	chainBlocks := g.Chain("s", chaintest.GenesisName, blocks)
	src := chaintest.NewChain(b, p, nil)
	for _, blk := range chainBlocks {
		if _, err := src.ProcessBlock(blk); err != nil {
			b.Fatal(err)
		}
	}
	source := startNode(b, "source", src)
	tip := chainBlocks[len(chainBlocks)-1].Hash()

	var syncTime, localTime, firstBlock, steady time.Duration
	ratios := make([]float64, 0, b.N) // steady rate over local rate, per iteration
	b.ResetTimer()
	for i := range b.N {
		// Local bound.
		b.StopTimer()
		local := chaintest.NewChain(b, p, nil)
		stopWatch := watchEvents(local, blocks)
		b.StartTimer()
		start := time.Now()
		for _, blk := range chainBlocks {
			if _, err := local.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
		}
		localIter := time.Since(start)
		localTime += localIter
		stopWatch()

		// Over the network.
		b.StopTimer()
		c := chaintest.NewChain(b, p, nil)
		sub := c.Subscribe(4 * blocks)
		b.StartTimer()
		start = time.Now()
		late := startNode(b, fmt.Sprintf("late%d", i), c, withBootnodes(source))
		first := waitForTip(b, sub, tip, 60*time.Second)
		end := time.Now()
		syncTime += end.Sub(start)
		firstBlock += first.Sub(start)
		steady += end.Sub(first)
		ratios = append(ratios, float64(blocks-1)/end.Sub(first).Seconds()/(float64(blocks)/localIter.Seconds()))
		b.StopTimer()
		sub.Close()
		late.stop(b)
		b.StartTimer()
	}
	b.StopTimer()
	syncRate := float64(blocks*b.N) / syncTime.Seconds()
	localRate := float64(blocks*b.N) / localTime.Seconds()
	// The first block is connected at the start of the steady interval.
	steadyRate := float64((blocks-1)*b.N) / steady.Seconds()
	b.ReportMetric(syncRate, "sync-blocks/s")
	b.ReportMetric(localRate, "local-blocks/s")
	b.ReportMetric(steadyRate, "steady-blocks/s")
	b.ReportMetric(localRate/syncRate, "overhead-x")
	b.ReportMetric(steadyRate/localRate, "sync-rate/local")
	slices.Sort(ratios)
	med := ratios[len(ratios)/2]
	if len(ratios)%2 == 0 {
		med = (ratios[len(ratios)/2-1] + med) / 2
	}
	b.ReportMetric(med, "sync-rate/local-med")
	b.ReportMetric(float64(firstBlock.Microseconds())/1000/float64(b.N), "first-block-ms")
}

// watchEvents subscribes to c's events and reads them as they come until
// the returned function is called (it waits for the reader): the local
// bound of a sync benchmark carries the same event reader as the syncing
// node, whose events time the sync.
func watchEvents(c *chain.Chain, blocks int) (stop func()) {
	sub := c.Subscribe(4 * blocks)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range sub.Events() {
		}
	}()
	return func() {
		sub.Close()
		<-done
	}
}

// waitForTip waits for the tip event of tip and returns when the first
// block was connected.
func waitForTip(tb testing.TB, sub *chain.Subscription, tip chain.Hash, timeout time.Duration) time.Time {
	tb.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var first time.Time
	for {
		select {
		case ev := <-sub.Events():
			if first.IsZero() && ev.Kind == chain.EventBlockConnected {
				first = time.Now()
			}
			if ev.Kind == chain.EventNewTip && ev.Tip.Hash == tip {
				return first
			}
		case <-timer.C:
			tb.Fatalf("tip %s not reached within %v", tip, timeout)
		}
	}
}

package p2p

import (
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// blockStaller serves status and headers of src honestly and never answers
// getblocks: the peer that holds the download window up.
func blockStaller(tb testing.TB, src *chain.Chain) network.StreamHandler {
	stop := make(chan struct{})
	tb.Cleanup(func() { close(stop) })
	return serveFrames(func(s network.Stream, typ byte, payload []byte) {
		switch typ {
		case msgStatus:
			best := src.Best()
			_ = writeFrame(s, msgStatus, encodeStatus(Status{Version: ProtocolVersion, Genesis: src.Params().GenesisHash,
				Tip: best.Hash, Height: best.Height, ChainWork: best.ChainWork}))
		case msgGetHeaders:
			req, err := decodeGetHeaders(payload)
			if err != nil {
				return
			}
			_ = writeFrame(s, msgHeaders, encodeHeaders(src.HeadersAfter(req.Locator, req.Stop, req.Max)))
		default:
			_ = s.SetDeadline(time.Time{})
			<-stop
		}
	})
}

// BenchmarkCatchUp: a fresh node catches up 10,000 blocks from four peers,
// all honest, or three honest and one that serves headers and never
// blocks; beside it the same blocks are connected locally (with an event
// reader like the syncing node's). Reported:
// seconds of each, hostile/honest (target <= 1.2), the honest sync's rate
// over the local rate from its first block connected to the tip (target
// >= 0.85; sync/local-total also counts start-up, dialling and the first
// headers), and whether the hostile peer was penalised for
// stalling and disconnected.
//
//	go test -run '^$' -bench BenchmarkCatchUp -benchtime 1x -count 3 ./p2p/
func BenchmarkCatchUp(b *testing.B) {
	const blocks = 10_000
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(b, p)
	chainBlocks := g.Chain("c", chaintest.GenesisName, blocks)
	tip := chainBlocks[len(chainBlocks)-1].Hash()
	newSource := func() *chain.Chain {
		c := chaintest.NewChain(b, p, nil)
		for _, blk := range chainBlocks {
			if _, err := c.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
		}
		return c
	}
	var sources []*testNode
	for i := range 4 {
		sources = append(sources, startNode(b, fmt.Sprintf("src%d", i), newSource()))
	}
	staller := newEvilPeer(b, p, blockStaller(b, sources[0].c))

	// catchUp returns the time from start to the tip and from the first
	// block connected to the tip (the download's steady rate).
	catchUp := func(name string, peers []*testNode, hostile *evilPeer) (time.Duration, time.Duration, bool) {
		c := chaintest.NewChain(b, p, nil)
		sub := c.Subscribe(4 * blocks)
		defer sub.Close()
		start := time.Now()
		opts := []nodeOpt{withBootnodes(peers...)}
		if hostile != nil {
			addr := fmt.Sprintf("%s/p2p/%s", hostile.h.Addrs()[0], hostile.h.ID())
			opts = append(opts, func(c *Config) { c.Bootnodes = append([]string{addr}, c.Bootnodes...) })
		}
		n := startNode(b, name, c, opts...)
		first := waitForTip(b, sub, tip, 5*time.Minute)
		took, steady := time.Since(start), time.Since(first)
		penalised := false
		if hostile != nil {
			// A stall costs the peer and disconnects it (a bootnode is
			// redialled, and banned at its second stall).
			testkit.WaitFor(b, 30*time.Second, "hostile peer penalised", func() bool {
				return counterValue(b, n.n.m.penalties.WithLabelValues(reasonStall)) > 0
			})
			penalised = true
		}
		n.stop(b)
		return took, steady, penalised
	}

	var local, honest, hostile, steady time.Duration
	allDropped := true
	b.ResetTimer()
	for i := range b.N {
		c := chaintest.NewChain(b, p, nil)
		stopWatch := watchEvents(c, blocks)
		start := time.Now()
		for _, blk := range chainBlocks {
			if _, err := c.ProcessBlock(blk); err != nil {
				b.Fatal(err)
			}
		}
		local += time.Since(start)
		stopWatch()
		d, s, _ := catchUp(fmt.Sprintf("honest%d", i), sources, nil)
		honest += d
		steady += s
		d, _, dropped := catchUp(fmt.Sprintf("hostile%d", i), sources[:3], staller)
		hostile += d
		allDropped = allDropped && dropped
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(local.Seconds()/n, "local-s")
	b.ReportMetric(honest.Seconds()/n, "honest-s")
	b.ReportMetric(hostile.Seconds()/n, "hostile-s")
	b.ReportMetric(hostile.Seconds()/honest.Seconds(), "hostile/honest")
	b.ReportMetric(local.Seconds()/honest.Seconds(), "sync/local-total")
	b.ReportMetric(local.Seconds()/steady.Seconds(), "sync/local-rate")
	dropped := 0.0
	if allDropped {
		dropped = 1
	}
	b.ReportMetric(dropped, "hostile-penalised")
	b.ReportMetric(0, "ns/op")
}

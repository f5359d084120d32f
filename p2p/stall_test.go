package p2p

import (
	"math/big"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// liarStatus is a status that claims far more work than any real chain.
func liarStatus(p *chain.Params) Status {
	return Status{Version: ProtocolVersion, Genesis: p.GenesisHash, Height: 1e6, ChainWork: new(big.Int).Lsh(big.NewInt(1), 200)}
}

// stallingHandler answers status with a claim of huge work and never
// answers anything else: the stream stays open until the test ends.
func stallingHandler(t *testing.T, p *chain.Params) network.StreamHandler {
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	return serveFrames(func(s network.Stream, typ byte, _ []byte) {
		if typ == msgStatus {
			_ = writeFrame(s, msgStatus, encodeStatus(liarStatus(p)))
			return
		}
		_ = s.SetDeadline(time.Time{})
		<-stop
	})
}

// sourceChain returns a chain holding k blocks built by g.
func sourceChain(t *testing.T, g *chaintest.Generator, p *chain.Params, k int) (*chain.Chain, []*chain.Block) {
	t.Helper()
	src := chaintest.NewChain(t, p, nil)
	blocks := g.Chain("s", chaintest.GenesisName, k)
	for _, b := range blocks {
		if _, err := src.ProcessBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	return src, blocks
}

// TestStallingPeerDoesNotStopSync is issue 10 item 1: a peer that claims
// more work than anyone and never answers getheaders must not keep the
// node from syncing from an honest peer, and the stall must cost it.
func TestStallingPeerDoesNotStopSync(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	src, blocks := sourceChain(t, g, p, 123)
	for _, stallers := range []int{1, 4} {
		t.Run(string(rune('0'+stallers))+" stallers", func(t *testing.T) {
			victim := startNode(t, "victim", nil, func(c *Config) { c.RequestTimeout = 500 * time.Millisecond })
			var evil []*evilPeer
			for range stallers {
				e := newEvilPeer(t, p, stallingHandler(t, p))
				e.connect(t, victim)
				evil = append(evil, e)
			}
			// Each staller's claim is known (or it was already dropped for
			// stalling) before the honest peer arrives.
			testkit.WaitFor(t, 10*time.Second, "stallers' status recorded", func() bool {
				known := make(map[peer.ID]bool)
				for _, pi := range victim.n.Peers() {
					known[pi.ID] = pi.HasStatus
				}
				for _, e := range evil {
					if has, connected := known[e.h.ID()]; connected && !has {
						return false
					}
				}
				return true
			})
			honest := startNode(t, "honest", src, withBootnodes(victim))
			waitTip(t, 30*time.Second, blocks[len(blocks)-1].Hash(), victim)
			for _, e := range evil {
				testkit.WaitFor(t, 10*time.Second, "staller penalised and disconnected", func() bool {
					return victim.n.host().Network().Connectedness(e.h.ID()) != network.Connected
				})
			}
			if victim.n.IsBanned(honest.n.ID()) {
				t.Fatal("the honest peer was banned")
			}
		})
	}
}

// TestEmptyHeadersAfterHugeClaimPenalised is issue 10 item 2: a peer whose
// status claims 2^200 work and that answers getheaders with no headers
// proved none of it, and is banned for the lie.
func TestEmptyHeadersAfterHugeClaimPenalised(t *testing.T) {
	p := chain.RegtestParams()
	victim := startNode(t, "victim", nil)
	e := newEvilPeer(t, p, serveFrames(func(s network.Stream, typ byte, _ []byte) {
		switch typ {
		case msgStatus:
			_ = writeFrame(s, msgStatus, encodeStatus(liarStatus(p)))
		case msgGetHeaders:
			_ = writeFrame(s, msgHeaders, encodeHeaders(nil))
		}
	}))
	e.connect(t, victim)
	expectBanned(t, victim, e, "protocol")
}

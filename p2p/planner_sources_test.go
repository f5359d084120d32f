package p2p

import (
	"math/big"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestPlannerAsksHeadersOfEquallyHeavyPeerWhileDownloading: a peer that
// connects after another peer's headers made the best header as heavy as
// its claim is still asked for headers while the blocks are missing, so
// that it becomes a block source: otherwise a first peer that serves
// headers but stalls on blocks would be the only source, and once it is
// dropped the download would wait for the next block to be found.
func TestPlannerAsksHeadersOfEquallyHeavyPeerWhileDownloading(t *testing.T) {
	br := newBranch(1, nil, 0, 5, 2)
	now := time.Unix(1_800_000_000, 0)
	p := NewPlanner(PlannerConfig{}, br.metas[0])
	staller, honest := peer.ID("staller"), peer.ID("honest")
	claim := new(big.Int).Set(br.tip().Work)

	p.AddPeer(staller)
	p.Status(staller, claim)
	r := p.Ready(now)
	if len(r.Headers) != 1 || r.Headers[0].Peer != staller {
		t.Fatalf("first Ready asks headers %+v, want the staller's", r.Headers)
	}
	p.Headers(staller, br.metas[0].Hash, br.metas[1:], false)
	if got := p.Best(); got.Hash != br.tip().Hash {
		t.Fatalf("best header %x, want the tip", got.Hash[:4])
	}

	p.AddPeer(honest)
	p.Status(honest, claim)
	r = p.Ready(now.Add(10 * time.Millisecond))
	asked := false
	for _, h := range r.Headers {
		asked = asked || h.Peer == honest
	}
	if !asked {
		t.Fatalf("the second peer is not asked for headers while blocks are missing: %+v", r.Headers)
	}
	p.Headers(honest, br.metas[0].Hash, br.metas[1:], false)
	// Both are now block sources; once every block is stored, nobody is
	// asked for headers again for the same claim.
	for _, m := range br.metas[1:] {
		p.BlockStored(m)
	}
	if r = p.Ready(now.Add(20 * time.Millisecond)); len(r.Headers) != 0 {
		t.Fatalf("headers asked again after the download: %+v", r.Headers)
	}
}

package p2p

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
)

// corruptChain is a chain whose stored copies of some blocks "failed their
// checksum": Block returns an error for them, CorruptBlocks lists them and
// RepairBlock takes a good copy back.
type corruptChain struct {
	*chain.Chain
	mu       sync.Mutex
	corrupt  map[chain.Hash]bool
	repaired []chain.Hash
}

var errChecksum = errors.New("stored block failed its checksum")

func (c *corruptChain) Block(h chain.Hash) (*chain.Block, error) {
	c.mu.Lock()
	bad := c.corrupt[h]
	c.mu.Unlock()
	if bad {
		return nil, errChecksum
	}
	return c.Chain.Block(h)
}

func (c *corruptChain) BlockBytes(h chain.Hash) ([]byte, error) {
	c.mu.Lock()
	bad := c.corrupt[h]
	c.mu.Unlock()
	if bad {
		return nil, errChecksum
	}
	return c.Chain.BlockBytes(h)
}

func (c *corruptChain) CorruptBlocks() []chain.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []chain.Hash
	for h := range c.corrupt {
		out = append(out, h)
	}
	return out
}

func (c *corruptChain) RepairBlock(b *chain.Block) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := b.Hash()
	if !c.corrupt[h] {
		return errors.New("not corrupt")
	}
	delete(c.corrupt, h)
	c.repaired = append(c.repaired, h)
	return nil
}

func (c *corruptChain) repairedCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.repaired)
}

// TestCorruptBlocksRepairedAndServedAsNotFound: a node whose store lost
// blocks to corruption answers getblocks for them with notfound (it keeps
// serving), and fetches good copies from a peer for the chain to rewrite.
func TestCorruptBlocksRepairedAndServedAsNotFound(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	blocks := g.Chain("r", chaintest.GenesisName, 5)
	good := chaintest.NewChain(t, p, nil)
	damaged := &corruptChain{Chain: chaintest.NewChain(t, p, nil), corrupt: make(map[chain.Hash]bool)}
	for _, b := range blocks {
		for _, c := range []*chain.Chain{good, damaged.Chain} {
			if _, err := c.ProcessBlock(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	damaged.corrupt[blocks[1].Hash()] = true
	damaged.corrupt[blocks[3].Hash()] = true

	src := startNode(t, "good", good)
	victim := startNodeOn(t, "damaged", damaged.Chain, damaged, withBootnodes(src))

	// Serving: a corrupted block is notfound, the next request still works.
	e := newEvilPeer(t, p, nil)
	e.connect(t, victim)
	s, err := e.h.NewStream(t.Context(), victim.n.ID(), SyncProtocolID(p))
	if err != nil {
		t.Fatal(err)
	}
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if err := writeFrame(s, msgGetBlocks, encodeHashes([]chain.Hash{blocks[3].Hash()})); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := readFrame(s, maxBlockFrame(p))
	if err != nil || typ != msgNotFound || [32]byte(payload) != blocks[3].Hash() {
		t.Fatalf("reply to a corrupted block: type %d, err %v", typ, err)
	}
	_ = s.Close()

	testkit.WaitFor(t, 20*time.Second, "corrupted blocks repaired from the peer", func() bool {
		return damaged.repairedCount() == 2
	})
	if victim.n.IsBanned(src.n.ID()) || victim.n.host().Network().Connectedness(e.h.ID()) != network.Connected {
		t.Fatal("a peer was dropped")
	}
}

package p2p

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
)

// BlockRepairer is implemented by a chain engine that detects stored
// blocks whose data failed its checksum. The node checks Config.Chain for
// it with a type assertion; a chain without it is simply not repaired.
// Implementations must be safe for concurrent use.
type BlockRepairer interface {
	// CorruptBlocks returns the hashes of stored blocks whose data failed
	// its checksum and has not been repaired yet.
	CorruptBlocks() []chain.Hash
	// RepairBlock accepts a block with one of those hashes whose body
	// matches its header, and rewrites the stored copy.
	RepairBlock(*chain.Block) error
}

// repairLoop fetches corrupted stored blocks from peers and hands them to
// the chain, every StatusInterval, asking a different peer each round so
// that a peer without the block does not stop the repair.
func (n *Node) repairLoop(ctx context.Context, r BlockRepairer) error {
	t := time.NewTicker(n.cfg.StatusInterval)
	defer t.Stop()
	for round := 0; ; round++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		hashes := r.CorruptBlocks()
		if len(hashes) == 0 {
			continue
		}
		peers := n.statusPeers()
		if len(peers) == 0 {
			continue
		}
		for i := 0; i < len(hashes) && ctx.Err() == nil; i += MaxBlocksPerRequest {
			batch := hashes[i:min(len(hashes), i+MaxBlocksPerRequest)]
			n.repairFrom(ctx, r, peers[(round+i/MaxBlocksPerRequest)%len(peers)], batch)
		}
	}
}

// repairFrom asks p for batch and hands every block that matches its
// header to the chain.
func (n *Node) repairFrom(ctx context.Context, r BlockRepairer, p peer.ID, batch []chain.Hash) {
	blocks, err := n.getBlocks(ctx, p, batch)
	if err != nil && ctx.Err() == nil {
		n.log.Info("fetching blocks to repair failed", "peer", p, "err", err)
		n.penalizeErr(p, err)
	}
	for _, b := range blocks {
		if b == nil {
			continue // notfound
		}
		if err := chain.CheckBlockSanity(b, n.cfg.Params); err != nil {
			n.m.repairs.WithLabelValues(resultError).Inc()
			n.penalize(p, penaltyInvalid, reasonInvalidBlock, wrapErr(ErrInvalidBlock, err, "block %s", b.Hash()))
			return
		}
		if err := r.RepairBlock(b); err != nil {
			n.m.repairs.WithLabelValues(resultError).Inc()
			n.log.Error("repairing a corrupted block failed", "hash", b.Hash(), "peer", p, "err", err)
			continue
		}
		n.m.repairs.WithLabelValues(resultOK).Inc()
		n.log.Warn("corrupted block repaired from a peer", "hash", b.Hash(), "peer", p)
	}
}

// statusPeers returns the connected peers that completed a status
// exchange, sorted.
func (n *Node) statusPeers() []peer.ID {
	n.set.mu.Lock()
	defer n.set.mu.Unlock()
	var out []peer.ID
	for p, ps := range n.set.peers {
		if ps.hasStatus {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, cmp.Compare[peer.ID])
	return out
}

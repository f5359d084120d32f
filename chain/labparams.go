package chain

import (
	"fmt"
	"time"
)

// Bounds of DevParamsWithBlockTime's block interval.
const (
	MinLabBlockTime = 100 * time.Millisecond
	MaxLabBlockTime = 10 * time.Minute
)

// DevParamsWithBlockTime returns a dev-derived network whose target block
// interval is spacing, for experiments that need many blocks (the devnet
// lab's --block-time). It keeps the dev network's name, address prefix
// and PoW limit, scales the ASERT half-life with the interval (12 block
// intervals, as dev's 1 minute for 5 seconds) and gets its own chain id
// (0x514cxxxx, the low 16 bits the interval in milliseconds, wrapped) and
// its own genesis block (its memo names the interval, its nonce is found
// at call time by an honest search from 0, about 65k hashes), so its
// gossip topics differ from dev's and from those of any other interval:
// two labs with different intervals never share a mesh or a transaction.
// It is safe for concurrent use.
func DevParamsWithBlockTime(spacing time.Duration) (*Params, error) {
	if spacing < MinLabBlockTime || spacing > MaxLabBlockTime || spacing%time.Millisecond != 0 {
		return nil, fmt.Errorf("block time %s: want a whole number of milliseconds in %s..%s", spacing, MinLabBlockTime, MaxLabBlockTime)
	}
	p := DevParams()
	ms := uint32(spacing / time.Millisecond)
	p.ChainID = 0x514c0000 | ms&0xffff
	p.TargetSpacing = spacing
	p.AsertHalfLife = 12 * spacing
	g := genesisSpec{time: genesisTime, bits: p.PowLimitBits, memo: fmt.Sprintf("Quarry dev genesis 2026-11-21, block time %s", spacing)}
	for {
		p.setGenesis(g)
		if CheckProofOfWork(p.GenesisHash, p.PowLimitBits, p.PowLimit) == nil {
			return p, nil
		}
		g.nonce++
	}
}

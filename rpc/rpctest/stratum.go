package rpctest

import (
	"time"

	"github.com/quarrychain/quarry/rpc"
)

// StratumInfo implements rpc.StratumBackend with one fixed worker (the
// fake runs no server); NoMining makes it unavailable.
func (f *Backend) StratumInfo() (rpc.StratumInfo, error) {
	if f.NoMining {
		return rpc.StratumInfo{}, rpc.ErrNotAvailable
	}
	now := f.Now()
	return rpc.StratumInfo{
		Listen: "127.0.0.1:3333", Connections: 2, HashesPerSec: 1.5e7,
		SharesAccepted: 120, SharesRejected: 3, SharesStale: 2, BlocksFound: 1,
		Workers: []rpc.StratumWorker{{
			Name: KeyAddress(1).Encode(f.p) + ".rig1", PayTo: KeyAddress(1), Remote: "127.0.0.1:51234", Agent: "cpuminer/2.5.1",
			ConnectedSince: now.Add(-time.Hour), Difficulty: 0.015625, HashesPerSec: 1.5e7,
			Accepted: 120, Rejected: 3, Stale: 2, Blocks: 1, LastShare: now.Add(-4 * time.Second),
		}},
	}, nil
}

package rpc

import (
	"encoding/json"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// StratumBackend is implemented by a Backend whose node runs a stratum
// mining server. It is optional: a Backend without it (or answering
// ErrNotAvailable, when the server is off) makes getstratuminfo report that
// stratum is not available. It must be safe for concurrent use.
type StratumBackend interface {
	// StratumInfo returns the server's workers and counters.
	StratumInfo() (StratumInfo, error)
}

// StratumInfo describes the stratum server. It is a plain value, safe for
// concurrent reads.
type StratumInfo struct {
	Listen         string
	Connections    int
	HashesPerSec   float64
	SharesAccepted uint64
	SharesRejected uint64 // stale shares excluded
	SharesStale    uint64
	BlocksFound    uint64
	BlocksRejected uint64
	Workers        []StratumWorker
}

// StratumWorker is one authorized worker of one connection.
type StratumWorker struct {
	Name           string
	PayTo          chain.Address
	Remote         string
	Agent          string
	ConnectedSince time.Time
	Difficulty     float64
	HashesPerSec   float64 // estimated from accepted shares
	Accepted       uint64
	Rejected       uint64
	Stale          uint64
	Blocks         uint64
	LastShare      time.Time // zero if none
}

func stratumMethods() []*method {
	return []*method{
		{name: "getstratuminfo", category: "Mining", sub: subMining,
			summary: "Returns the node's stratum v1 mining server (quarryd --stratum-listen): its workers with their payout address, connection time, share difficulty, hash rate estimated from accepted shares (last 5 minutes), accepted/rejected/stale share counts and blocks found, and the totals since the server started. Stale shares (job not found or replaced by a new tip) are not counted as rejected.",
			result:  `{ "listen", "connections", "hashespersec", "shares": { "accepted", "rejected", "stale" }, "blocks": { "found", "rejected" }, "workers": [ { "name", "address", "remote", "agent", "conntime", "difficulty", "hashespersec", "accepted", "rejected", "stale", "blocks", "lastshare" } ] }`,
			run:     (*call).getStratumInfo},
	}
}

func (c *call) getStratumInfo() (json.RawMessage, error) {
	sb, ok := c.s.backend.(StratumBackend)
	if !ok {
		return nil, newErr(rpcjson.CodeMiscError, "Stratum is not available on this node (start quarryd with --stratum-listen)")
	}
	info, err := sb.StratumInfo()
	if isUnavailable(err) {
		return nil, newErr(rpcjson.CodeMiscError, "Stratum is not available on this node (start quarryd with --stratum-listen)")
	}
	if err != nil {
		return nil, mapError(err, subMining)
	}
	res := rpcjson.StratumInfo{
		Listen: info.Listen, Connections: info.Connections, HashesPerSec: info.HashesPerSec,
		Shares:  rpcjson.StratumShares{Accepted: info.SharesAccepted, Rejected: info.SharesRejected, Stale: info.SharesStale},
		Blocks:  rpcjson.StratumBlocks{Found: info.BlocksFound, Rejected: info.BlocksRejected},
		Workers: make([]rpcjson.StratumWorker, 0, len(info.Workers)),
	}
	for _, w := range info.Workers {
		var last int64
		if !w.LastShare.IsZero() {
			last = w.LastShare.Unix()
		}
		res.Workers = append(res.Workers, rpcjson.StratumWorker{
			Name: w.Name, Address: w.PayTo.Encode(c.s.params), Remote: w.Remote, Agent: w.Agent,
			ConnTime: w.ConnectedSince.Unix(), Difficulty: w.Difficulty, HashesPerSec: w.HashesPerSec,
			Accepted: w.Accepted, Rejected: w.Rejected, Stale: w.Stale, Blocks: w.Blocks, LastShare: last,
		})
	}
	return marshal(res)
}

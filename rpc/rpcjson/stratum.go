package rpcjson

// StratumInfo is the result of getstratuminfo.
type StratumInfo struct {
	Listen       string          `json:"listen"`
	Connections  int             `json:"connections"`
	HashesPerSec float64         `json:"hashespersec"`
	Shares       StratumShares   `json:"shares"`
	Blocks       StratumBlocks   `json:"blocks"`
	Workers      []StratumWorker `json:"workers"`
}

// StratumShares counts shares since the server started.
type StratumShares struct {
	Accepted uint64 `json:"accepted"`
	Rejected uint64 `json:"rejected"`
	Stale    uint64 `json:"stale"`
}

// StratumBlocks counts blocks found by stratum workers.
type StratumBlocks struct {
	Found    uint64 `json:"found"`
	Rejected uint64 `json:"rejected"`
}

// StratumWorker is one authorized worker of one connection. Times are
// Unix seconds (LastShare 0: none yet).
type StratumWorker struct {
	Name         string  `json:"name"`
	Address      string  `json:"address"`
	Remote       string  `json:"remote"`
	Agent        string  `json:"agent"`
	ConnTime     int64   `json:"conntime"`
	Difficulty   float64 `json:"difficulty"`
	HashesPerSec float64 `json:"hashespersec"`
	Accepted     uint64  `json:"accepted"`
	Rejected     uint64  `json:"rejected"`
	Stale        uint64  `json:"stale"`
	Blocks       uint64  `json:"blocks"`
	LastShare    int64   `json:"lastshare"`
}

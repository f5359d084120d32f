package lab

import (
	"fmt"
	"strconv"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// stateFile is the lab's state file name inside the lab directory.
const stateFile = "lab.json"

// stateVersion is the version of the state file format.
const stateVersion = 1

// State is everything the lab remembers between commands: the nodes'
// identities, ports and processes, and the records of the last partition,
// heal and double spend (the report is computed from them).
type State struct {
	Version int    `json:"version"`
	Network string `json:"network"`
	Seed    string `json:"seed"`
	// BlockTime is the dev-derived network's block interval (0: the
	// network's own).
	BlockTime time.Duration `json:"block_time_ns,omitempty"`
	Created   time.Time     `json:"created"`
	// TotalHashrate is the H/s shared among the mining nodes.
	TotalHashrate float64     `json:"total_hashrate"`
	Nodes         []NodeState `json:"nodes"`
	// Topology is the --topology the lab was created with and Links its
	// edges (nil: a full mesh without proxies, as labs created before
	// topologies existed).
	Topology string `json:"topology,omitempty"`
	Links    []Link `json:"links,omitempty"`
	// Shaped labs route every link through a proxy of the lab's proxy
	// daemon (Proxy) and run their nodes on TCP only.
	Shaped bool        `json:"shaped,omitempty"`
	Proxy  *ProxyState `json:"proxy,omitempty"`
	// Sinks are deterministic addresses nobody mines to; doublespend
	// pays them so their balances show which spend won.
	Sinks []string `json:"sinks"`

	Partition   *PartitionRecord   `json:"partition,omitempty"`
	Heal        *HealRecord        `json:"heal,omitempty"`
	DoubleSpend *DoubleSpendRecord `json:"doublespend,omitempty"`
}

// NodeState describes one node of the lab.
type NodeState struct {
	Index       int    `json:"index"`
	DataDir     string `json:"datadir"`
	LogFile     string `json:"logfile"`
	P2PPort     int    `json:"p2p_port"`
	RPCPort     int    `json:"rpc_port"`
	MetricsPort int    `json:"metrics_port"`
	PeerID      string `json:"peer_id"`
	// Address is the node's miner address; KeyFile holds its private key
	// (a node/wallet key file, usable with quarryctl tx send --key).
	Address string `json:"address"`
	KeyFile string `json:"key_file"`
	// Hashrate is the node's --miner-hashrate-limit (0: not mining).
	Hashrate float64 `json:"hashrate"`
	// PID is the process id of the running quarryd (0: not started).
	PID int `json:"pid,omitempty"`
	// Role is the node's adversary mode and clock offset (zero: honest).
	Role Role `json:"role,omitzero"`
}

// RPCAddr returns host:port of the node's RPC server.
func (n NodeState) RPCAddr() string { return "127.0.0.1:" + strconv.Itoa(n.RPCPort) }

// MetricsURL returns the node's Prometheus endpoint.
func (n NodeState) MetricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(n.MetricsPort) + "/metrics"
}

// Bootnode returns the node's TCP multiaddr as other nodes dial it.
func (n NodeState) Bootnode() string {
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", n.P2PPort, n.PeerID)
}

// TipRecord is one node's tip at a moment.
type TipRecord struct {
	Node      int        `json:"node"`
	Hash      chain.Hash `json:"hash"`
	Height    uint64     `json:"height"`
	ChainWork string     `json:"chainwork"` // hex, as RPC reports it
}

// PartitionRecord is written by partition.
type PartitionRecord struct {
	Groups [][]int `json:"groups"`
	// Where is PartitionGater or PartitionLinks; Cut are the links a
	// link partition took down (heal restores exactly these).
	Where string      `json:"where,omitempty"`
	Cut   []string    `json:"cut,omitempty"`
	At    time.Time   `json:"at"`
	Tips  []TipRecord `json:"tips"`
}

// HealRecord is written by heal: the tips just before the heal calls, the
// fork point and each side's branch at that moment, and, when heal waited
// for it, the time to agreement.
type HealRecord struct {
	Groups [][]int `json:"groups"`
	// Where is where the partition was made (PartitionGater or
	// PartitionLinks).
	Where string      `json:"where,omitempty"`
	At    time.Time   `json:"at"`
	Tips  []TipRecord `json:"tips"`
	// Fork is the last block every side shared; ForkWork its chain work.
	Fork       chain.Hash   `json:"fork"`
	ForkHeight uint64       `json:"fork_height"`
	ForkWork   string       `json:"fork_work"`
	Sides      []SideRecord `json:"sides,omitempty"`
	// Agreement is the time from the first heal call until every node had
	// the same tip and state digest (0: not measured).
	Agreement time.Duration `json:"agreement_ns,omitempty"`
	AgreedTip chain.Hash    `json:"agreed_tip"`
	// Reorgs are the reorganisations the nodes announced on their
	// WebSocket streams between the heal and agreement (nil: not
	// observed, because heal did not wait).
	Reorgs []ReorgEvent `json:"reorgs"`
}

// SideRecord is one side of a partition at heal time: its best tip (the
// node of the group with the most work) and its branch since the fork.
type SideRecord struct {
	Group     []int      `json:"group"`
	Rep       int        `json:"rep"`
	Tip       chain.Hash `json:"tip"`
	Height    uint64     `json:"height"`
	ChainWork string     `json:"chainwork"`
	// First is the side's block at ForkHeight+1 (zero if it mined none).
	First chain.Hash `json:"first"`
}

// DoubleSpendRecord is written by doublespend.
type DoubleSpendRecord struct {
	Sender  int        `json:"sender"`
	Nonce   uint64     `json:"nonce"`
	Nodes   [2]int     `json:"nodes"`
	TxIDs   [2]string  `json:"txids"`
	To      [2]string  `json:"to"`
	Amounts [2]uint64  `json:"amounts"`
	At      time.Time  `json:"at"`
	Tip     chain.Hash `json:"tip"`
}

package rpc

import (
	"encoding/json"
	"math"
	"sort"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// defaultBanTime is Core's -bantime default.
const defaultBanTime = 24 * time.Hour

func netMethods() []*method {
	const cat = "Network"
	return []*method{
		{name: "getpeerinfo", category: cat, sub: subNet,
			summary: "Returns data about each connected network peer as a json array of objects, sorted by peer id. \"id\" is the position in this reply; \"peerid\" is the libp2p peer id.",
			result:  `[ { "id", "peerid", "addr", "inbound", "connection_type", "conntime", "pingtime", "bytessent", "bytesrecv", "subver", "startingheight", "synced_blocks", "misbehavior_score" } ]`,
			run:     (*call).getPeerInfo},
		{name: "getnetworkinfo", category: cat, sub: subNet,
			summary: "Returns an object containing various state info regarding P2P networking.",
			result:  `{ "version" (Core's integer encoding: 10000 for 0.1.0), "subversion" ("/Quarry:0.1.0/"), "protocolversion" (numeric), "protocol" (the sync protocol's libp2p id), "localpeerid", "localrelay", "timeoffset", "networkactive", "connections", "connections_in", "connections_out", "localaddresses": [ { "address" } ], "partitioned": [ "peerid" ], "relayfee", "warnings" }`,
			run:     (*call).getNetworkInfo},
		{name: "getconnectioncount", category: cat, sub: subNet,
			summary: "Returns the number of connections to other nodes.",
			result:  "n    (numeric) The connection count",
			run:     (*call).getConnectionCount},
		{name: "addnode", category: cat, sub: subNet,
			args: []arg{{name: "node", typ: "string", required: true, desc: "The peer: a multiaddr ending in /p2p/<peer id>"},
				{name: "command", typ: "string", required: true, desc: "'add' to add a node to the list, 'remove' to remove a node from the list, 'onetry' to try a connection to the node once"}},
			summary:  "Attempts to add or remove a node from the addnode list (peers redialled with backoff), or try a connection to a node once.",
			result:   "null",
			examples: []string{`"/ip4/127.0.0.1/tcp/27733/p2p/12D3KooW..." "onetry"`},
			run:      (*call).addNode},
		{name: "disconnectnode", category: cat, sub: subNet,
			args: []arg{{name: "address", typ: "string", def: "fallback to nodeid", desc: "The peer's multiaddr or peer id"},
				{name: "nodeid", typ: "string", def: "fallback to address", desc: "The peer id (see getpeerinfo's peerid)"}},
			summary: "Immediately disconnects from the specified peer. Strictly one out of 'address' and 'nodeid' can be provided.",
			result:  "null",
			run:     (*call).disconnectNode},
		{name: "setnetworkactive", category: cat, sub: subNet,
			args:    []arg{{name: "state", typ: "boolean", required: true, desc: "true to enable networking, false to disable"}},
			summary: "Disable/enable all p2p network activity.",
			result:  "true|false    (boolean) The value that was passed in",
			run:     (*call).setNetworkActive},
		{name: "setban", category: cat, sub: subNet,
			args: []arg{{name: "subnet", typ: "string", required: true, desc: "The peer id (or a multiaddr ending in /p2p/<peer id>) to ban"},
				{name: "command", typ: "string", required: true, desc: "'add' to add a peer to the list, 'remove' to remove a peer from the list"},
				{name: "bantime", typ: "numeric", def: "0", desc: "time in seconds how long (or until when if [absolute] is set) the peer is banned (0 or empty means 24 hours)"},
				{name: "absolute", typ: "boolean", def: "false", desc: "If set, the bantime must be an absolute timestamp expressed in UNIX epoch time"}},
			summary: "Attempts to add or remove a peer from the banned list. Peers are identified by libp2p peer id, not by IP subnet.",
			result:  "null",
			run:     (*call).setBan},
		{name: "listbanned", category: cat, sub: subNet,
			summary: "List all manually banned peers.",
			result:  `[ { "address", "ban_created", "banned_until", "ban_duration", "time_remaining", "reason" } ]`,
			run:     (*call).listBanned},
		{name: "clearbanned", category: cat, sub: subNet,
			summary: "Clear all banned peers.",
			result:  "null",
			run:     (*call).clearBanned},
		{name: "partition", category: cat, sub: subNet,
			args:     []arg{{name: "peers", typ: "array", required: true, desc: "Peer ids to cut off until heal"}},
			summary:  "Devnet control: blocks the given peers (no dials either way, open connections closed) until heal. Used to split a devnet and watch the branches reorganise when it heals.",
			result:   "null",
			examples: []string{`'["12D3KooW..."]'`},
			run:      (*call).partition},
		{name: "heal", category: cat, sub: subNet,
			summary: "Devnet control: lifts every partition block and redials the peers.",
			result:  "null",
			run:     (*call).heal},
	}
}

func (c *call) getPeerInfo() (json.RawMessage, error) {
	peers, err := c.s.backend.Peers()
	if err != nil {
		return nil, err
	}
	sort.Slice(peers, func(i, j int) bool { return peers[i].PeerID < peers[j].PeerID })
	out := make([]rpcjson.PeerInfo, len(peers))
	for i, p := range peers {
		typ := "outbound-full-relay"
		switch {
		case p.Inbound:
			typ = "inbound"
		case p.Manual:
			typ = "manual"
		}
		out[i] = rpcjson.PeerInfo{
			ID: i, PeerID: p.PeerID, Addr: p.Addr, Inbound: p.Inbound, ConnectionType: typ,
			ConnTime: seconds(p.ConnTime), PingTime: p.PingTime.Seconds(),
			BytesSent: p.BytesSent, BytesRecv: p.BytesRecv, SubVer: p.Agent,
			StartingHeight: p.StartingHeight, SyncedBlocks: p.SyncedHeight, Misbehavior: p.Misbehavior,
		}
	}
	return marshal(out)
}

func (c *call) getNetworkInfo() (json.RawMessage, error) {
	ni, err := c.s.backend.NetworkInfo()
	if err != nil {
		return nil, err
	}
	res := rpcjson.NetworkInfo{
		Version: ni.Version, SubVersion: ni.Agent, ProtocolVersion: ni.ProtocolVersion, Protocol: ni.Protocol,
		LocalPeerID: ni.LocalPeerID, LocalRelay: true, NetworkActive: ni.Active,
		Connections: ni.Inbound + ni.Outbound, ConnectionsIn: ni.Inbound, ConnectionsOut: ni.Outbound,
		LocalAddresses: []rpcjson.LocalAddress{}, Partitioned: []string{},
	}
	for _, a := range ni.ListenAddrs {
		res.LocalAddresses = append(res.LocalAddresses, rpcjson.LocalAddress{Address: a})
	}
	res.Partitioned = append(res.Partitioned, ni.Partitioned...)
	if mi, err := c.s.backend.MempoolInfo(); err == nil {
		res.RelayFee = feeRatePerKB(mi.RelayFeeRate)
	}
	return marshal(res)
}

func (c *call) getConnectionCount() (json.RawMessage, error) {
	ni, err := c.s.backend.NetworkInfo()
	if err != nil {
		return nil, err
	}
	return marshal(ni.Inbound + ni.Outbound)
}

// usage is Core's answer to a bad sub-command: the help text as RPC_MISC_ERROR.
func (c *call) usage() error { return errorf(rpcjson.CodeMiscError, "%s", c.m.helpText()) }

func (c *call) addNode() (json.RawMessage, error) {
	node, err := c.reqStr(0)
	if err != nil {
		return nil, err
	}
	cmd, err := c.reqStr(1)
	if err != nil {
		return nil, err
	}
	switch AddNodeCommand(cmd) {
	case AddNodeAdd, AddNodeRemove, AddNodeOneTry:
	default:
		return nil, c.usage()
	}
	if err := c.s.backend.AddNode(node, AddNodeCommand(cmd)); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

func (c *call) disconnectNode() (json.RawMessage, error) {
	addr, err := c.str(0, "")
	if err != nil {
		return nil, err
	}
	id, err := c.str(1, "")
	if err != nil {
		return nil, err
	}
	switch {
	case addr != "" && id != "":
		return nil, errorf(rpcjson.CodeInvalidParameter, "Only one of address and nodeid should be provided.")
	case addr == "" && id == "":
		return nil, errorf(rpcjson.CodeInvalidParameter, "Need an address or a nodeid")
	case addr == "":
		addr = id
	}
	if err := c.s.backend.DisconnectNode(addr); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

func (c *call) setNetworkActive() (json.RawMessage, error) {
	if !c.has(0) {
		return nil, c.missing(0)
	}
	on, err := c.boolean(0, false)
	if err != nil {
		return nil, err
	}
	if err := c.s.backend.SetNetworkActive(on); err != nil {
		return nil, err
	}
	return marshal(on)
}

func (c *call) setBan() (json.RawMessage, error) {
	peer, err := c.reqStr(0)
	if err != nil {
		return nil, err
	}
	cmd, err := c.reqStr(1)
	if err != nil {
		return nil, err
	}
	if cmd != "add" && cmd != "remove" {
		return nil, c.usage()
	}
	if cmd == "remove" {
		if err := c.s.backend.Unban(peer); err != nil {
			return nil, err
		}
		return nullJSON, nil
	}
	bantime, err := c.integer(2, 0, 0, math.MaxInt32*int64(100))
	if err != nil {
		return nil, err
	}
	absolute, err := c.boolean(3, false)
	if err != nil {
		return nil, err
	}
	now := c.s.cfg.Now()
	until := now.Add(defaultBanTime)
	switch {
	case absolute && bantime > 0:
		until = time.Unix(bantime, 0)
		if !until.After(now) {
			return nil, errorf(rpcjson.CodeInvalidParameter, "Error: Absolute timestamp is in the past")
		}
	case bantime > 0:
		until = now.Add(time.Duration(bantime) * time.Second)
	}
	if err := c.s.backend.Ban(peer, until); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

func (c *call) listBanned() (json.RawMessage, error) {
	bans, err := c.s.backend.ListBanned()
	if err != nil {
		return nil, err
	}
	sort.Slice(bans, func(i, j int) bool { return bans[i].Peer < bans[j].Peer })
	now := c.s.cfg.Now()
	out := make([]rpcjson.BanEntry, len(bans))
	for i, b := range bans {
		out[i] = rpcjson.BanEntry{
			Address: b.Peer, BanCreated: seconds(b.Created), BannedUntil: seconds(b.Until),
			BanDuration: seconds(b.Until) - seconds(b.Created), TimeRemain: max(0, seconds(b.Until)-now.Unix()),
			Reason: b.Reason,
		}
	}
	return marshal(out)
}

func (c *call) clearBanned() (json.RawMessage, error) {
	if err := c.s.backend.ClearBanned(); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

func (c *call) partition() (json.RawMessage, error) {
	if !c.has(0) {
		return nil, c.missing(0)
	}
	peers, err := c.strings(0)
	if err != nil {
		return nil, err
	}
	if len(peers) == 0 {
		return nil, errorf(rpcjson.CodeInvalidParameter, "peers must list at least one peer id")
	}
	if err := c.s.backend.Partition(peers); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

func (c *call) heal() (json.RawMessage, error) {
	if err := c.s.backend.Heal(); err != nil {
		return nil, err
	}
	return nullJSON, nil
}

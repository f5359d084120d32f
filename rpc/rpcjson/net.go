package rpcjson

// PeerInfo is one element of getpeerinfo. ID is a small per-reply index
// (Core's numeric peer id); PeerID is the libp2p peer id.
type PeerInfo struct {
	ID             int     `json:"id"`
	PeerID         string  `json:"peerid"`
	Addr           string  `json:"addr"`
	Inbound        bool    `json:"inbound"`
	ConnectionType string  `json:"connection_type"`
	ConnTime       int64   `json:"conntime"`
	PingTime       float64 `json:"pingtime,omitempty"`
	BytesSent      uint64  `json:"bytessent"`
	BytesRecv      uint64  `json:"bytesrecv"`
	SubVer         string  `json:"subver"`
	StartingHeight uint64  `json:"startingheight"`
	SyncedBlocks   uint64  `json:"synced_blocks"`
	Misbehavior    int     `json:"misbehavior_score"`
}

// NetworkInfo is the result of getnetworkinfo. The types of Core's fields
// are Core's (Bitcoin clients decode version and protocolversion as
// integers); "protocol" and "localpeerid" are Quarry extensions.
type NetworkInfo struct {
	Version         int            `json:"version"`
	SubVersion      string         `json:"subversion"`
	ProtocolVersion int            `json:"protocolversion"`
	Protocol        string         `json:"protocol"`
	LocalPeerID     string         `json:"localpeerid"`
	LocalRelay      bool           `json:"localrelay"`
	TimeOffset      int64          `json:"timeoffset"`
	NetworkActive   bool           `json:"networkactive"`
	Connections     int            `json:"connections"`
	ConnectionsIn   int            `json:"connections_in"`
	ConnectionsOut  int            `json:"connections_out"`
	LocalAddresses  []LocalAddress `json:"localaddresses"`
	// Partitioned lists the peer ids blocked by the devnet partition control.
	Partitioned []string `json:"partitioned"`
	RelayFee    Amount   `json:"relayfee"`
	Warnings    string   `json:"warnings"`
}

// LocalAddress is an address the node listens on.
type LocalAddress struct {
	Address string `json:"address"`
}

// BanEntry is one element of listbanned. Address is the banned peer id.
type BanEntry struct {
	Address     string `json:"address"`
	BanCreated  int64  `json:"ban_created"`
	BannedUntil int64  `json:"banned_until"`
	BanDuration int64  `json:"ban_duration"`
	TimeRemain  int64  `json:"time_remaining"`
	Reason      string `json:"reason,omitempty"`
}

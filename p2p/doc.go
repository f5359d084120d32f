// Package p2p is Quarry's networking layer: a libp2p host, gossip of blocks
// and transactions, a request/response sync protocol, discovery, peer
// penalties and bans, and the partition controls used by devnets.
//
// # Use
//
//	n, err := p2p.New(p2p.Config{Chain: c, Mempool: poolAdaptor, DataDir: dir,
//		ListenAddr: "0.0.0.0:27733", Bootnodes: boot, Registerer: reg, Logger: log})
//	go n.Run(ctx)          // returns after every goroutine it started has exited
//	<-n.Ready()            // listening; n.Addrs() gives /p2p/ addresses for others
//	n.PublishBlock(ctx, b) // for blocks this node mined, after ProcessBlock
//
// New validates the config and loads (or creates) the identity key; it
// starts nothing. Run builds the host, joins the topics, starts the loops and
// blocks until ctx is cancelled. Ready is closed once the node listens; if
// Run fails before that, Ready is never closed, so wait on both. Run may be
// called once. All methods are safe for concurrent use. Bans, partitions and
// the network switch work before Run too (they live in the connection gater).
//
// The chain engine and the mempool are reached only through the small
// interfaces Chain and Mempool defined here; *chain.Chain satisfies Chain,
// and the node package adapts its mempool (see Mempool for how its errors
// are classified).
//
// # Pipeline
//
// Host (host.go). Ed25519 identity key in <DataDir>/p2p.key (mode 0600,
// written atomically; an empty DataDir gives an ephemeral key). "host:port"
// listens with TCP and QUIC-v1 on the same port; with port 0 TCP picks the
// port and QUIC is bound to the same number (or any free one if that UDP
// port is taken). Noise/TLS and yamux are libp2p's defaults; relay and
// libp2p's own Prometheus metrics are off. The resource manager uses the
// default scaled limits, but loopback and private LAN prefixes are exempt
// from the 8-connections-per-IP limit (rcmgr.WithNetworkPrefixLimit) and there
// is no connection rate limiter, so a devnet behind one address or a
// reconnect storm after a heal is not refused. The connection manager
// (watermarks LowPeers/HighPeers) protects static peers. NoQUIC listens
// and dials on TCP only; Announce replaces the addresses the host
// announces (AddrsFactory: identify then sends exactly those, an empty
// list none), for nodes that peers must reach through a proxy. A ping
// loop measures each peer's round trip every StatusInterval with libp2p's
// ping protocol; Peers reports its moving average (PingTime).
//
// Gossip (gossip.go). Topics come from Params.BlockTopic/TxTopic (network
// and genesis in the name). Messages carry no author, seqno or signature
// (StrictNoSign + WithNoAuthor: validity comes from proof of work and
// transaction signatures); the message ID is SHA-256 of the data, so a block
// relayed by many peers is validated and delivered once. Flood publishing is
// on for our own messages (every subscribed peer gets them directly, no loss
// while meshes form), the validation queue holds 256, and the size limit is
// at least 2 MiB. Validators decode once and keep the object in
// msg.ValidatorData:
//
//   - blocks: (own publish: accept), size, decode, duplicate (HaveBlock:
//     ignore), known-invalid (ignore), Chain.CheckBlock (chain.CheckBlockSanity:
//     PoW, merkle and mutation, size, coinbase, tx sanity: reject), unknown parent
//     (ignore and schedule a sync with the relaying peer, which fetches the
//     missing ancestors and the block), then ProcessUnrequestedBlock. Only
//     blocks the chain accepted (connected or side chain) are relayed, so a
//     block whose transaction signature is bad is rejected before anyone
//     forwards it. A valid block on a branch lighter than our tip is ignored
//     (chain.ErrLowWork: not stored, not punished), so nobody can fill our
//     disk with cheap low-work side branches; a branch that really is
//     heavier arrives through sync.
//   - transactions: size, decode, (own publish: accept), no coinbase,
//     CheckSanity, VerifySignature (reject), then Mempool.AcceptTx.
//
// Our own Publish runs the validators synchronously; they recognise our own
// messages (ReceivedFrom is this host) and accept them without the duplicate
// check, because PublishBlock is called after the block was connected.
//
// Sync protocol (wire.go, sync.go, exchange.go, serve.go). Protocol ID
// /quarry/<network>/sync/1; one request per stream, then the reply. Frames
// are a 4-byte big-endian length, a type byte and a payload; every read has
// a hard cap for its position (requests 3.3 KB, status 142 B, headers
// 160 KB, a block the network's MaxBlockSize), and every stream carries a
// deadline of RequestTimeout. Messages: status (protocol version, genesis,
// tip, height, chain work), getheaders (block locator of up to 101 hashes,
// stop hash, max <= 2,000) -> headers, getblocks (<= 64 hashes) -> one block
// or notfound frame per hash, in order (a server may stop early at a 16 MiB
// budget; the client asks again).
//
// Status is exchanged on every new connection and with every peer each
// StatusInterval, in both directions; a peer's status is only a claim of
// chain work. Sync is headers-first, as Bitcoin Core's, and its decisions
// are made by Planner (planner.go, planner_ready.go), a pure state machine
// in the style of etcd-io/raft's Ready: it does no I/O, starts no
// goroutines and reads no clock. The sync loop (syncdriver.go) owns it,
// feeds it peer arrivals and departures, claims, the headers the chain
// validated, block deliveries, failures and the time (before each batch of
// inputs, and on a 250 ms tick), and
// performs its Ready actions; requests run in their own goroutines and post
// their results back. Blocks named by Ready's Connect go, in that order, to
// a connector goroutine that calls ProcessBlock and reports the verdicts
// back in groups of 32, so new requests go out while blocks connect; the
// blocks handed over and not yet judged count against the download window,
// which bounds the blocks held in memory.
//
//   - Headers are asked (locator: the point to continue from, then our
//     main-chain locator) from every peer that claims more work than the
//     best header (while blocks are missing, also from one that claims as
//     much and has not shown it by its headers, so that a peer connected
//     after another's headers arrived is a block source too: a first peer
//     that stalls on blocks is never the only one), one request in flight
//     per peer, continuing after the
//     last header of a full reply. A reply must start at a block or header
//     we know and link up (else a protocol violation); chain.ProcessHeaders
//     then checks proof of work, bits, time and keeps them as headers-only
//     entries. A peer whose headers end with less work than it claimed (an
//     empty reply included) lied; a header that breaks a rule is invalid.
//     Claims only choose whom to ask: the best header, and so what is
//     downloaded, comes from validated headers alone.
//   - Blocks of the best header chain are fetched in a window of 1,024
//     blocks above the last one handed to the chain, at most 320 in flight
//     per peer in five requests of 64 (Core keeps 16 per peer, but each of
//     our requests is a stream counted by the server's rate limit and its
//     8 concurrent requests; five leave room for headers, status and a
//     slot the server has not yet released), from every peer whose
//     validated headers include them, checked with Chain.CheckBlock in the
//     goroutine that received them (the chain records the verdict, so
//     ProcessBlock does not check them again) and handed to ProcessBlock
//     in height order. A peer gets two requests of 64 until it has
//     delivered a block, so a peer that never delivers holds up at most
//     128. When the window's first
//     block has been in flight for four times the smoothed time from a
//     request to its delivery (at least 10 ms, at most 100 ms), its
//     holder's undelivered blocks are also asked from other peers with
//     room, so the window moves on, and the holder gets no new blocks
//     until it delivers one; it is disconnected once a stall timeout
//     passes (2 s, doubling on each such disconnection up to 64 s,
//     shrinking by 15% per block delivered) while it holds the window or a
//     block another peer already delivered. A request left unanswered for
//     RequestTimeout is a stall too.
//   - A headers reply is held to the claim the peer made before it was
//     asked; a claim that rose meanwhile is asked for again at once.
//   - A gossiped block that does not connect makes the relaying peer be
//     asked for headers once, whatever its last claim.
//
// Block push (push.go). Protocol ID /quarry/<network>/block/1: SendBlock
// sends one block to one connected peer (never dialling), one block frame
// per stream; the receiver closes the stream once it has judged the block,
// so SendBlock returns after that. The receiver applies the serving limits
// below (a push counts as a request), a deadline of RequestTimeout and the
// block frame cap, then exactly the checks and penalties of a gossiped
// block; an oversized, empty, mistyped or undecodable frame costs 100, a
// stream cut short is a transport failure. The sending side is the sync
// client's (exchange): the stream is reset when the caller's context or
// RequestTimeout ends. A pushed block that becomes the
// receiver's tip is relayed on the block topic, so it spreads through the
// receiver's side of the network; one that joins a side branch is kept,
// not relayed. The equivocate adversary mode uses it to show different
// blocks to different peers. PeerIDs lists the connected peers.
// PublishRawBlock and SendRawPush send bytes without checks, for the junk
// adversary mode only.
//
// Gossip is an accelerator only: a missed block, a late join or a healed
// partition is always repaired by the periodic status.
//
// Repair (repair.go). If Config.Chain also implements BlockRepairer (stored
// blocks whose data failed its checksum), every StatusInterval the node
// asks a peer (a different one each round) for those blocks, checks that
// each body matches its header and hands it to RepairBlock.
//
// Serving side, per peer: at most 8 requests in flight, and a token bucket
// of 100 requests/s (burst 200) that delays requests rather than refusing
// them. A request beyond the concurrency, or one that would wait more than
// a second, is reset and costs the peer 5 points. An honest client (one
// headers, one status and five blocks requests in flight) is slowed down,
// never penalised. Blocks are sent as stored (chain.BlockBytes, after the
// chain's integrity checks), not decoded and encoded again. A block that
// cannot be read from the store is answered with notfound and logged.
//
// Discovery (dialer.go). Bootnodes and AddPeer targets are static: kept in
// the peerstore with a permanent TTL, protected in the connection manager,
// and redialled with exponential backoff (RedialMin doubling to RedialMax)
// whenever not connected. The count of failures is reset only when a
// connection completes a status exchange, so a peer that accepts the
// handshake and then drops us is not redialled in a tight loop. The swarm's
// own dial backoff is cleared before each of our dials. mDNS (Config.MDNS)
// adds transient targets for a minute; it is off in tests.
//
// Peers that leave are forgotten (forgetPeers, dialer.go): a minute after
// its last connection closed, a peer that is not a dial target and not
// partitioned is removed from the peerstore, addresses included (go-libp2p
// keeps those for 15 minutes), and from the connection manager's
// protected peers (gossipsub protects its mesh peers and never lifts it
// for one that disconnected). With the bounds below, a node that meets
// peer after peer under fresh identities (one that outlives many devnet
// labs) keeps per-peer state only for its connected, dialled, partitioned
// and banned peers and those of the last minute: the peer set, the sync
// planner and gossip drop a peer on disconnection, remembered scores hold
// at most 1,024 peers and the ban list 4,096, and a forgotten peer's byte
// counters go with it (byteCounter, bandwidth.go: go-libp2p's own
// bandwidth counter keeps a rate meter per peer that its TrimIdle never
// deletes in go-flow-metrics v0.3.0). What go-libp2p keeps beyond that
// expires with time: the resource manager's peer scopes within a minute
// and the peerstore manager's list of departed peers within two. gossipsub
// would keep two more things per peer met, its signed peer record for 15
// minutes (in an address book for peer exchange, which quarry does not
// use) and its writer's context until the router stops; the host and
// context gossipsub is given keep it from holding either (gossiphost.go).
//
// # Penalties, bans, partitions
//
// Misbehaviour adds points; at 100 the peer is banned for BanDuration
// (default 1h) and disconnected. A gossip Reject, an invalid block from
// sync, a malformed, oversized or unexpected frame, headers that do not
// connect, headers that prove less work than the peer's status claimed (an
// empty reply included), or a genesis mismatch cost 100 (immediate ban); a
// sync request the peer accepts and leaves unanswered for RequestTimeout (a
// stall) costs 50 and disconnects it, so a peer that stalls again after
// reconnecting is banned, and the sync moves on to the other peers; a
// rate-limited request costs 5. Scores of recently disconnected peers are remembered
// (bounded) so reconnecting does not wipe them. Bans are by peer ID, saved
// to banlist.json in the data directory after every change (as Bitcoin
// Core's banlist; a restart does not forgive a peer), and enforced by the
// ConnectionGater in both directions, so a banned peer cannot reconnect;
// the gater only refuses new connections, so banning also closes the open
// ones. The ban list holds at most 4,096 bans (identities cost an attacker
// nothing): a full list drops the expired bans, then the one that ends
// soonest. Partition(peers) puts peers in the same gater (dial and accept
// refused, connections closed) and remembers their addresses with a
// permanent TTL; Heal clears the set and redials them for two minutes (and
// static peers forever). SetNetworkActive(false) refuses everything and
// closes every connection. Refused connections are counted by reason.
//
// Not punished (ignored): duplicates; blocks from the future
// (ErrTimeTooNew); blocks marked invalid or descending from a block marked
// invalid (the mark may come from an operator's invalidateblock, so honest
// peers must not be banned for it); state-dependent mempool rejections
// (nonce, balance, fee policy); transport failures.
//
// # Errors
//
// Errors carry an ErrorKind (errors.Is): ErrBadConfig, ErrNotRunning,
// ErrAlreadyRunning, ErrBadPeerAddr, ErrPeerBlocked, ErrNotConnected,
// ErrSelf for API misuse; ErrFrameTooLarge, ErrMalformed, ErrUnexpectedMsg,
// ErrProtocol, ErrGenesisMismatch, ErrInvalidBlock, ErrTimeout for faults of a peer
// (these are what earn penalties); ErrTxKnown and ErrTxInvalid classify
// mempool errors.
//
// Formatting follows one rule in every package of the module (chain,
// mempool, miner, p2p, node/wallet): Error() returns the Description, then
// ": " and the cause's text when the error wraps a cause (Err); a
// Description says what failed and never repeats the cause, so a message
// names each cause once. Descriptions start with the kind's text.
//
// # Metrics
//
// With a Registerer: quarry_p2p_peers, quarry_p2p_gossip_messages_received_total
// {topic,result}, quarry_p2p_gossip_messages_published_total{topic,result},
// quarry_p2p_sync_requests_sent_total{kind,result},
// quarry_p2p_sync_requests_served_total{kind,result},
// quarry_p2p_sync_blocks_fetched_total, quarry_p2p_sync_sessions_total{result},
// quarry_p2p_penalties_total{reason}, quarry_p2p_bans_total,
// quarry_p2p_dials_total{result}, quarry_p2p_connections_refused_total{reason},
// quarry_p2p_block_repairs_total{result},
// quarry_p2p_block_pushes_received_total{result},
// quarry_p2p_block_pushes_sent_total{result}.
// Every label value is created at zero when the metrics are built, so a
// fresh node exports each series. Received gossip counts what peers sent:
// the node's own published messages pass its validator too but are counted
// only as published.
// Per-peer traffic is in PeerInfo (byte totals from byteCounter, the
// host's bandwidth reporter).
//
// # Locks
//
// Node's state is split by concern, each part with its own mutex, and no
// lock is held while another is taken: the peer set (connected peers,
// their scores and serving limits, remembered scores), the dialer (peers
// kept connected), the gater (bans, partitions, the network switch), and
// Node.mu for the running host, gossip handles and the close queue. The
// sync planner is owned by the sync loop goroutine and has no lock.
//
// # Clocks
//
// Config.Now drives ban expiry, backoff, the times in PeerInfo and the sync
// planner's stall timing. Socket deadlines and tickers use the real clock,
// since they bound real I/O.
package p2p

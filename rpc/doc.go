// Package rpc is Quarry's JSON-RPC server: Bitcoin Core's RPC conventions
// over HTTP POST, plus WebSocket subscriptions, on one loopback listener.
//
// # Pipeline
//
// Run listens and serves Handler: "/" takes JSON-RPC over HTTP POST, "/ws"
// upgrades to a WebSocket. An HTTP request goes through, in order: method
// check (POST only, else 405), HTTP Basic authentication (401 with
// WWW-Authenticate; wrong credentials wait AuthFailureDelay first, like
// Core's 250 ms, and failures are throttled for the whole server, see
// below), the body (413 beyond MaxBodyBytes; read under its own BodyTimeout,
// 408 beyond, before the request takes a work slot, as Core reads the body
// before queueing the work, so slow uploads cannot hold the slots; the bytes
// buffered for all bodies at once are bounded by MaxBodyBuffer, a buffer
// growing only as bytes arrive, and a request that would exceed it gets
// 503), the concurrency bound (MaxConcurrent requests execute at once; the
// next gets 503 "Work queue depth exceeded" at once, like Core's work
// queue), JSON parsing, the envelope checks of Core's JSONRPCRequest::parse,
// and dispatch: the method table maps a name to its argument list and
// handler; named parameters are mapped onto positions by argument name; the
// handler validates its arguments, calls the Backend, and returns a typed
// result that is marshalled once. Every call is counted in
// quarry_rpc_requests_total {method, outcome} and timed in
// quarry_rpc_request_duration_seconds {method}; a method name outside the
// table is counted as "unknown", so the label set is bounded, and every
// series of it exists at zero from the start (a dashboard sees the first
// call of a method). A panic in a handler is recovered and answered as
// RPC_INTERNAL_ERROR (-32603) and logged with its stack.
//
// # JSON-RPC dialects and HTTP status (Core's httprpc.cpp, v28 and later)
//
//   - A request with no "jsonrpc" field, or "1.0", is legacy 1.x: the reply
//     carries "result", "error" (one of them null) and "id" when the
//     request had one. An error is also an HTTP error: 404 for
//     RPC_METHOD_NOT_FOUND, 400 for RPC_INVALID_REQUEST, 500 otherwise.
//   - "jsonrpc":"2.0": the reply carries "jsonrpc":"2.0" and exactly one of
//     "result" and "error", with HTTP 200 either way. A 2.0 request without
//     "id" is a notification: it runs, and the answer is 204 with no body.
//   - Another "jsonrpc" value is RPC_INVALID_REQUEST; an envelope error
//     (missing or non-string method, params neither array nor object) is
//     HTTP 400 whatever the dialect. Unparsable JSON, or a top level that is
//     neither object nor array, is RPC_PARSE_ERROR with HTTP 500.
//   - A batch (JSON array) always answers 200 with the replies in request
//     order, notifications left out, errors inside; all-notification
//     batches answer 204; an empty batch answers "[]" (Core's choice for old
//     clients). A batch longer than MaxBatch is refused with
//     RPC_INVALID_REQUEST and HTTP 400 (Core has no limit).
//   - Keys are case-sensitive and, as with Core's find_value, the first
//     occurrence of a repeated key counts. The envelope is read by a small
//     scanner over the already validated JSON (objectMembers), because
//     decoding it into a map dominated the cost of a small call.
//   - Wrong positional argument counts answer the method's help text as
//     RPC_MISC_ERROR (-1), as Core does; an unknown named parameter is
//     RPC_INVALID_PARAMETER; a missing required named parameter is
//     RPC_INVALID_PARAMETER "Missing required parameter: <name>"; a value of
//     the wrong JSON type is RPC_TYPE_ERROR "JSON value of type X is not of
//     expected type Y". Core's "args" key for mixed named and positional
//     parameters is not supported.
//
// # Error model
//
// Handlers return *rpcjson.Error values with Core's codes, or plain
// errors that mapError classifies: the Backend's sentinels (ErrNotFound ->
// -5, ErrInsufficientFunds -> -6, ErrNodeAlreadyAdded -> -23,
// ErrNodeNotAdded -> -24, ErrNodeNotConnected -> -29, ErrInvalidPeer and
// ErrNotBanned -> -30, ErrAlreadyBanned -> -23), transaction rejections
// (*RejectError and chain rule errors -> RPC_VERIFY_REJECTED -26,
// ErrAlreadyInChain -> -27, ErrAlreadyInMempool -> success with the txid,
// as Core), and ErrNotAvailable, which becomes Core's "disabled" error of
// the method's subsystem: p2p -> RPC_CLIENT_P2P_DISABLED (-31, "Error:
// Peer-to-peer functionality missing or disabled"), mempool ->
// RPC_CLIENT_MEMPOOL_DISABLED (-33), wallet -> RPC_WALLET_NOT_FOUND (-18),
// miner and notifications -> RPC_MISC_ERROR (-1). Anything else is
// RPC_MISC_ERROR with the error's text. submitblock answers rule
// violations as BIP22 result strings ("high-hash", "bad-txnmrklroot",
// "bad-diffbits", "duplicate", "duplicate-invalid", "inconclusive" for a
// valid block that is not on the main chain, ..., "rejected"), not as
// errors, as Core does.
//
// # Decisions the design leaves open
//
//   - Difficulty is Core's GetDifficulty: the target of bits 0x1d00ffff
//     divided by the current target, as a float. Quarry's PoW limits are
//     easier than that, so dev/test/regtest difficulties are below 1
//     (regtest 4.66e-10, the same number Core's regtest shows), and
//     difficulty x 2^32 / spacing estimates hash rate as on Bitcoin.
//   - Hashes are byte-reversed hex (chain.Hash.String) everywhere,
//     including getblocktemplate's merklebranch (reverse them to get the
//     internal order stratum's mining.notify uses).
//   - Amounts are coins as JSON numbers with eight decimals (Core's
//     ValueFromAmount), parsed exactly; getblocktemplate's "coinbasevalue"
//     and transaction "fee" are base units, as Core reports satoshis there.
//     Fee rates (getmempoolinfo, maxfeerate) are coins per 1000 bytes; the
//     pool's own unit is base units per byte.
//   - sendrawtransaction's maxfeerate defaults to 0 (no cap): Quarry's fee
//     is an absolute per-transaction amount and wallets choose it; a
//     positive value rejects with RPC_VERIFY_ERROR as in Core.
//   - getblockchaininfo: "headers" equals "blocks"; "initialblockdownload"
//     is true while the tip is older than MaxTipAge (Core's -maxtipage);
//     "verificationprogress" is 1; "statedigest" and "orphans" are extras.
//   - getchaintxstats' "txcount" is the block index's cumulative count
//     (coinbases included, as Core's nChainTx); the window walks at most
//     100000 blocks; getnetworkhashps with nblocks <= 0 uses 120 blocks
//     (ASERT has no retarget period).
//   - getnetworkinfo answers Core's types, which Bitcoin client libraries
//     decode: "version" is the release in Core's integer encoding
//     (1000000*major + 10000*minor + 100*patch: 10000 for 0.1.0),
//     "subversion" the text identity ("/Quarry:0.1.0/"), "protocolversion"
//     the sync protocol's number; "protocol" (its libp2p id) and
//     "localpeerid" are extras. btcd's rpcclient runs against a real node
//     in node's TestBtcdRPCClient.
//   - generatetoaddress exists only on dev and regtest; elsewhere it is
//     RPC_METHOD_NOT_FOUND with an explanation. It lifts the request's
//     write deadline and stops early (returning the blocks mined so far)
//     when the server shuts down.
//   - getblocktemplate (simplified, "template" mode only) takes
//     {"coinbaseaddress": "..."} to choose the payee (default: the node's
//     miner address) and returns: version, previousblockhash, transactions
//     [{data, txid, hash, depends (1-based indexes of earlier transactions
//     of the same sender), fee, size}], coinbasevalue, coinbasetxn {data,
//     txid, payee}, coinb1, coinb2, extranoncesize (8), merklebranch,
//     target, mintime, mutable, noncerange, sizelimit, curtime, bits,
//     height. Build a block with: coinbase = coinb1 || extranonce || coinb2;
//     root = fold SHA256d(node || branch[i]) over the coinbase txid (see
//     chain.MerkleRootFromBranch); header = version, previousblockhash,
//     root, time in [mintime, curtime + the network's future limit], bits,
//     nonce; block = header || CompactSize(1 + len(transactions)) ||
//     coinbase || each transaction's data; then submitblock. No longpoll.
//   - getstratuminfo reports the node's stratum server (quarryd
//     --stratum-listen): workers with payout address, conntime, share
//     difficulty, hash rate estimated from accepted shares, share counts
//     and blocks; the node's Backend provides it through the optional
//     StratumBackend interface (without it, or with the server off, the
//     method answers RPC_MISC_ERROR "not available").
//   - Peers are libp2p peer ids: addnode/disconnectnode/setban take a
//     peer id or a multiaddr ending in /p2p/<peer id> (not IP subnets);
//     getpeerinfo's numeric "id" is the position in the reply (sorted by
//     peer id) and "peerid" the stable identity.
//   - Account-model additions with plain names: getaccount (confirmed
//     balance and next nonce, plus the pending view with the mempool: the
//     nonce a new transaction must use), getstateinfo (tip, height, state
//     digest), validateaddress (bech32m, per-network prefix). Devnet
//     partition controls: partition ["peer id", ...] blocks peers until
//     heal, which lifts every block and redials.
//   - Mempool entries are related by sender nonce: getmempoolentry's
//     "depends" is the sender's pending transaction with the previous
//     nonce, "spentby" the one with the next nonce.
//   - waitfornewblock(timeout ms, current_tip) waits for the tip to differ
//     from current_tip (default: the tip at the call), for the timeout, for
//     the client to leave or for shutdown, and lifts the request's write
//     deadline for long waits; it relies on the Backend's events (without
//     them it just waits out its timeout).
//   - stop calls Config.OnStop (which must not block) and answers "Quarry
//     server stopping"; the caller then cancels Run's context.
//
// # Authentication and hardening
//
// Like Core: a Password configures static credentials; without one, Run
// writes CookieDir/.cookie ("__cookie__:" + 64 random hex digits, mode
// 0600, written to a temporary file and renamed) before it listens and
// removes it after shutdown. The server compares SHA-256 digests of
// "user:password" in constant time.
//
// Password guessing is slowed for the whole server, not per request (Core
// gets the same effect from its few worker threads sleeping 250 ms per
// failure): every failed check takes a token from one rate limiter
// (AuthFailureRate per second, default 16, with a burst of
// AuthFailureBurst) and its 401 waits for that token's turn, and at least
// AuthFailureDelay; a token stays spent when the client leaves. Correct
// credentials are answered at once, so a client could tell an unanswered
// guess from a correct one without waiting for the 401; therefore, while
// the queued failures would take more than two seconds, a request on a
// connection that has not yet authenticated is refused with 503 ("Too many
// failed authentication attempts") before its credentials are checked, and
// the number of guesses checked stays within burst + rate x (t + 2 s)
// however many clients guess. A connection on which a request has
// authenticated (keep-alive clients such as rpc/client) skips that
// refusal, so a flood of wrong passwords never delays it; a new connection
// with correct credentials is refused only while such a flood lasts.
// Refusals are counted as quarry_rpc_http_rejected_total{reason=
// "auth_throttled"}.
//
// It refuses, in New, a ListenAddr that is not loopback unless
// AllowNonLoopback is set, and never runs without authentication. The HTTP
// server has header/read/write/idle timeouts and a 64 KiB header limit; Run
// drains in-flight requests for up to ShutdownTimeout on shutdown (long
// waits end at once: request contexts derive from a context cancelled when
// shutdown starts).
//
// # WebSocket protocol ("/ws", same listener and credentials)
//
// Messages are JSON-RPC objects, one per text frame, in either dialect.
// {"jsonrpc":"2.0","id":1,"method":"subscribe","params":["blocks"]} (or
// "reorgs", "mempool"; one topic per call; named {"topic": ...} works
// too) answers {"topic": "blocks", "seq": N}: N is the sequence number of
// the last notification on that topic before this subscription, so this
// client's first one carries N+1. "unsubscribe" answers true. Any other
// method runs exactly as over HTTP (one at a time per connection).
// Notifications are JSON-RPC 2.0 notifications:
//
//	{"jsonrpc":"2.0","method":"block_connected","params":{"seq":7,"hash":...,"height":...,"previousblockhash":...,"time":...,"bits":...,"nTx":...,"size":...,"tx":[...]}}
//	{"jsonrpc":"2.0","method":"block_disconnected","params":{same fields}}
//	{"jsonrpc":"2.0","method":"reorg","params":{"seq":2,"depth":1,"forkpoint":...,"forkheight":...,"oldtip":...,"newtip":...,"removed":[old tip first],"added":[fork side first]}}
//	{"jsonrpc":"2.0","method":"mempool_added","params":{"seq":9,"txid":...,"from":...,"to":...,"amount":...,"fee":...,"nonce":...,"size":...}}
//	{"jsonrpc":"2.0","method":"mempool_removed","params":{"seq":10,"txid":...,"reason":"block"}}
//
// The "blocks" topic carries every connected and disconnected block in
// chain order (within a reorg: disconnections from the old tip down, then
// connections from the fork point up, then the "reorg" notification on its
// own topic). Sequence numbers are per topic and consecutive, so a client
// can prove it missed nothing. A single hub goroutine reads the Backend's
// event channel and never blocks: each connection has a queue of
// WSQueueSize messages, and a connection whose queue is full is closed
// with code 1008 (policy violation, "slow consumer") instead of stalling
// anything. If the Backend reports dropped events (Notification.Lost),
// every subscriber is closed with 1013 (try again later) so nobody
// silently misses one. Shutdown closes connections with 1001. The server
// pings every WSPingInterval and drops a peer silent for two intervals.
// Browser pages are refused unless Origin matches Host (gorilla's check).
//
// # Explorer
//
// GET /explorer/ serves a small read-only explorer page (HTML, JavaScript
// and CSS embedded in the binary with go:embed; no build step, no external
// library): chain summary, a window of 20 recent blocks that pages back
// on request, chain tips with their branch status, the mempool, peers and
// the miner. The page opens one WebSocket, /explorer/ws, speaks the same
// protocol as /ws over it, subscribes to blocks, reorgs and mempool, and
// re-reads a section only when a notification says it changed (no
// polling); a new block's row is drawn from the notification itself.
//
// Access: a request from a loopback address whose Host header also names
// a loopback host (localhost, 127.0.0.0/8, [::1]) needs no credentials;
// any other request needs the RPC credentials (HTTP Basic, so a browser
// shows its own prompt; the page has no login screen). The Host check
// keeps a page on another origin from reaching the node by DNS rebinding,
// and the WebSocket refuses a foreign Origin. Whatever the credentials,
// the explorer's WebSocket runs only the read methods in explorerMethods
// (chain, mempool, network and miner reads); anything that changes the
// node or touches the wallet is refused with RPC_METHOD_NOT_FOUND.
//
// # Related packages
//
// rpc/rpcjson holds the JSON shapes shared with clients (error codes,
// Amount, result and notification structs, and MethodParams, the
// string-parameter table quarryctl types its arguments with; a test keeps
// it in step with the method table). rpc/client is the Go client (calls,
// typed helpers, WebSocket subscriptions, cookie reading) used by
// quarryctl and tests. rpc/rpctest is a deterministic fake Backend for
// tests; the golden files in testdata/golden (go test ./rpc -run TestGolden
// -update rewrites them) hold a request/response transcript per method.
//
// # Concurrency
//
// Server methods are safe for concurrent use; the Backend must be too.
// Run starts the HTTP server goroutines, one hub goroutine and one writer
// goroutine per WebSocket connection, and returns after all of them exit.
package rpc

// Package node is Quarry's composition root: it builds the chain, mempool,
// wallet, miner, p2p and RPC components from one Config, wires them together
// through small adaptors (each component declares the interface it needs;
// node satisfies it), and owns their lifecycle, the event dispatcher and the
// Prometheus registry.
//
// # Lifecycle
//
// New validates the configuration and touches nothing. Run locks the data
// directory, opens the store and the chain, builds every component, opens
// the listeners (RPC, metrics, p2p) and then runs the components under one
// errgroup. The first component to fail cancels the others; Run returns
// only after every goroutine it started has exited and the store is closed,
// so a caller may reopen the same data directory as soon as Run returns.
// Ready is closed once every listener is up; if Run fails before that,
// Ready is never closed, so callers wait on both.
//
// # Events
//
// One dispatcher goroutine (dispatch.go) receives chain events in order and
// hands each to the mempool (reorg handling), the wallet, the miner (template
// switch on a new tip), the RPC notification hub and the metrics, and logs
// connected blocks, reorgs and sync progress. The chain never waits for it:
// its subscription is buffered and drops are counted. The mempool and the
// wallet therefore follow the chain a moment later; generatetoaddress
// waits (up to 10 s) until they have taken in the blocks it mined
// (dispatchMark, synced.go), so that a client sees them as Bitcoin Core's
// would.
//
// # Rebroadcast
//
// Transactions the node originates (wallet payments, sendrawtransaction;
// both go through submitTx) are gossiped once at once and then tracked
// by the rebroadcaster (rebroadcast.go), which republishes each through
// p2p's PublishTx while the mempool still holds it: first 200 s after the
// original publication, then 400 s, 800 s, 1600 s and every 30 min, each
// delay lengthened by up to a quarter at random. Gossipsub drops a
// message ID it saw in the last two to three minutes, the publisher's own
// included, which sets the first delay. The dispatcher hands the pool's
// removal events (confirmed, replaced, evicted, expired, conflict) to the
// rebroadcaster, which stops tracking the transaction; a round that finds
// a transaction gone from the pool drops it too. One a block included is
// remembered (the last 1,000) and tracked again if a reorg returns it to
// the pool. Rounds (every 10 s) are
// skipped while the node has no gossip peers. The set is capped
// (10,000; the longest tracked makes room), a round publishes at most 500,
// and the goroutine runs under Run's group. --no-rebroadcast turns it off.
// Metrics: quarry_node_tx_rebroadcasts_total,
// quarry_node_rebroadcast_tracked_transactions.
//
// # Adversaries
//
// On the dev and regtest networks a node can be made dishonest for lab
// experiments (Config.Adversary, Config.ClockOffset; refused on main and
// test with ErrLabOnly). The clock offset shifts the one clock the node
// injects into the chain (future-time rule), the miner and stratum
// (template times). The adversary modes are driven by adversarial.go: the
// strategies of package node/adversary decide when the node's own blocks
// are announced, and the chain view given to p2p (advView) hides the
// unpublished ones from the status exchange and the sync protocol. The
// equivocate mode sends its twins to alternate halves of its peers on
// p2p's block-push protocol (adversarial_net.go). The hostile-peer modes
// act through the same view (stall: status and headers served, block
// requests held; lie-work: 2^200 chain work in the status) and a runner
// (junk, in turn: an invalid block and garbage on gossip, a garbage and an
// oversized frame pushed to each peer). A withhold node with
// Config.WithholdSpend double-spends its wallet's payments
// (withhold_spend.go): sendtoaddress starts a race at the tip, the payment
// goes to the mempool and gossip, and the miner's transaction source
// (minerTxSource) gives the private branch's templates a conflicting spend
// instead. RPC getadversaryinfo reports what the node did, each double
// spend's outcome included.
//
// # Metrics
//
// The node owns the registry (Config.Registerer, or its own). Each
// component registers its own metrics struct on it; derived values (height,
// chain work, mempool size) are GaugeFuncs read at scrape time.
package node

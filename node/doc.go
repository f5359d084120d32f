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
// its subscription is buffered and drops are counted.
//
// # Metrics
//
// The node owns the registry (Config.Registerer, or its own). Each
// component registers its own metrics struct on it; derived values (height,
// chain work, mempool size) are GaugeFuncs read at scrape time.
package node

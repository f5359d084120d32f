// Package web serves the lab page (scripts/devnet web): a live drawing of
// the block tree of every node of a devnet, the nodes' state, the
// partition, reorgs as they happen, the double spend's fate and the last
// heal report, with controls that split, heal, isolate, reconnect and
// double-spend through the same lab code as the command line.
//
// # Pipeline
//
// The collector (collector.go) backfills the last Window heights of every
// node by RPC (each node's main chain and the side branches getchaintips
// lists, walked back by header), then follows the nodes' WebSocket streams
// (blocks and reorgs): a connected block is added to the Tree with its
// chain work computed from its parent's, or read by header when the
// parent is unknown, and becomes its node's tip. The Tree (tree.go) is
// pure data: the union of all nodes' blocks, each node's tip, bounded to
// four windows of heights. Its View lays the window out in lanes, the
// branch of the most-work tip in lane 0, and marks the blocks no node's
// chain contains as lost.
//
// The publisher (browser.go) pushes a JSON snapshot to every open page
// within publishDelay of a change; a page that cannot keep up is closed
// and reconnects. Node statuses (height, peers, network state, hash rate,
// mempool) are re-read by RPC after changes, at most every refreshEvery;
// the only timer checks the lab's state file's modification time every
// refreshEvery, so a command run from the shell (a link change, a
// partition) shows without a block. The snapshot carries the topology and
// each link's conditions; the page lists them and strikes out cut links. A page pages back by sending {"top": H}; the
// server backfills that window from the nodes' main chains on demand.
//
// # Safety
//
// The page can split and heal the lab, so the server listens on loopback
// unless told otherwise, answers only to a loopback Host name (no DNS
// rebinding), refuses WebSocket upgrades from a foreign Origin, and takes
// controls only as application/json POSTs, which other origins cannot send
// without a CORS preflight the server never grants. Controls run one at a
// time; each re-reads the lab directory, so commands given on the command
// line meanwhile are seen.
package web

// Command devnet is Quarry's devnet and partition lab: it runs N quarryd
// processes on 127.0.0.1, splits and heals them through the nodes' RPC
// partition controls, sends transfers and double spends, and reports what
// happened at the heal. scripts/devnet builds the binaries and runs it;
// README.md ("Devnet and partition lab") is the user guide.
//
//	scripts/devnet up -n 4 --hashrate 35,35,15,15
//	scripts/devnet partition 0,1 2,3
//	scripts/devnet doublespend 0 2
//	scripts/devnet heal --report
//	scripts/devnet down
//
// # Pipeline
//
// Every command loads the lab's state file (<dir>/lab.json), talks to the
// nodes over JSON-RPC (rpc/client, cookie auth from each data directory),
// and writes the state back when it changed. up derives the identities,
// allocates ports, writes p2p.key and the miner key files, starts the
// processes and waits for RPC and a full peer mesh; partition calls the
// "partition" RPC on every node with the peer IDs of the other groups and
// waits until no connection crosses the split; heal records every node's
// tip, the fork point and each side's branch (before anything changes),
// calls "heal" everywhere and, with --report, polls getstateinfo every
// 20 ms until all tips and state digests agree. report joins that record
// with the nodes' current chains (getblockhash, getblockheader,
// getrawtransaction, getrawmempool, getaccount) and the "reorg" lines of
// the nodes' logs.
//
// # Decisions
//
//   - Identities are derived from the seed (keys.go documents the exact
//     derivation), so peer IDs, miner addresses and bootnode lists are the
//     same on every run; docker-compose uses the seed "compose".
//   - Ports: --base-port B gives node i B+10i (p2p TCP+UDP), +1 (RPC), +2
//     (metrics); the default 0 asks the kernel for free ports (held until
//     all are chosen, the p2p one free for both TCP and QUIC) and records
//     them in the state file, so a restarted lab keeps its ports.
//   - Processes: the CLI starts nodes in their own session (they outlive
//     the command); down signals only a pid whose command line names the
//     node's data directory (Linux), so a recycled pid is never killed.
//     Tests and benchmarks start them attached: Pdeathsig kills them if the
//     test binary dies, and t.Cleanup stops and reaps them.
//   - Reorgs are read from the nodes' logs (one "reorg" line per
//     reorganisation, with depth, fork and tips), so status and report work
//     from separate invocations without a long-lived subscriber.
//   - The double spend pays two deterministic sink addresses nobody mines
//     to, so their balances show which spend won.
//   - The winner of a heal is the side whose first block after the fork is
//     in the final main chain; the report compares it with the side that
//     had the most work at heal time.
//   - WaitPeers checks that every connection is known to both ends and
//     repairs (and logs) one that is not (see its comment).
//
// # Errors
//
// Commands print "devnet <command>: <error>" and exit 1; a wrong invocation
// exits 2. A node that exits during up is reported with the end of its log.
package main

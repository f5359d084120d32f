// Package lab is Quarry's devnet and partition lab as a library: it runs
// N quarryd processes on 127.0.0.1 connected in a chosen topology, over
// links that may be slowed, throttled or cut in user-space proxies,
// splits and heals them (in the nodes' gaters or at the links), sends
// transfers and double spends,
// watches the nodes' WebSocket streams and reports what happened at the
// heal. cmd/devnet is its command-line front end (scripts/devnet; README
// "Devnet and partition lab" is the user guide), and the end-to-end tests
// of cmd/devnet and cmd/quarryd run their processes with it.
//
// # Pipeline
//
// A Lab is a directory with a state file (lab.json, State), the nodes'
// data directories, key files and logs. CreateLab derives the identities
// (keys.go documents the exact derivation), allocates ports and writes
// p2p.key, the miner key files and the state; OpenLab loads an existing
// one, so every CLI command is a separate process that loads the state,
// talks to the nodes over JSON-RPC (rpc/client, cookie auth from each data
// directory) and saves the state when it changed. Up starts the processes
// and waits for RPC and a full peer mesh. Partition calls the "partition"
// RPC on every node with the peer IDs of the other groups and waits until
// no connection crosses the split. Heal records every node's tip, the
// fork point and each side's branch (before anything changes), calls
// "heal" everywhere and, with Wait, polls getstateinfo every 20 ms until
// all tips and state digests agree while it records the reorgs the nodes
// announce on their WebSocket "reorgs" topic. BuildReport joins that
// record with the nodes' current chains (getblockhash, getblockheader,
// getrawtransaction, getrawmempool, getaccount).
//
// Topologies and links: CreateLab turns UpOptions.Topology (mesh, ring,
// line, star, random:K drawn from the seed, or a TOML/YAML edge list;
// topology.go) into State.Links, and each node dials only its neighbours.
// A shaped lab (any link condition, or UpOptions.Shaped) gives every link
// two toxiproxy proxies, one per dialling direction (proxy.go): node i
// dials neighbour j at the proxy's port, the proxy adds the link's
// latency and jitter to both streams and caps its bandwidth, and a cut
// link's proxies stop, closing their connections. The nodes then run TCP
// only and announce no address (quarryd --p2p-no-quic --p2p-announce
// none), so identify leaks no direct address and every byte between two
// nodes passes through their link's proxy (CheckProxied verifies it). The
// proxies must outlive each CLI command: Up starts them as the detached
// `devnet proxy` daemon (its control API on a loopback port recorded in
// the state file; Down stops it), or in this program for attached labs.
// SetLink changes a link at any time; PartitionAt with PartitionLinks
// cuts the links between groups, and Heal restores exactly those and has
// their ends redial (addnode onetry), feeding the same heal record and
// report as a gater partition.
//
// Scenarios (scenario.go) script a lab from a TOML or YAML file; the
// stale-rate experiment (experiment.go) measures stale blocks per link
// delay on a dev-derived chain with a chosen block interval
// (UpOptions.BlockTime, chain.DevParamsWithBlockTime).
//
// The pieces a new front end (a web page, a scenario runner) builds on:
// Subscribe merges the WebSocket notifications of every node into one
// Stream of Events stamped on arrival; the RPC helpers (StateInfo, Tips,
// ForkPoint, TxStatus, Account, ...) answer per node; Process runs any
// child process attached to this program; Build compiles the module's
// commands for tests and benchmarks.
//
// # Decisions
//
//   - Identities are derived from the seed, so peer IDs, miner addresses
//     and bootnode lists are the same on every run; docker-compose uses
//     the seed "compose".
//   - Ports: UpOptions.BasePort B gives node i B+10i (p2p TCP+UDP), +1
//     (RPC), +2 (metrics); 0 asks the kernel for free ports (held until
//     all are chosen, the p2p one free for both TCP and QUIC) and records
//     them in the state file, so a restarted lab keeps its ports.
//   - Processes: the CLI starts nodes detached, in their own session (they
//     outlive the command); Down signals only a pid whose command line
//     names the node's data directory (Linux), so a recycled pid is never
//     killed. Tests and benchmarks start them attached (UpOptions.Attached,
//     Process): Pdeathsig kills them if the program dies, and Down stops
//     and reaps them.
//   - Reorgs are read from the nodes' WebSocket "reorgs" notifications
//     (fork point, removed and added blocks), never from log text. A CLI
//     command lives only as long as its work, so the lab records what it
//     observed: heal with Wait stores the reorgs in the state file, and
//     watch shows them live. A heal that did not wait has no observation;
//     the report then derives each node's reorg from RPC (the heal-time
//     tip left the main chain: walk down to the fork), without its time.
//   - The double spend pays two deterministic sink addresses nobody mines
//     to, so their balances show which spend won.
//   - The winner of a heal is the side whose first block after the fork is
//     in the final main chain; the report compares it with the side that
//     had the most work at heal time.
//   - A link's delay is one-way and applies to both directions of both
//     proxies, so a round trip through a link takes twice the delay
//     (getpeerinfo's pingtime shows it).
//   - Link ports are allocated from the kernel at creation, two per
//     link, plus the proxy control port, and kept in the state file.
//   - WaitPeers checks that every connection is known to both ends and
//     repairs (and logs) one that is not (see its comment).
//   - A program that runs lab after lab (the experiments) must not grow
//     with them: Down reaps the detached processes this program started
//     (no zombies), and the proxies end every toxiproxy stream whose
//     destination is gone (drainToxic; toxiproxy itself leaves a
//     goroutine and its queued data per connection closed with data in
//     flight).
//
// # Adversaries and experiments
//
// A node's Role (adversary mode, clock offset) is part of its NodeState and
// becomes quarryd flags; status, watch and the heal report add what each
// dishonest node did, read from its getadversaryinfo (adversary.go). The
// adversary experiments (experiment_*.go) each run in fresh labs of their
// own under the lab directory, like the benchmarks: selfish (several
// independent replicate labs per hash share, because the blocks of one run
// are not independent trials) and equivocation on mining dev labs,
// clock-skew on regtest (with an external miner that stamps blocks by the
// skewed host clock, clockminer.go); double-spend is a seeded simulation
// of the race (see its comment for why), and with --live the attack on
// real nodes of a fast dev-derived lab (experiment_doublespend_live.go).
// Scenario files can give roles too, and wait for releases or for the
// honest nodes to agree; their pay step and payment-reversed check run a
// double spend step by step (scenario_pay.go).
// Lie-work and junk nodes are banned by their peers by design: starting a
// lab does not wait for their connections, and agreement (heal,
// benchmarks) leaves them out.
//
// # Errors
//
// Methods return errors that name the node ("node2 getpeerinfo: ...");
// waits end with the context's error and the last condition that did not
// hold. A node that exits during Up is reported with the end of its log.
// OpenLab returns an error wrapping ErrNoLab when the directory has no
// lab.
//
// # Concurrency
//
// A Lab is not safe for concurrent use (it holds the state it saves); its
// methods may be called while the nodes run, and several Labs may run at
// once in different directories. Process and Stream are safe for
// concurrent use as their comments say. The package-level functions are
// safe for concurrent use; the records (State and its parts, Report, the
// benchmark results) are plain values.
package lab

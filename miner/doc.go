// Package miner builds block templates from the chain tip and the mempool
// and searches them for proof of work on every core. The SHA-256d nonce
// search itself is the kernel package (miner/kernel); this package is the
// pipeline around it.
//
// # Pipeline
//
//	ChainView.Best ─┐
//	TxSource ───────┴─> NewTemplate ─> publish (atomic pointer + generation)
//	                                         │ read once per batch
//	                   worker 0..T-1: lane ─> kernel.Search(batch) ─> hit?
//	                                         │ verify with the reference hash
//	                                    Submitter.SubmitBlock ─> TipChanged ─> rebuild
//
// A Miner has one template loop (the goroutine of Run) and up to MaxThreads
// worker goroutines. The template loop owns template building: it rebuilds
// when TipChanged is called (the node calls it on every chain EventNewTip,
// and the miner calls it itself after submitting a block, so it never waits
// for gossip to learn its own tip), when Best differs from the last build
// (polled every PollInterval as a fallback), every RefreshInterval (new
// transactions, time roll) and when SetGenerate changes the settings.
// Building reads Best once (an atomic load in chain), asks the TxSource for
// transactions and hashes the merkle tree: tens of microseconds for small
// blocks (quarry_miner_template_build_seconds).
//
// Mining never looks at peers or at the age of the tip: it works with zero
// peers and on a tip that is hours old (dev, regtest). There is no "initial
// download" check (Bitcoin Core issue #5984; btcd refuses to mine without
// peers); a node that is still syncing merely mines blocks that lose.
//
// # Templates
//
// NewTemplate is pure (every input, the time included, is in TemplateSpec).
// The coinbase pays subsidy + fees to Config.PayTo at height tip+1 with
// Config.CoinbaseMemo; bits are Snapshot.NextBits (aserti3-2d depends only
// on the parent, so the header time can roll without changing them); the
// time is max(now, MTP+1) and a template whose MTP+1 is beyond now + the
// network's future limit is refused (ErrClockBehind) rather than mined
// into blocks every node would reject. Candidate transactions are taken in
// the source's order; coinbases, nil entries, other networks' transactions
// and duplicate ids are skipped (each is harmless to drop); the list is cut,
// not skipped, where the size budget or the fee sum would overflow, so a
// sender's nonces stay contiguous. The TxSource contract: return only
// transactions valid on the state after the given parent, and nil while its
// own view has not reached that parent; the node calls TipChanged again
// once the mempool has processed the tip, and the template then gains the
// transactions. If the chain rejects a block that carried transactions
// (anything but a transient "time too new" or a duplicate), templates on
// that parent are coinbase-only until the tip moves: one bad mempool entry
// cannot stall mining.
//
// A Template also serves RPC getblocktemplate and submitblock
// (BuildTemplate, or BuildTemplateFor another address): it holds the
// block with a zero extra-nonce, the coinbase's merkle branch, Coinb1 and
// Coinb2 (stratum's split around the extra-nonce) and makes the block, the
// header or the merkle root for any (extra-nonce, time, nonce).
//
// # Extra-nonce and nonce space
//
// The coinbase's 8-byte extra-nonce is laid out as
//
//	bytes 0..1  lane: background worker i uses lane i (< 0x8000),
//	            GenerateBlocks thread i uses 0x8000|i
//	bytes 2..3  salt of this Miner (Config.ExtraNonceSalt, random if 0), so
//	            two nodes paying the same address never search the same space
//	bytes 4..7  per-lane counter, big-endian
//
// The stratum server (miner/stratum) uses the rest of the space: its
// extranonce1 (bytes 0..3, per connection) starts with 0b11, so byte 0 is
// 0xc0..0xff, a lane value the workers above never take; the miner's
// extranonce2 fills bytes 4..7.
//
// Lanes are disjoint by extra-nonce, so every worker walks the whole 32-bit
// header nonce space of its own coinbase and no two workers ever hash the
// same header. When a lane exhausts its nonces it bumps its counter and
// recomputes only the coinbase hash and the merkle path
// (chain.MerkleRootFromBranch over the template's branch), rolls the header
// time forward to max(now, MTP+1), and prepares a new kernel job. The
// counter also advances whenever the lane adopts a template and persists
// across worker restarts, so no extra-nonce repeats within a template. At
// ~25 M nonces/s per core one extra-nonce lasts about three minutes; the
// time therefore rolls mostly through the periodic template refresh.
//
// # Workers, batches and tip switching
//
// A worker hashes batches of Config.BatchSize nonces (16 Ki by default:
// under a millisecond with the vector kernels, longer with the generic
// one). Per batch it does one atomic load of the work generation, one
// kernel call, one atomic add to its own hash counter (padded to 128 bytes
// so that workers never share a cache line) and one runtime.Gosched (it
// costs ~0.1 µs). There is no channel operation, allocation or shared
// write per nonce or per batch.
//
// Responsiveness while every core mines: the kernels are assembly, which
// the runtime cannot preempt, so a batch is also the longest a
// stop-the-world pause (GC) waits for a worker; 16 Ki nonces keep it near a
// millisecond (64 Ki gave a 3x higher mean RPC latency). Worker goroutines
// are locked to their OS threads and those threads are made nice (Linux),
// so the kernel runs RPC, p2p and block processing first whenever they
// have work; quarryd also runs with one P more than there are cores
// (node.ReserveRPCProc), so those goroutines never wait for a worker to
// yield its P. Measured with node's BenchmarkRPCWhileMining
// (getblockcount over loopback, 2 cores both mining): p50 0.1 ms, mean
// 1.1-1.6 ms, p99 20 ms (idle node: p50 0.13 ms, p99 0.4 ms); before these
// measures: p50 up to 15 ms, mean 7-10 ms.
//
// Publishing new work stores the template and bumps the generation; every
// worker sees it at its next batch boundary, so no worker starts a batch on
// an old tip after the new work is published and at most the batch in
// flight is lost. The switch latency — from the moment a new tip was
// noticed (TipChanged call, poll, or own submission) to the moment the last
// worker adopted work on it, template build included — is exported as
// quarry_miner_tip_switch_seconds. Stale work counts the batches a worker
// finished on a tip that had been replaced (at most one per worker per
// switch) and the solutions discarded because their parent was no longer
// the tip (quarry_miner_stale_work_total{kind="batch"|"solution"}). Stale
// solutions are not submitted: a sibling of the tip would only be a side
// chain of equal work.
//
// A kernel hit is rebuilt into a full block and verified with the reference
// hash (chain.Header.BlockHash, crypto/sha256) against the target before it
// is submitted; a mismatch is a kernel bug, logged and counted
// (quarry_miner_kernel_faults_total), never submitted. Submissions are
// serialised and the parent is re-checked against Best under that lock, so
// two workers solving the same tip submit one block. The Submitter must
// have processed the block when it returns.
//
// SetGenerate(false) and a lower thread count make surplus workers exit at
// their next batch (no parked goroutine spins); the template loop spawns
// workers when the count grows. Without work (no address, clock behind)
// workers block on a channel that the next publication closes.
//
// # Hash-rate limit
//
// Config.HashrateLimit (H/s, total over workers) paces background mining
// with a token bucket (golang.org/x/time/rate), one token per nonce: a
// worker reserves a whole batch and starts it at the time the bucket names,
// so the nonces started by any time t never exceed burst + limit*(t - t0)
// (TestPacerBound checks this on a fake clock). Under a limit batches shrink to about 5 ms of the
// limit (at least MinPacedBatch) and the burst is one batch, so pacing is
// smooth and several limited nodes on one machine get reproducible shares
// of hash power. A worker waiting for its start still reacts to new work at
// once (it keeps its reservation and spends it on the new work).
// GenerateBlocks is never paced: it is an explicit request for blocks.
//
// # GenerateBlocks
//
// GenerateBlocks (RPC generatetoaddress) mines n blocks synchronously on all
// threads, independently of background mining and of Run: per block it
// builds a template paying the given address, searches it on its own lanes
// until a thread finds a solution, submits it and requires that the tip
// moved before building the next one. If the tip moves during the search
// (a peer's block) it restarts on the new tip. GenerateBlocksMaxTries adds
// Bitcoin Core's maxtries: a budget of nonces over all blocks, shared by the
// threads a batch at a time; when it is spent the call returns the blocks
// mined so far without an error. Calls are serialised.
//
// # Hash rate and statistics
//
// Stats (RPC getmininginfo) and the hash-rate gauges use a sliding window:
// the template loop samples every worker's counter each second and keeps 11
// samples, so rates are over the last ~10 s. The per-worker gauge's label is
// the worker index, bounded by the thread count.
//
// # Errors
//
// Errors are *Error values with an ErrorKind (errors.Is matches the kind and
// the wrapped cause, e.g. a *chain.RuleError of a rejected block). Template
// failures inside the template loop are logged and retried at the next
// trigger; workers then wait. A rejected block is logged and counted. Run
// returns nil when its context ends, ErrAlreadyRunning when called twice.
//
// Formatting follows one rule in every package of the module (chain,
// mempool, miner, p2p, node/wallet): Error() returns the Description, then
// ": " and the cause's text when the error wraps a cause (Err); a
// Description says what failed and never repeats the cause, so a message
// names each cause once. Descriptions start with the kind's text.
//
// # Metrics
//
//	quarry_miner_hashes_total                          counter
//	quarry_miner_hashrate_hashes_per_second            gauge (total, ~10 s window)
//	quarry_miner_worker_hashrate_hashes_per_second     gauge {worker}
//	quarry_miner_blocks_found_total                    counter (accepted)
//	quarry_miner_blocks_rejected_total                 counter
//	quarry_miner_stale_work_total                      counter {kind}
//	quarry_miner_kernel_faults_total                   counter
//	quarry_miner_template_age_seconds                  gauge
//	quarry_miner_threads                               gauge
//	quarry_miner_tip_switch_seconds                    histogram
//	quarry_miner_template_build_seconds                histogram
//
// Counters and gauges are functions over the miner's own atomics; nothing
// is written to Prometheus on the hot path.
package miner

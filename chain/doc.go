// Package chain is Quarry's consensus engine: types and their canonical
// encoding, network parameters, proof of work and difficulty, validation
// rules, the account state, the block index with most-work fork choice and
// reorganisation, and the Store interface it keeps them in. It does no I/O
// other than through that Store and never imports p2p, rpc, the miner, the
// mempool, Prometheus or a storage engine.
//
// # Pipeline
//
// ProcessBlock takes a block from anywhere (a peer, the miner, RPC):
//
//  1. Context-free checks (CheckBlockSanity): version, compact bits within
//     the PoW limit, hash <= target, merkle root and the CVE-2012-2459
//     mutation check, size, coinbase first and only, transaction sanity
//     (chain ID, memo length, non-zero amount, overflow, no self-transfer),
//     no duplicate transactions. No lock is held. A block that passed
//     CheckBlock (which records it in the chain, see checked.go) is not
//     checked again, so a caller can run these checks as blocks arrive, off
//     the goroutine that connects them.
//  2. Parent lookup: an unknown parent puts the block into a bounded orphan
//     pool (count and age) until the parent arrives.
//  3. Contextual header checks against the parent: bits equal to the ASERT
//     schedule, time > median of the last 11 blocks, time <= now + the
//     network's future limit, coinbase height.
//  4. Storage: the block and its index record are written (one batch) and
//     the block becomes a tip candidate.
//  5. Fork choice: the candidate with the most cumulative work wins (ties:
//     the first seen stays). Activation disconnects to the fork point and
//     connects the new branch block by block; connecting verifies every
//     signature (spread over VerifyWorkers goroutines) and applies nonces
//     and balances. If a block fails, it and its descendants are marked
//     invalid and the choice is made again, so the chain always ends on the
//     best chain of valid blocks.
//  6. Events (connected, disconnected, reorg, new tip) go to subscribers
//     through buffered channels; a full channel drops and counts, it never
//     blocks the chain.
//
// Headers-first sync (headers.go): ProcessHeaders runs step 3's header
// checks (and the proof of work of step 1) on headers alone and keeps them
// as headers-only index entries, in memory only. BestHeader is the valid
// header chain with the most work (stored blocks win ties), MissingBlocks
// lists the blocks of that chain to download next in height order, and
// Tips reports headers-only branches as "headers-only". A header that
// breaks a rule marks its hash invalid, and entries above it or above an
// invalid stored block count as invalid; the block of an invalid header is
// refused as known invalid.
//
// # Error model
//
// Formatting follows one rule in every package of the module (chain,
// mempool, miner, p2p, node/wallet): Error() returns the Description, then
// ": " and the cause's text when the error wraps a cause (Err); a
// Description says what failed and never repeats the cause, so a message
// names each cause once. A *RuleError has no cause: its Error() is its
// Description, which starts with the kind's text.
//
// Rule violations are *RuleError values carrying an ErrorKind; match them
// with errors.Is(err, chain.ErrBadMerkleRoot). Only faults that are a
// property of the hash mark a block invalid: header faults (PoW, bits, time
// ordering) and faults in a body the merkle root commits to. A body that
// does not match its header (bad merkle root, mutated list, undecodable
// bytes) is the sender's fault and never marks the hash, so the honest
// block with that hash is still accepted later. A block from the future
// (ErrTimeTooNew) is neither stored nor marked; it may be valid later.
// Storage failures are plain errors (no rule kind, so nobody blames a peer
// for them). At start, data that cannot be trusted (index, accounts, tip,
// undo records) wraps ErrStoreCorrupted and tells the operator what to do;
// New fails rather than serve wrong data. A failed commit wraps
// ErrWriteFailed and halts the chain's writes (see below). A stored block
// whose data fails its integrity check is an ErrCorruptData error: damage to
// this node's copy, repairable from a peer (see below).
//
// # Storage and crash safety
//
// The chain defines Store (Get, Iterate, Commit, Close) and writes through
// it in Batches: a Batch (package kv) is a plain list of put and delete
// operations that one Commit applies atomically and durably. Engines live
// in their own packages and depend only on kv: leveldbstore (goleveldb, one
// synced goleveldb batch per Commit; the node's store), memstore (a map, for
// tests and tools) and faultstore (wraps a store and fails chosen commits
// or corrupts chosen reads, for the storage fault tests). Binaries that only
// use chain's types, such as quarryctl, do not link goleveldb.
//
// Every connect and disconnect is one batch: account changes, undo data
// (prior values of touched accounts), the transaction and height indexes,
// the block status and the tip record with the state digest; storing a
// block is one batch of its data and index record, and a change of block
// statuses (invalid marks, reconsider) is one batch, applied to memory only
// after it is stored. A kill -9 at any moment leaves either the old or the
// new tip, never half a block. At start New loads the index, rebuilds the
// main chain from the tip record, recomputes the state digest from the
// stored accounts and compares it with the recorded one, and finishes a
// reorg that a crash interrupted. Key layout is in store.go.
//
// A Commit that fails may still have stored its batch (an fsync can fail
// after the write), so the chain can no longer vouch that its memory matches
// the store: it returns an error wrapping ErrWriteFailed, refuses every later
// write with it, and closes Failed. The node stops on Failed, as Bitcoin
// Core aborts on a failed write; the next start resumes from whatever the
// store durably holds, which is consistent because every batch is all or
// nothing. Reads that fail (an I/O error) fail only the operation that made
// them, which changes nothing.
//
// Block data is checked when read: the store's checksum (goleveldb verifies
// one per table block), decoding, the header hash against the key and the
// merkle root against the header. A block that fails is reported with
// ErrCorruptData (never as not found, never as a wrong block), logged at
// ERROR once per block, counted (CorruptReads) and listed by CorruptBlocks.
// If connecting a branch reaches such a block, the branch is held back (in
// memory, not marked invalid) and the best usable chain stays active.
// RepairBlock stores a copy fetched from a peer if its transactions match
// the header's merkle root, releases the branch and activates the best
// chain again. Corrupt data on the active chain cannot be disconnected until
// repaired: a reorg across it fails with a storage error.
//
// # Decisions the design leaves open
//
//   - Transactions: transfer = kind 0x01 | chain_id u32 | nonce u64 | to [20]
//     | amount u64 | fee u64 | memo (CompactSize length, <= 80 bytes) |
//     pubkey [33] | sig [64]; coinbase = kind 0x00 | chain_id | height u64 |
//     to | amount | extra_nonce [8] | memo. Fixed-width little-endian
//     integers, CompactSize (minimal) for lengths and counts. The coinbase
//     extra-nonce sits at a fixed offset with fixed bytes around it
//     (Tx.CoinbaseParts gives stratum's coinb1/coinb2).
//   - Signatures: ECDSA over SHA-256d("quarry/tx-sighash/v1\0" | the
//     transaction without its signature), which includes the chain ID and
//     the public key; 64-byte r|s, low-S required (high-S is malleable and
//     rejected with ErrHighS).
//   - Addresses: the first 20 bytes of SHA-256(compressed public key), text
//     form bech32m with the network's prefix (qm, qt, qd, qr) and no witness
//     version.
//   - Coinbase rewards are spendable in the next block (no maturity rule):
//     account-model devnets want mined coins usable at once; transactions
//     that a reorg invalidates return to the mempool or are dropped.
//   - ASERT anchor: block 1, with reference time block1.time - spacing
//     (aserti3-2d's "anchor parent time" convention shifted onto the first
//     mined block), so the schedule starts when a network first mines, not at
//     the genesis date. Block 1 carries Params.InitialBits. Regtest does not
//     retarget. A dev network idle for hours pays back the schedule with a
//     burst of easy blocks until it is on time again; that is ASERT's nature.
//     The exponent division truncates towards zero as the spec requires
//     (see asert.go for the reading and the official vectors it passes).
//   - State digest: sum modulo 2^256 of SHA-256("quarry/account" | address |
//     balance | nonce) over all non-zero accounts, plus the count, hashed:
//     order-independent and updated in O(1) per account change, so two nodes
//     with the same state report the same digest whatever their history.
//   - Fork choice ties: the first seen wins; after a restart the main chain
//     counts as seen first.
//   - Invalid blocks that passed the PoW check are stored with their data
//     so ReconsiderBlock can retry them (storing costs an attacker work).
//   - Unrequested (gossiped) blocks go through ProcessUnrequestedBlock,
//     which stores a block only if its branch has at least the tip's work
//     (ErrLowWork otherwise, never marked), as Bitcoin Core treats
//     unrequested blocks: near the PoW limit blocks are cheap, and a peer
//     must not be able to fill the disk with light side branches. Blocks
//     the node asked for (sync, after headers proved more work), mined
//     itself or got through submitblock use ProcessBlock.
package chain

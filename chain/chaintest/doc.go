// Package chaintest builds blocks for consensus tests of package chain, in
// the style of btcd's fullblocktests.
//
// A Generator keeps a tree of named blocks rooted at the network's genesis
// block ("genesis"). Next(name, parent) builds a block that is valid on its
// named parent: a coinbase at the right height paying Addr(0) the subsidy
// plus fees (with a per-block extra-nonce, so siblings differ), a timestamp
// one target spacing after the parent but always after the parent's median
// time past, the bits the chain requires (computed independently of the
// chain's index, with chain.AsertNextBits anchored at the branch's block 1
// whose reference time is its timestamp minus one spacing; InitialBits for
// block 1; PowLimitBits when the network does not retarget), a merkle root
// over the transaction ids and a solved proof of work. Options break exactly
// one rule at a time: a custom timestamp, bits, version, coinbase
// amount/height/recipient/memo/chain ID, extra transactions, a mutate hook
// applied before the merkle root and the proof of work, KeepMerkle (the
// header commits to the unmutated transactions), NoSolve and HighHash (a
// hash above the target). Clone copies a block keeping its header, for
// bodies that do not match their header (merkle mismatch, CVE-2012-2459
// mutations). Chain builds a run of empty blocks; Path lists the branch up
// to a block (what a fresh node must be fed to reach it).
//
// The generator tracks the expected account state after every named block,
// so Transfer(parent, from, to, amount, fee) signs a transfer with the
// sender's next nonce, counting the transfers already queued for the next
// block on that parent; Next includes the queued transfers in order. The
// state is applied leniently (a transfer that would fail is skipped), so
// descendants of deliberately invalid blocks can still be built.
//
// Keys are deterministic: Key(i) is derived from a fixed seed, so vectors,
// hashes and signatures are identical on every run. Proof of work is found by
// a plain nonce search from zero: regtest needs about two hashes per block;
// the dev network's PoW limit about 65,000, which is fine for a few blocks.
//
// Accept, Reject and Orphan submit a named block to a *chain.Chain and fail
// the test unless the outcome is the expected one (errors are matched with
// errors.Is against a chain.ErrorKind).
//
// A Generator is not safe for concurrent use; Clock is.
package chaintest

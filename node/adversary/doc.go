// Package adversary holds the dishonest mining strategies a lab node can
// run (quarryd --adversary). Each strategy is a pure state machine: it is
// told what happened (this node found a block, the public chain grew by a
// block found by someone else) and answers what to do (publish these
// private blocks now, keep them, abandon the private branch). It performs
// no I/O and reads no clock, so it is tested event by event without
// sockets; package node drives it and does the publishing, and hides the
// private blocks from gossip and from the sync protocol until they are
// published.
//
// # Strategies
//
// Selfish is the selfish-mining strategy of I. Eyal and E. G. Sirer,
// "Majority is not Enough: Bitcoin Mining is Vulnerable", Financial
// Cryptography 2014 (arXiv:1311.0243), Algorithm 1, with the states of the
// paper's Figure 1: 0 (no private branch), 0' (two published branches of
// length one race), 1, 2 and n > 2 (the private branch leads by that many
// blocks).
//
// Withhold is the double-spend attacker of S. Nakamoto, "Bitcoin: A
// Peer-to-Peer Electronic Cash System", 2008, section 11: it mines a
// private branch from the tip where it started and releases the whole
// branch once the branch is at least Depth blocks long and longer than the
// public chain since the fork (so the release reorganises every honest
// node); it abandons the branch when the public chain leads by GiveUp
// blocks. NewWithholdSpend is the same attacker racing only to reverse a
// payment: it mines honestly until Fork (the node calls it when its wallet
// pays someone, and mines the conflicting spend into the private branch),
// races (never releasing before Carry says the branch holds the
// conflict), and mines honestly again after the release or the give-up.
//
// Equivocate is not a state machine over chains but a rule for one height:
// keep the first block found, mine a second one (its twin) on the same
// parent, then announce both, each to one half of the peers; see
// Equivocator.
//
// The hostile-peer modes (stall, lie-work, junk) have no state machine:
// the node mines honestly and misbehaves towards its peers only (see
// Mode).
//
// # Concurrency
//
// The strategies are not safe for concurrent use; the node serialises the
// events it feeds them.
package adversary

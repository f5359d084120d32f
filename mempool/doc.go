// Package mempool holds Quarry's unconfirmed transactions: it admits
// transactions that are valid against the chain tip plus the pool's own
// pending transactions, orders them for block templates, bounds its size, and
// follows the chain through new blocks and reorganisations.
//
// # Pipeline
//
// Add(tx) runs the cheap, stateless checks first, without the pool's lock:
// coinbase (ErrCoinbase), tx.CheckSanity (chain ID, memo length, zero
// amount, overflow, self-transfer), size, minimum fee rate (ErrFeeTooLow),
// duplicate id (ErrDuplicate), then the secp256k1 signature
// (tx.VerifySignature, the expensive step, so concurrent Adds verify in
// parallel). Under the lock it reads the sender's account from the
// StateReader, first revalidates the sender's pending transactions against
// it (so the pool never acts on a stale view of that sender), and applies
// the stateful rules: nonce (ErrNonceTooLow, ErrNonceGap), replacement
// (ErrReplacementUnderpriced), per-sender limit (ErrSenderLimit), balance
// covering all of the sender's pending spends (ErrInsufficientFunds), and
// pool limits (ErrPoolFull). Then it inserts, trims to the limits and
// notifies subscribers.
//
// # Error model
//
// Every rejection is a *RuleError with an ErrorKind (errors.Is(err,
// mempool.ErrNonceGap)) and a description a user can act on ("nonce 7 of
// qr1... is too far ahead: the next nonce is 3 ..."). Consensus failures
// have kind ErrInvalid and wrap the chain's *chain.RuleError, so
// errors.Is(err, chain.ErrBadSignature) works too. ErrInvalid is the only
// kind that proves a transaction can never be valid: p2p may penalise the
// peer that relayed it; every other kind is policy or depends on state (p2p
// should ignore, not punish). ErrorKind.Reason and RejectReason give the
// Bitcoin Core style reject reason that RPC puts into sendrawtransaction
// errors ("txn-already-in-mempool", "min relay fee not met", "insufficient
// fee", "mempool full", "too-long-mempool-chain", "bad-txns-..."). The kinds
// are the bounded label set of quarry_mempool_rejected_total.
//
// Formatting follows one rule in every package of the module (chain,
// mempool, miner, p2p, node/wallet): Error() returns the Description, then
// ": " and the cause's text when the error wraps a cause (Err); a
// Description says what failed and never repeats the cause, so a message
// names each cause once. Descriptions start with the kind ("nonce-gap:
// ..."), except ErrInvalid's, which is "invalid transaction" followed by the
// chain rule error.
//
// # Nonces: ready and queued
//
// Per sender the pool keeps transactions sorted by nonce. The ready ones
// form the contiguous sequence starting at the account's next nonce: only
// they are selectable for blocks. Decision: gaps are allowed but bounded. A
// transaction whose nonce lies in [next, next+MaxNonceGap] (next = the nonce
// after the ready sequence) is accepted; if it is beyond next it is held as
// queued until the missing nonces arrive. Gossip does not preserve the order
// of one sender's transactions, so a strictly contiguous pool would drop
// transactions that merely arrived early. MaxNonceGap defaults to 16;
// DisableNonceGap makes the pool strictly contiguous. Queued transactions
// count towards the sender's limit and balance, and are the first to be
// evicted.
//
// The balance rule is cumulative: the sum of amount+fee of all of a
// sender's pending transactions (ready and queued) must not exceed the
// account balance. Incoming pending payments are not credited: a
// transaction may only spend what the chain already gave the sender.
//
// PendingNonce(addr) returns the nonce a wallet should use next: the end of
// the ready sequence (filling a gap first).
//
// # Replacement
//
// A transaction with the same sender and nonce as a pending one replaces it
// only if its fee is at least the old fee plus the larger of
// ReplaceBumpPercent (10%) of the old fee and ReplaceBumpRate (1 unit) per
// byte of the new transaction, and its fee rate is not lower. The
// replacement may change recipient and amount (that is how a user cancels a
// payment) but must still be funded together with the sender's other pending
// transactions. Otherwise the conflict is ErrReplacementUnderpriced.
//
// # Limits and eviction
//
// MaxCount (50,000) and MaxBytes (32 MiB) bound the pool, MaxPerSender (64)
// each sender. When the pool is over a limit it evicts, one at a time, the
// "cheapest evictable" transaction: only a sender's highest-nonce
// transaction is evictable (evicting an earlier one would strand its
// successors); among those, queued before ready, then the lowest fee rate,
// then the newest. A heap keyed that way makes each eviction O(log senders).
// A newcomer that would not beat the cheapest evictable ready transaction is
// refused with ErrPoolFull instead of churning the pool; if the newcomer
// itself ends up the victim the same error is returned. Info().MinAcceptRate
// reports the rate a newcomer must beat (getmempoolinfo's mempoolminfee).
//
// Fee rates are compared exactly (fee/size as 128-bit cross products);
// floats appear only in reports.
//
// Expiry: a transaction pending for Expiry (24h) or longer is removed;
// Expire(now) does it, and Add and HandleEvent(EventNewTip) call it, so the
// pool needs no goroutine of its own. Entries expire oldest first from an
// arrival-ordered list (O(expired)). A later transaction of the same sender
// stays, queued behind the gap, and expires in turn.
//
// # Following the chain
//
// The pool starts no goroutines; node reads a chain.Subscription and calls
// HandleEvent for each event, in order, before telling the miner about the
// new tip. The chain emits, per change, EventBlockDisconnected (old tip
// first), EventBlockConnected (lowest first), EventReorg (if anything was
// disconnected) and one EventNewTip. HandleEvent applies a connected block
// that simply extends the chain at once: its transactions leave the pool
// (ReasonIncluded) and its senders are revalidated against the new state
// (recipients only gain, so nobody else can become invalid). Disconnected
// blocks, and the connected blocks after them, are buffered until
// EventNewTip and then applied together:
//
//  1. transactions included in the new branch leave the pool;
//  2. transfers of the disconnected blocks that the new branch does not
//     contain are put back, oldest block first, at most MaxReorgReadd
//     (20,000), without re-verifying signatures (the chain verified them
//     when it connected those blocks); a re-added transaction competing
//     with a pending one for the same nonce keeps the higher fee rate;
//  3. every account either branch touched is revalidated against the new
//     tip's state: senders on both sides and the recipients of the
//     disconnected blocks (they lose what those blocks paid them); the
//     recipients of connected blocks only gain and cannot become invalid.
//     The work is bounded by the reorg's size, not the pool's.
//
// Step 3 resolves a double spend across a partition: if the two branches
// spent the same sender nonce to different recipients, the heavier branch's
// transaction is in the new state, so the losing one (re-added in step 2)
// fails the nonce check and is dropped (ReasonConflict); transactions that
// depended on funds the losing branch paid are dropped as ReasonUnfunded.
// Exactly one of the two spends survives, in the chain.
//
// Lost events (a subscriber buffer overflowing) are detected by a gap in
// the events' Seq numbers or by a block that does not continue from the
// previous event's block; the pool then revalidates every sender at the
// next EventNewTip (transactions of a missed disconnected block are not put
// back). HandleEvent is the pool's only entry point for chain changes: the
// direct forms the tests use (blockConnected, resync) are unexported, so
// they cannot be mixed with it by accident.
//
// # Block templates
//
// SelectForBlock(maxBytes) picks ready transactions by highest fee rate
// with a max-heap of per-sender cursors: each sender contributes its next
// ready transaction, so a transaction is only taken after its predecessors;
// when one does not fit, the rest of that sender's sequence is skipped and
// smaller transactions of others may still fill the block. O(n log s).
// Decision: no child-pays-for-parent packages; a user whose transaction is
// stuck behind a cheap predecessor replaces the predecessor instead.
// Selection is guarded against a pool that lags the chain: if the
// StateReader's tip differs from the tip the pool last processed (Tip), each
// selected sender is re-checked against the current account state, so a
// template never contains a transaction the chain would reject for nonce or
// balance.
//
// # Notifications and metrics
//
// Subscribe delivers EventAdded/EventRemoved (with a RemoveReason: included,
// replaced, evicted, expired, conflict, unfunded, gapped) on a buffered
// channel, in order; a full buffer drops the event and counts it
// (Subscription.Dropped, quarry_mempool_notifications_dropped_total), never
// blocking the pool. Metrics (registered on Config.Registerer when not nil):
// quarry_mempool_transactions, quarry_mempool_size_bytes,
// quarry_mempool_senders, quarry_mempool_accepted_total,
// quarry_mempool_rejected_total{reason=<ErrorKind>},
// quarry_mempool_removed_total{reason=<RemoveReason>} (evictions,
// replacements, expiries, ...), quarry_mempool_reorg_readded_total,
// quarry_mempool_reorgs_total, quarry_mempool_notifications_dropped_total,
// quarry_mempool_select_duration_seconds.
//
// # Concurrency
//
// A Pool is safe for concurrent use. One mutex guards all state; signature
// verification runs outside it. The StateReader is called under the mutex,
// so it must never call back into the pool (chain.Chain does not). Entries
// and transactions handed out are shared and must not be modified.
package mempool

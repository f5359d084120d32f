package node

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/adversary"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The double spend of the whitepaper's section 11, made real by a node
// running --adversary withhold --withhold-spend. The node mines honestly
// until its wallet pays someone (RPC sendtoaddress). At that moment it
// forks: the race starts from its tip, the payment is announced publicly
// (mempool and gossip, so the merchant sees it confirm on the honest
// chain), and every template it mines from then on carries instead a
// conflicting transfer, the same sender and nonce paying a fresh address
// of its own wallet, and nothing else from the sender. The public chain's
// blocks are counted and kept but not connected while the race is on.
// When the strategy releases the branch (depth reached and longer than
// the public chain since the fork, and never before the branch carries
// the conflict: a block found on a template from before the payment does
// not count towards the release), every honest node reorganises onto
// it: the conflict is in their main chain, the payment's nonce is spent,
// so their mempools refuse the payment. When the public chain leads by the
// give-up distance, the branch is abandoned and the kept public blocks are
// connected at once, so the node mines on the public tip again.
//
// getadversaryinfo reports each race: the payment and conflict txids, the
// outcome, and how many confirmations the payment had on the public chain
// when the race ended (what the merchant had seen).

// The outcomes of a double spend.
const (
	// SpendPending: the race is on.
	SpendPending = "pending"
	// SpendReversed: the private branch, carrying the conflict, was
	// released longer than the public chain since the fork.
	SpendReversed = "reversed"
	// SpendAbandoned: the public chain led by the give-up distance; the
	// payment stands.
	SpendAbandoned = "abandoned"
	// SpendFailed: no conflict could be mined (see SpendRecord.Err).
	SpendFailed = "failed"
)

// SpendRecord is one double spend as getadversaryinfo reports it.
type SpendRecord struct {
	Payment, Conflict chain.Hash
	Outcome           string
	// ForkHeight and ForkHash are the tip the race started from.
	ForkHeight uint64
	ForkHash   chain.Hash
	// PaymentHeight is the height of the public block that confirmed the
	// payment (0: none seen yet); Confirmations the payment's
	// confirmations on the public chain when the race ended (or now, while
	// pending).
	PaymentHeight uint64
	Confirmations int
	// Private and Public are the branch lengths since the fork when the
	// race ended (or now).
	Private, Public int
	Err             string
}

// spendRace is the state of one double spend. Its fields are guarded by
// the driver's mutex.
type spendRace struct {
	rec        SpendRecord
	sender     chain.Address
	conflictTx *chain.Tx
	paid       bool // the payment reached the mempool
}

// withholdRaces is the withhold driver's race state: the public blocks
// kept while racing and the double spends. Guarded by the driver's mutex.
type withholdRaces struct {
	spend bool // --withhold-spend: wallet payments are double-spent
	// kept are the public chain's blocks ignored during the race, by
	// hash, connected if the race is abandoned.
	kept  map[chain.Hash]keptBlock
	adopt []keptBlock // kept blocks to connect, after an abandoned race
	// arming is set while sendtoaddress makes the payment of a new race.
	arming  bool
	cur     *spendRace // the latest race, nil before the first
	history []SpendRecord
}

type keptBlock struct {
	b      *chain.Block
	height uint64
}

// keptMax bounds the public blocks kept during one race: a race ends when
// the public chain leads by adversary.DefaultGiveUp, so only a very deep
// --withhold-depth reaches it (the rest are then fetched again by sync).
const keptMax = 256

// spendHistoryMax bounds the double spends getadversaryinfo lists.
const spendHistoryMax = 64

// errSpendBusy is returned by sendtoaddress on a double-spending node
// while a race is on.
var errSpendBusy = errors.New("a double spend is already racing: wait for its release or give-up (getadversaryinfo)")

// spending reports whether wallet payments are double-spent (set once at
// construction).
func (d *adversaryDriver) spending() bool { return d.wr.spend }

// doubleSpend starts a race at the current tip, makes the payment with
// send (which reaches the mempool through paymentSubmitted) and builds
// the conflicting transfer with conflict. It returns the payment; when
// the payment was made but no conflict can be mined, the race is recorded
// as failed and the payment is still returned (it stands). The caller
// rebuilds the miner's template afterwards.
func (d *adversaryDriver) doubleSpend(send func() (*chain.Tx, error), conflict func(pay *chain.Tx) (*chain.Tx, error)) (*chain.Tx, error) {
	d.mu.Lock()
	if d.wr.arming || !d.withhold.Fork() {
		d.mu.Unlock()
		return nil, errSpendBusy
	}
	tip := d.c.Best()
	r := &spendRace{rec: SpendRecord{Outcome: SpendPending, ForkHeight: tip.Height, ForkHash: tip.Hash}}
	d.wr.cur, d.wr.arming = r, true
	d.mu.Unlock()

	pay, err := send()
	var ctx *chain.Tx
	var cerr error
	if err == nil {
		if n := d.c.Account(pay.From()).Nonce; pay.Nonce != n {
			cerr = fmt.Errorf("the payment has nonce %d but the sender's next confirmed nonce is %d: its earlier transactions are unconfirmed", pay.Nonce, n)
		} else {
			ctx, cerr = conflict(pay)
		}
	}

	d.mu.Lock()
	d.wr.arming = false
	if err != nil {
		// Nothing was paid: there is nothing to reverse.
		d.wr.cur = nil
		d.raceStep(d.withhold.Abandon())
		d.mu.Unlock()
		d.adoptPublic()
		return nil, err
	}
	r.rec.Payment, r.sender, r.paid = pay.TxID(), pay.From(), true
	if cerr == nil && !d.withhold.Private() {
		cerr = errors.New("the race ended before the payment was made")
	}
	if cerr != nil {
		r.rec.Err = cerr.Error()
		d.note("cannot double-spend payment %s: %v", r.rec.Payment, cerr)
		act := d.withhold.Abandon()
		r.rec.Outcome = SpendFailed
		d.raceStep(act)
		d.mu.Unlock()
		d.adoptPublic()
		return pay, nil
	}
	r.conflictTx, r.rec.Conflict = ctx, ctx.TxID()
	d.note("double-spending: payment %s announced, conflict %s mined privately from height %d", r.rec.Payment, r.rec.Conflict, tip.Height)
	d.mu.Unlock()
	return pay, nil
}

// paymentSubmitted is called with every transaction this node submits,
// before it enters the mempool: during sendtoaddress of a double spend it
// is the payment, which the private branch's templates must never carry.
func (d *adversaryDriver) paymentSubmitted(tx *chain.Tx) {
	if d.withhold == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r := d.wr.cur; d.wr.arming && r != nil && !r.paid {
		r.sender, r.rec.Payment, r.paid = tx.From(), tx.TxID(), true
	}
}

// templateTxs adjusts the mempool's selection for a template during a
// double spend: the sender's transactions (the payment among them) are
// left out, and the conflict leads until the private branch carries it.
func (d *adversaryDriver) templateTxs(txs []*chain.Tx) []*chain.Tx {
	if d.withhold == nil {
		return txs
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r := d.wr.cur
	if r == nil || r.rec.Outcome != SpendPending || !r.paid {
		return txs
	}
	out := make([]*chain.Tx, 0, len(txs)+1)
	if r.conflictTx != nil && d.c.Account(r.sender).Nonce == r.conflictTx.Nonce {
		out = append(out, r.conflictTx)
	}
	for _, tx := range txs {
		if tx.From() != r.sender {
			out = append(out, tx)
		}
	}
	return out
}

// ownRaceBlock tells the strategy, before it hears of b, that the private
// branch carries the conflict if b does: the branch may be released from
// then on. d.mu is held.
func (d *adversaryDriver) ownRaceBlock(b *chain.Block) {
	r := d.wr.cur
	if d.withhold == nil || r == nil || r.conflictTx == nil || r.rec.Outcome != SpendPending {
		return
	}
	if slices.Contains(b.TxIDs(), r.rec.Conflict) {
		d.withhold.Carry()
	}
}

// keepIgnored records a public block ignored during a race: it is kept
// for the case the race is abandoned, and it may confirm the payment.
// d.mu is held.
func (d *adversaryDriver) keepIgnored(b *chain.Block, height uint64) {
	if len(d.wr.kept) < keptMax {
		if d.wr.kept == nil {
			d.wr.kept = map[chain.Hash]keptBlock{}
		}
		d.wr.kept[b.Hash()] = keptBlock{b: b, height: height}
	}
	r := d.wr.cur
	if r == nil || r.rec.Outcome != SpendPending || !r.paid || r.rec.PaymentHeight != 0 {
		return
	}
	if slices.Contains(b.TxIDs(), r.rec.Payment) {
		r.rec.PaymentHeight = height
		d.note("payment %s confirmed on the public chain at height %d", r.rec.Payment, height)
	}
}

// raceStep follows the strategy's answer act: when it ended the race, the
// double spend (if any) gets its outcome, and the kept public blocks are
// dropped (release) or queued for adoptPublic (abandon). It runs right
// after each strategy event, before release. d.mu is held.
func (d *adversaryDriver) raceStep(act adversary.Action) {
	if d.withhold == nil {
		return
	}
	if r := d.wr.cur; r != nil && r.rec.Outcome == SpendPending && r.paid {
		// The strategy forgets the lengths when a race ends: keep the
		// last ones, completed by what ended it.
		switch {
		case d.withhold.Private():
			r.rec.Private, r.rec.Public = d.withhold.Lead()
		case len(act.Publish) > 0:
			r.rec.Private = len(act.Publish)
		case d.pubHeight > r.rec.ForkHeight:
			r.rec.Public = int(d.pubHeight - r.rec.ForkHeight)
		}
		r.rec.Confirmations = d.confirmations(r)
	}
	if d.withhold.Private() || d.wr.arming {
		return
	}
	if r := d.wr.cur; r != nil && r.rec.Outcome == SpendPending && r.paid {
		switch {
		case len(act.Publish) > 0 && r.conflictTx != nil && d.c.Account(r.sender).Nonce > r.conflictTx.Nonce:
			r.rec.Outcome = SpendReversed
			d.note("double spend reversed: released %d blocks carrying conflict %s over %d public blocks; payment %s had %d confirmation(s)",
				r.rec.Private, r.rec.Conflict, r.rec.Public, r.rec.Payment, r.rec.Confirmations)
		case len(act.Publish) > 0:
			r.rec.Outcome, r.rec.Err = SpendFailed, "the branch was released before it carried the conflict"
		default:
			r.rec.Outcome = SpendAbandoned
			d.note("double spend abandoned: the public chain led by %d blocks; payment %s stands with %d confirmation(s)",
				r.rec.Public-r.rec.Private, r.rec.Payment, r.rec.Confirmations)
		}
	}
	if r := d.wr.cur; r != nil && r.rec.Outcome != SpendPending {
		d.wr.history = append(d.wr.history, r.rec)
		if len(d.wr.history) > spendHistoryMax {
			d.wr.history = d.wr.history[len(d.wr.history)-spendHistoryMax:]
		}
		d.wr.cur = nil
	}
	if act.Adopt {
		for _, k := range d.wr.kept {
			d.wr.adopt = append(d.wr.adopt, k)
		}
	}
	clear(d.wr.kept)
}

// confirmations returns the payment's confirmations on the public chain
// as this node counted it. d.mu is held.
func (d *adversaryDriver) confirmations(r *spendRace) int {
	if r.rec.PaymentHeight == 0 || d.pubHeight < r.rec.PaymentHeight {
		return 0
	}
	return int(d.pubHeight - r.rec.PaymentHeight + 1)
}

// adoptPublic connects the public blocks kept during an abandoned race,
// parents first, so the node mines on the public tip at once instead of
// waiting for sync to fetch them again. Call it without d.mu.
func (d *adversaryDriver) adoptPublic() {
	if d.withhold == nil {
		return
	}
	d.mu.Lock()
	blocks := d.wr.adopt
	d.wr.adopt = nil
	d.mu.Unlock()
	slices.SortFunc(blocks, func(a, b keptBlock) int { return cmp.Compare(a.height, b.height) })
	for _, k := range blocks {
		if _, err := d.c.ProcessBlock(k.b); err != nil {
			d.log.Debug("connecting a kept public block", "hash", k.b.Hash(), "err", err)
		}
	}
}

// spendRecords returns the finished double spends, oldest first, and the
// pending one last. d.mu is held.
func (d *adversaryDriver) spendRecords() []SpendRecord {
	out := append([]SpendRecord(nil), d.wr.history...)
	if r := d.wr.cur; r != nil && r.paid && r.rec.Outcome == SpendPending {
		rec := r.rec
		rec.Private, rec.Public = d.withhold.Lead()
		rec.Confirmations = d.confirmations(r)
		out = append(out, rec)
	}
	return out
}

// conflictFor builds the transfer that double-spends pay: the same
// sender and nonce, amount and fee, paying a fresh address of the wallet.
func conflictFor(p *chain.Params, w *wallet.Wallet, pay *chain.Tx) (*chain.Tx, error) {
	k, err := w.PrivateKey(pay.From())
	if err != nil {
		return nil, err
	}
	to, err := w.NewAddress()
	if err != nil {
		return nil, err
	}
	return wallet.BuildTransfer(p, k.Private, wallet.Payment{To: to, Amount: pay.Amount, Fee: pay.Fee}, pay.Nonce)
}

func spendJSON(s SpendRecord) rpcjson.DoubleSpend {
	out := rpcjson.DoubleSpend{Payment: s.Payment.String(), Outcome: s.Outcome, Error: s.Err,
		ForkHeight: s.ForkHeight, ForkHash: s.ForkHash.String(), PaymentHeight: s.PaymentHeight,
		Confirmations: s.Confirmations, Private: s.Private, Public: s.Public}
	if !s.Conflict.IsZero() {
		out.Conflict = s.Conflict.String()
	}
	return out
}

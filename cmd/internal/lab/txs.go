package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/wallet"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// defaultFee is the fee of lab transfers in base units: well above the
// default minimum relay fee (1 unit per byte) of a ~190-byte transfer.
const defaultFee = 10_000

// Transfer describes one signed transfer the lab builds.
type Transfer struct {
	From   int    // node whose miner key signs
	To     string // recipient address
	Amount uint64
	Fee    uint64
	// Nonce, when set, overrides the sender's pending nonce.
	Nonce *uint64
	// Via is the node whose RPC receives the transaction.
	Via int
}

// signTransfer builds and signs t; the nonce defaults to the sender's
// pending nonce as node t.Via sees it.
func (l *Lab) signTransfer(ctx context.Context, t Transfer) (*chain.Tx, error) {
	from, err := l.Node(t.From)
	if err != nil {
		return nil, err
	}
	key, err := wallet.LoadKeyFile(from.KeyFile, l.params)
	if err != nil {
		return nil, err
	}
	to, err := chain.DecodeAddress(t.To, l.params)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	var nonce uint64
	if t.Nonce != nil {
		nonce = *t.Nonce
	} else {
		acct, err := l.Account(ctx, t.Via, from.Address)
		if err != nil {
			return nil, err
		}
		nonce = acct.Pending.Nonce
	}
	fee := t.Fee
	if fee == 0 {
		fee = defaultFee
	}
	return wallet.BuildTransfer(l.params, key.Private, wallet.Payment{To: to, Amount: t.Amount, Fee: fee}, nonce)
}

// Send signs t and submits it with sendrawtransaction on node t.Via.
func (l *Lab) Send(ctx context.Context, t Transfer) (*chain.Tx, error) {
	tx, err := l.signTransfer(ctx, t)
	if err != nil {
		return nil, err
	}
	c, err := l.Client(t.Via)
	if err != nil {
		return nil, err
	}
	if _, err := c.SendRawTransaction(ctx, tx); err != nil {
		return nil, fmt.Errorf("node%d sendrawtransaction: %w", t.Via, err)
	}
	return tx, nil
}

// DoubleSpendOptions configure DoubleSpend.
type DoubleSpendOptions struct {
	// A and B are the nodes that receive one spend each (normally on
	// opposite sides of a partition).
	A, B int
	// Sender is the node whose key spends (default: A).
	Sender *int
	// Amount of each spend in base units (default 1 coin; the second pays
	// twice as much so the two are easy to tell apart).
	Amount uint64
}

// DoubleSpend signs two transfers with the same sender nonce to the lab's
// two sink addresses and submits the first on node A, the second on node
// B. The record lands in the state file for the report.
func (l *Lab) DoubleSpend(ctx context.Context, o DoubleSpendOptions) (*DoubleSpendRecord, error) {
	sender := o.A
	if o.Sender != nil {
		sender = *o.Sender
	}
	from, err := l.Node(sender)
	if err != nil {
		return nil, err
	}
	if _, err := l.Node(o.B); err != nil {
		return nil, err
	}
	amount := o.Amount
	if amount == 0 {
		amount = chain.Coin
	}
	// The nonce both sides expect next: the confirmed one on A. (A nonce
	// already pending on one side would make that side's spend a replacement.)
	acct, err := l.Account(ctx, o.A, from.Address)
	if err != nil {
		return nil, err
	}
	nonce := acct.Nonce
	if need := rpcjson.AmountFromUnits(2*amount + defaultFee); acct.Balance < need {
		return nil, fmt.Errorf("sender node%d (%s) has %s coins on node%d; it needs %s: mine first",
			sender, from.Address, acct.Balance, o.A, need)
	}
	rec := &DoubleSpendRecord{Sender: sender, Nonce: nonce, Nodes: [2]int{o.A, o.B}, At: time.Now().UTC()}
	for k, via := range []int{o.A, o.B} {
		amt := amount * uint64(k+1)
		tx, err := l.Send(ctx, Transfer{From: sender, To: l.State.Sinks[k], Amount: amt, Nonce: &nonce, Via: via})
		if err != nil {
			return nil, err
		}
		rec.TxIDs[k], rec.To[k], rec.Amounts[k] = tx.TxID().String(), l.State.Sinks[k], amt
	}
	l.State.DoubleSpend = rec
	return rec, l.Save()
}

// relayWait is how long WaitTx lets gossip deliver a transaction before
// it hands the transaction to the node itself.
const relayWait = 2 * time.Second

// WaitTx waits until node i knows transaction id (in its mempool or
// chain), which node from has. Gossip does not resend a message that a
// fresh mesh lost, and the sending node republishes its own transactions
// only after minutes (gossipsub suppresses a repeat of a message ID for
// two to three minutes), too late for an experiment's timeline, so after
// relayWait the raw transaction is read from node from and submitted to
// node i (sendrawtransaction), as a wallet would.
func (l *Lab) WaitTx(ctx context.Context, from, i int, id chain.Hash) error {
	known := func() (bool, error) {
		_, err := call[rpcjson.TxVerbose](ctx, l, i, "getrawtransaction", id, true)
		return err == nil, nil
	}
	wctx, cancel := context.WithTimeout(ctx, relayWait)
	err := Poll(wctx, 20*time.Millisecond, known)
	cancel()
	if err == nil || ctx.Err() != nil {
		return err
	}
	raw, err := call[string](ctx, l, from, "getrawtransaction", id, false)
	if err != nil {
		return fmt.Errorf("node%d has no transaction %s to relay: %w", from, id, err)
	}
	if _, err := call[chain.Hash](ctx, l, i, "sendrawtransaction", raw); err != nil {
		if ok, _ := known(); !ok {
			return fmt.Errorf("node%d refused transaction %s: %w", i, id, err)
		}
	}
	return Poll(ctx, 20*time.Millisecond, known)
}

// FundWallet moves amount from node i's miner key (the lab holds it) to a
// new address of node i's wallet, sending through node via, and returns
// that address once node i counts the amount there as confirmed (a block
// is generated when no node mines). quarryd's wallet does not hold the
// --miner-address key, so a node's wallet payments need this first.
func (l *Lab) FundWallet(ctx context.Context, i int, amount uint64, via int) (string, error) {
	wa, err := call[string](ctx, l, i, "getnewaddress")
	if err != nil {
		return "", err
	}
	if _, err := l.Send(ctx, Transfer{From: i, To: wa, Amount: amount, Via: via}); err != nil {
		return "", err
	}
	mining := false
	for _, n := range l.State.Nodes {
		mining = mining || n.Hashrate > 0
	}
	if !mining {
		if _, err := l.Generate(ctx, i, 1); err != nil {
			return "", err
		}
	}
	return wa, Poll(ctx, 50*time.Millisecond, func() (bool, error) {
		a, err := l.Account(ctx, i, wa)
		return err == nil && a.Balance >= rpcjson.AmountFromUnits(amount), err
	})
}

package lab

import (
	"context"
	"fmt"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The scenario's pay step and payment-reversed check: a node's wallet
// pays another node (RPC sendtoaddress). On a double-spending withhold
// node (role withhold:DEPTH:spend) the payment starts the race; the
// check then says whether the released branch reversed it on every honest
// node.

// payRecord is the latest pay step.
type payRecord struct {
	from int
	txid chain.Hash
}

// pay runs a pay step: node st.From's wallet pays st.Amount coins to node
// st.To's miner address. A wallet without the coins is first funded from
// the node's miner key (quarryd's wallet does not hold it) with twice the
// amount and a coin for fees, confirmed by a generated block when the lab
// does not mine. It waits until every other node has the payment.
func (r *scenarioRun) pay(ctx context.Context, st ScenarioStep) (string, error) {
	l := r.lab
	amt, err := parseCoins(st.Amount)
	if err != nil {
		return "", err
	}
	if _, err := l.Node(st.From); err != nil {
		return "", err
	}
	if _, err := l.Node(st.To); err != nil {
		return "", err
	}
	if r.wallets == nil {
		r.wallets = map[int]string{}
	}
	if _, ok := r.wallets[st.From]; !ok {
		wa, err := r.lab.FundWallet(ctx, st.From, 2*amt+chain.Coin, st.From)
		if err != nil {
			return "", fmt.Errorf("funding node%d's wallet: %w", st.From, err)
		}
		r.wallets[st.From] = wa
	}
	txid, err := call[chain.Hash](ctx, l, st.From, "sendtoaddress", l.State.Nodes[st.To].Address, FormatCoins(amt))
	if err != nil {
		return "", err
	}
	for i := 0; i < l.N(); i++ {
		if i == st.From || !l.Running(i) {
			continue
		}
		if err := l.WaitTx(ctx, st.From, i, txid); err != nil {
			return "", fmt.Errorf("payment %s never reached node%d: %w", txid, i, err)
		}
	}
	r.paid = &payRecord{from: st.From, txid: txid}
	msg := fmt.Sprintf("%s node%d wallet -> node%d %s coins", txid, st.From, st.To, FormatCoins(amt))
	if info, err := l.AdversaryInfo(ctx, st.From); err == nil {
		if d, ok := doubleSpendOf(info, txid.String()); ok {
			msg += fmt.Sprintf("; double spend %s: conflict %s mined in private from height %d", d.Outcome, d.Conflict, d.ForkHeight)
		}
	}
	return msg, nil
}

// paymentReversed checks that the latest pay step's payment was reversed:
// every honest node has the paying node's conflicting spend in its main
// chain and the payment neither there nor in its mempool.
func (r *scenarioRun) paymentReversed(ctx context.Context) (string, error) {
	l := r.lab
	if r.paid == nil {
		return "", fmt.Errorf("%w: payment-reversed: no pay step ran", ErrAssertion)
	}
	info, err := l.AdversaryInfo(ctx, r.paid.from)
	if err != nil {
		return "", err
	}
	ds, ok := doubleSpendOf(info, r.paid.txid.String())
	if !ok || ds.Conflict == "" {
		return "", fmt.Errorf("%w: node%d did not double-spend payment %s (is it withhold:DEPTH:spend?)", ErrAssertion, r.paid.from, r.paid.txid)
	}
	conflict, err := chain.ParseHash(ds.Conflict)
	if err != nil {
		return "", err
	}
	honest := 0
	for i, n := range l.State.Nodes {
		if n.Role.Adversary != "" || !l.Running(i) {
			continue
		}
		honest++
		cs, err := l.TxStatus(ctx, i, conflict)
		if err != nil {
			return "", err
		}
		ps, err := l.TxStatus(ctx, i, r.paid.txid)
		if err != nil {
			return "", err
		}
		if cs.Block == nil || ps.Block != nil || ps.InMempool {
			return "", fmt.Errorf("%w: node%d: conflict %s in a block %v, payment %s in a block %v, in the mempool %v (outcome %s)",
				ErrAssertion, i, conflict, cs.Block != nil, r.paid.txid, ps.Block != nil, ps.InMempool, ds.Outcome)
		}
	}
	return fmt.Sprintf("payment %s reversed on %d honest nodes: conflict %s in their main chains (outcome %s, %d confirmation(s) before)",
		r.paid.txid, honest, conflict, ds.Outcome, ds.Confirmations), nil
}

// doubleSpendOf returns the double spend an adversary reports for the
// payment txid.
func doubleSpendOf(info rpcjson.AdversaryInfo, txid string) (rpcjson.DoubleSpend, bool) {
	for _, d := range info.DoubleSpends {
		if d.Payment == txid {
			return d, true
		}
	}
	return rpcjson.DoubleSpend{}, false
}

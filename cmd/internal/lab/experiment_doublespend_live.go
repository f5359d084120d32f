package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/adversary"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The live double-spend experiment (devnet experiment double-spend
// --live) runs the whitepaper's section 11 attack on real nodes: for each
// z, a fresh dev-derived lab with a fast block interval (--block-time),
// node 0 running --adversary withhold --withhold-depth z+1 --withhold-spend
// with the share q of the hash rate, and honest nodes sharing the rest;
// node 1 is the merchant. Each trial:
//
//  1. waits until the attacker and the merchant are on one tip;
//  2. pays the merchant from the attacker's wallet (sendtoaddress): the
//     attacker forks there, announces the payment and mines the
//     conflicting spend in private;
//  3. once the payment is in every honest mempool, has the honest miners
//     rebuild their templates (setgenerate), so the next honest block
//     carries it, as the whitepaper's race assumes (a miner otherwise
//     refreshes its template only every few seconds, longer than a block);
//  4. waits for the race's outcome in the attacker's getadversaryinfo
//     (reversed or abandoned) and, for a release, until the merchant's
//     main chain holds the conflict.
//
// A trial succeeds when the merchant's chain ends with the conflict and
// the payment had at least z confirmations on the public chain when the
// branch was released (the merchant had shipped). The attacker then mines
// honestly until the next payment, so every trial starts afresh. The rate
// stands beside the whitepaper's P(q, z) and beside the node's rule
// computed by the seeded race of the simulation (release at z+1 blocks
// and strictly longer, give up GiveUp behind), which it must cover: the
// node's rule is stricter than the whitepaper's catch-up (a tie does not
// reorganise anybody), so P(q, z) is an upper bound, not the target.

// DoubleSpendLiveOptions configure ExperimentDoubleSpendLive.
type DoubleSpendLiveOptions struct {
	Q      float64
	Zs     []int
	Trials int
	// Honest is the number of honest nodes (default 2).
	Honest int
	// BlockTime is the lab's block interval (default 1 s); GiveUp the
	// attacker's --withhold-give-up (default 5).
	BlockTime time.Duration
	GiveUp    int
	// Timeout bounds each z's lab.
	Timeout time.Duration
	// Seed seeds the node-rule reference race.
	Seed int64
}

// DoubleSpendLivePoint is the result of one (q, z).
type DoubleSpendLivePoint struct {
	Q         float64 `json:"q"`
	Z         int     `json:"z"`
	Trials    int     `json:"trials"`
	Successes int     `json:"successes"`
	Lo        float64 `json:"ci_lo"`
	Hi        float64 `json:"ci_hi"`
	// Reversed counts releases that ended with the conflict in the
	// merchant's chain (successes plus those released before z
	// confirmations); Abandoned the races the public chain won; Failed
	// the trials with no outcome (see Errors).
	Reversed  int `json:"reversed"`
	Early     int `json:"reversed_before_z"`
	Abandoned int `json:"abandoned"`
	Failed    int `json:"failed"`
	// Late counts the payments not in the first public block after the
	// fork (of the races where the public chain found one).
	Late int `json:"late"`
	// Whitepaper is P(q, z); NodeRule the simulated rate of the node's
	// rule (NodeRuleTrials seeded races) with its interval; Covered
	// whether the measured interval covers NodeRule.
	Whitepaper     float64  `json:"whitepaper"`
	NodeRule       float64  `json:"node_rule"`
	NodeRuleLo     float64  `json:"node_rule_ci_lo"`
	NodeRuleHi     float64  `json:"node_rule_ci_hi"`
	NodeRuleTrials int      `json:"node_rule_trials"`
	Covered        bool     `json:"covered"`
	MeanBlocks     float64  `json:"mean_blocks_per_trial"`
	Seconds        float64  `json:"seconds"`
	BlockTime      float64  `json:"block_time_s"`
	GiveUp         int      `json:"give_up"`
	Errors         []string `json:"errors,omitempty"`
}

// nodeRuleTrials is the number of seeded races behind the node-rule
// reference: its interval is a few thousandths wide.
const nodeRuleTrials = 200_000

// ExperimentDoubleSpendLive runs the experiment; labs go under
// dir/double-spend-live-z<z> and are removed afterwards.
func ExperimentDoubleSpendLive(ctx context.Context, dir, bin string, o DoubleSpendLiveOptions, progress io.Writer) ([]DoubleSpendLivePoint, error) {
	if o.Honest <= 0 {
		o.Honest = 2
	}
	if o.BlockTime <= 0 {
		o.BlockTime = time.Second
	}
	if o.GiveUp <= 0 {
		o.GiveUp = 5
	}
	if o.Q <= 0 || o.Q >= 0.5 || o.Trials <= 0 || len(o.Zs) == 0 {
		return nil, errors.New("double-spend --live: want 0 < q < 0.5, trials and confirmations")
	}
	var out []DoubleSpendLivePoint
	for _, z := range o.Zs {
		p, err := doubleSpendLiveRun(ctx, filepath.Join(dir, "double-spend-live-z"+strconv.Itoa(z)), bin, z, o, progress)
		if err != nil {
			return out, fmt.Errorf("q %.2f z %d: %w", o.Q, z, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func doubleSpendLiveRun(ctx context.Context, dir, bin string, z int, o DoubleSpendLiveOptions, progress io.Writer) (DoubleSpendLivePoint, error) {
	p := DoubleSpendLivePoint{Q: o.Q, Z: z, BlockTime: o.BlockTime.Seconds(), GiveUp: o.GiveUp,
		Whitepaper: adversary.DoubleSpendProbability(o.Q, z), NodeRuleTrials: nodeRuleTrials}
	k := NodeRuleSuccesses(o.Q, z, o.GiveUp, nodeRuleTrials, o.Seed)
	p.NodeRule = float64(k) / nodeRuleTrials
	p.NodeRuleLo, p.NodeRuleHi = adversary.Wilson(k, nodeRuleTrials, 1.959964)

	n := 1 + o.Honest
	shares := adversaryShares(o.Q, o.Honest)
	up := UpOptions{N: n, Seed: "double-spend", Network: "dev", BlockTime: o.BlockTime, Shares: shares,
		TotalHashrate: floorHashrate(o.BlockTime), Mine: true, Attached: true, LogLevel: "warn",
		Roles: map[int]Role{0: {Adversary: "withhold", WithholdDepth: z + 1, WithholdSpend: true, WithholdGiveUp: o.GiveUp}}}
	start := time.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	l, end, err := startLab(ctx, dir, bin, up, true, nil)
	if err != nil {
		return p, err
	}
	defer end()
	wallet, err := fundAttackerWallet(ctx, l)
	if err != nil {
		return p, err
	}
	merchant := l.State.Nodes[1].Address
	h0, err := l.StateInfo(ctx, 1)
	if err != nil {
		return p, err
	}
	last := time.Now()
	for t := 0; t < o.Trials; t++ {
		tr, err := doubleSpendTrialLive(ctx, l, wallet, merchant, o.BlockTime)
		if err != nil {
			if ctx.Err() != nil {
				return p, err
			}
			p.Failed++
			p.Errors = append(p.Errors, fmt.Sprintf("trial %d: %v", t+1, err))
			continue
		}
		p.Trials++
		switch {
		case tr.reversed && tr.conf >= z:
			p.Successes++
			p.Reversed++
		case tr.reversed:
			p.Early++
			p.Reversed++
		default:
			p.Abandoned++
		}
		if tr.late {
			p.Late++
		}
		if progress != nil && time.Since(last) > 20*time.Second {
			last = time.Now()
			fmt.Fprintf(progress, "double-spend live q %.2f z %d: %d trials, %d successes, %d released early, %d abandoned, %s\n",
				o.Q, z, p.Trials, p.Successes, p.Early, p.Abandoned, time.Since(start).Round(time.Second))
		}
	}
	h1, err := l.StateInfo(ctx, 1)
	if err != nil {
		return p, err
	}
	p.MeanBlocks = float64(h1.Height-h0.Height) / float64(max(p.Trials, 1))
	p.Lo, p.Hi = adversary.Wilson(p.Successes, p.Trials, 1.959964)
	p.Covered = p.Lo <= p.NodeRule && p.NodeRule <= p.Hi
	p.Seconds = time.Since(start).Seconds()
	if progress != nil {
		fmt.Fprintf(progress, "double-spend live q %.2f z %d: %d/%d successes (%.3f), node rule %.3f, whitepaper %.3f, %s\n",
			o.Q, z, p.Successes, p.Trials, float64(p.Successes)/float64(max(p.Trials, 1)), p.NodeRule, p.Whitepaper, time.Since(start).Round(time.Second))
	}
	return p, nil
}

// fundAttackerWallet moves a coin from node 0's miner address (the lab
// holds its key) to a new address of its wallet, which makes the payments
// (quarryd's wallet does not hold the --miner-address key), and returns
// that address.
func fundAttackerWallet(ctx context.Context, l *Lab) (string, error) {
	const fund = chain.Coin
	miner := l.State.Nodes[0].Address
	if err := Poll(ctx, 200*time.Millisecond, func() (bool, error) {
		a, err := l.Account(ctx, 1, miner)
		return err == nil && a.Balance >= rpcjson.AmountFromUnits(2*fund), err
	}); err != nil {
		return "", fmt.Errorf("waiting for the attacker's first coins: %w", err)
	}
	return l.FundWallet(ctx, 0, fund, 1)
}

type liveTrial struct {
	reversed bool
	conf     int
	late     bool
}

// doubleSpendTrialLive runs one payment from wallet, the attacker's
// funded wallet address, and its race.
func doubleSpendTrialLive(ctx context.Context, l *Lab, wallet, merchant string, blockTime time.Duration) (liveTrial, error) {
	var tr liveTrial
	// 1. One tip for the attacker and the merchant, and no unconfirmed
	// payment of the attacker's (a failed trial's payment must confirm
	// first: the conflict spends the sender's next confirmed nonce).
	sctx, cancel := context.WithTimeout(ctx, 60*blockTime+10*time.Second)
	defer cancel()
	if err := Poll(sctx, 20*time.Millisecond, func() (bool, error) {
		a, err := l.StateInfo(sctx, 0)
		if err != nil {
			return false, err
		}
		m, err := l.StateInfo(sctx, 1)
		if err != nil || a.BestBlockHash != m.BestBlockHash {
			return false, err
		}
		acct, err := l.Account(sctx, 0, wallet)
		return err == nil && acct.Pending.TxCount == 0, err
	}); err != nil {
		return tr, fmt.Errorf("attacker and merchant on one tip, no payment pending: %w", err)
	}
	// 2. The payment.
	txid, err := call[string](sctx, l, 0, "sendtoaddress", merchant, "0.0001")
	if err != nil {
		return tr, err
	}
	// 3. The honest miners put it in their next block.
	id, err := chain.ParseHash(txid)
	if err != nil {
		return tr, err
	}
	for i := 1; i < l.N(); i++ {
		if err := l.WaitTx(sctx, 0, i, id); err != nil {
			return tr, fmt.Errorf("payment %s in node%d's mempool: %w", txid, i, err)
		}
		if _, err := call[json.RawMessage](sctx, l, i, "setgenerate", true, 1); err != nil {
			return tr, err
		}
	}
	// 4. The outcome.
	var ds rpcjson.DoubleSpend
	if err := Poll(sctx, 50*time.Millisecond, func() (bool, error) {
		info, err := l.AdversaryInfo(sctx, 0)
		if err != nil {
			return false, err
		}
		d, ok := doubleSpendOf(info, txid)
		if !ok {
			return false, fmt.Errorf("payment %s: no double spend reported", txid)
		}
		ds = d
		return d.Outcome != "pending", nil
	}); err != nil {
		return tr, fmt.Errorf("race of payment %s: %w", txid, err)
	}
	tr.conf = ds.Confirmations
	tr.late = ds.Public > 0 && ds.PaymentHeight != ds.ForkHeight+1
	switch ds.Outcome {
	case "abandoned":
		return tr, nil
	case "reversed":
	default:
		return tr, fmt.Errorf("payment %s: outcome %s (%s)", txid, ds.Outcome, ds.Error)
	}
	err = Poll(sctx, 20*time.Millisecond, func() (bool, error) {
		tx, err := call[rpcjson.TxVerbose](sctx, l, 1, "getrawtransaction", ds.Conflict, true)
		return err == nil && tx.BlockHash != nil, nil
	})
	if err != nil {
		return tr, fmt.Errorf("released conflict %s never reached the merchant's main chain: %w", ds.Conflict, err)
	}
	tr.reversed = true
	return tr, nil
}

// NodeRuleSuccesses runs trials seeded races of the node's rule: from the
// payment, each block is the attacker's with probability q, until the
// withhold rule (withholdRace: release at z+1 and strictly longer, a
// success if the merchant had shipped; give up giveUp behind) ends the
// race. It returns the successes.
func NodeRuleSuccesses(q float64, z, giveUp, trials int, seed int64) int {
	rng := rand.New(rand.NewPCG(uint64(seed), uint64(z)<<32|uint64(q*1e6)|1<<63))
	rule := withholdRace{z: z, giveUp: giveUp}
	won := 0
	for range trials {
		priv, pub := 0, 0
		for {
			if over, w := rule.decide(priv, pub); over {
				if w {
					won++
				}
				break
			}
			if rng.Float64() < q {
				priv++
			} else {
				pub++
			}
		}
	}
	return won
}

// PrintDoubleSpendLive writes the table.
func PrintDoubleSpendLive(w io.Writer, pts []DoubleSpendLivePoint) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Q\tZ\tTRIALS\tSUCCESS\tRATE\t95% CI (Wilson)\tNODE RULE (sim)\tCOVERED\tWHITEPAPER P(q,z)\tEARLY\tABANDONED\tLATE\tFAILED\tBLOCKS/TRIAL")
	for _, p := range pts {
		cov := coverage(p.NodeRule, p.Lo, p.Hi, p.Covered)
		fmt.Fprintf(tw, "%.2f\t%d\t%d\t%d\t%.3f\t[%.3f, %.3f]\t%.3f\t%s\t%.3f\t%d\t%d\t%d\t%d\t%.1f\n", p.Q, p.Z, p.Trials, p.Successes,
			float64(p.Successes)/float64(max(p.Trials, 1)), p.Lo, p.Hi, p.NodeRule, cov, p.Whitepaper, p.Early, p.Abandoned, p.Late, p.Failed, p.MeanBlocks)
	}
	_ = tw.Flush() // a table on a terminal: a failed write has nowhere to go
	if len(pts) > 0 {
		fmt.Fprintf(w, "real nodes, %s blocks, attacker gives up %d behind; NODE RULE: release at z+1 and strictly longer (%d seeded races); EARLY: released before z confirmations; LATE: payment not in the first honest block\n",
			time.Duration(pts[0].BlockTime*float64(time.Second)), pts[0].GiveUp, pts[0].NodeRuleTrials)
	}
	for _, p := range pts {
		for _, e := range p.Errors {
			fmt.Fprintf(w, "z=%d %s\n", p.Z, e)
		}
	}
}

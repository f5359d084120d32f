package lab

import (
	"fmt"
	"io"
	"math/rand/v2"
	"text/tabwriter"

	"github.com/quarrychain/quarry/node/adversary"
)

// The double-spend experiment (devnet experiment double-spend) is a seeded
// simulation, not a lab measurement: at dev's 5 s blocks, enough trials
// for informative intervals at q = 0.1 would take days of lab time. Each
// trial races block by block from the merchant's payment: each next block
// is the attacker's with probability q. The merchant ships once the honest
// chain has z blocks. Two success rules are counted:
//
//   - catch-up, the whitepaper's: at some point after the merchant shipped,
//     the attacker's branch is at least as long as the honest one (a tie
//     counts for the attacker, as the whitepaper's (q/p)^(z-k) does);
//   - withhold, the node's: the release rule of the adversary.Withhold
//     state machine that quarryd --adversary withhold runs, with depth
//     z+1 (the branch is released once it is z+1 long and strictly
//     longer, so every honest node reorganises), counted a success when
//     the release comes after the merchant shipped. The fork point is the
//     payment (the node's machine instead follows the public chain until
//     its first private block, as it does not know of the payment).
//
// Beside them stands the whitepaper's P(q, z), which approximates the
// attacker's progress by a Poisson law; the exact race differs from it by
// a few points at q = 0.3 (the table shows both the whitepaper's value and
// the exact negative-binomial law, adversary.DoubleSpendExact, which the
// simulation must cover).

// DoubleSpendPoint is one (q, z).
type DoubleSpendPoint struct {
	Q          float64 `json:"q"`
	Z          int     `json:"z"`
	Trials     int     `json:"trials"`
	CatchUp    int     `json:"catch_up"`
	CatchUpLo  float64 `json:"catch_up_ci_lo"`
	CatchUpHi  float64 `json:"catch_up_ci_hi"`
	Withhold   int     `json:"withhold"`
	WithholdLo float64 `json:"withhold_ci_lo"`
	WithholdHi float64 `json:"withhold_ci_hi"`
	// Theory is the whitepaper's P(q, z), Exact the same race without
	// its Poisson approximation (adversary.DoubleSpendExact); Covered says
	// whether the catch-up interval covers Exact, CoversTheory whether it
	// covers P(q, z).
	Theory       float64 `json:"theory"`
	Exact        float64 `json:"exact"`
	Covered      bool    `json:"covered"`
	CoversTheory bool    `json:"covers_theory"`
}

// giveUpDeficit ends a trial: from this far behind the chance of catching
// up is (q/p)^50, below 1e-18 at q = 0.3.
const giveUpDeficit = 50

// ExperimentDoubleSpend runs trials per (q, z).
func ExperimentDoubleSpend(qs []float64, zs []int, trials int, seed int64) []DoubleSpendPoint {
	var out []DoubleSpendPoint
	for _, q := range qs {
		for _, z := range zs {
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(z)<<32|uint64(q*1e6)))
			p := DoubleSpendPoint{Q: q, Z: z, Trials: trials, Theory: adversary.DoubleSpendProbability(q, z)}
			for range trials {
				c, w := doubleSpendTrial(rng, q, z)
				if c {
					p.CatchUp++
				}
				if w {
					p.Withhold++
				}
			}
			p.CatchUpLo, p.CatchUpHi = adversary.Wilson(p.CatchUp, trials, 1.959964)
			p.WithholdLo, p.WithholdHi = adversary.Wilson(p.Withhold, trials, 1.959964)
			p.Exact = adversary.DoubleSpendExact(q, z)
			p.Covered = p.CatchUpLo <= p.Exact && p.Exact <= p.CatchUpHi
			p.CoversTheory = p.CatchUpLo <= p.Theory && p.Theory <= p.CatchUpHi
			out = append(out, p)
		}
	}
	return out
}

// withholdRace is the release rule of the node's withhold attacker
// (adversary.Withhold with depth z+1) in a race counted from the
// merchant's payment, which the merchant ships after z honest blocks. The
// simulation's WITHHOLD column and the live experiment's node-rule
// estimate (NodeRuleSuccesses) both decide their races with it.
type withholdRace struct {
	z      int // the merchant's confirmations
	giveUp int // the attacker abandons its branch this far behind
}

// decide reports whether the race is over with priv attacker blocks and
// pub honest blocks since the payment, and if so whether the attacker won.
// The attacker releases its branch once it is z+1 long and strictly longer
// than the public one (so every honest node reorganises), which reverses
// the payment if the merchant had shipped (pub >= z); it gives up when the
// public chain leads by giveUp.
func (r withholdRace) decide(priv, pub int) (over, won bool) {
	switch {
	case priv >= r.z+1 && priv > pub:
		return true, pub >= r.z
	case pub-priv >= r.giveUp:
		return true, false
	}
	return false, false
}

func doubleSpendTrial(rng *rand.Rand, q float64, z int) (catchUp, withhold bool) {
	rule := withholdRace{z: z, giveUp: giveUpDeficit}
	priv, pub := 0, 0
	decided := false // the withhold rule released (or gave up)
	for {
		if pub >= z && priv >= pub {
			catchUp = true
		}
		if !decided {
			decided, withhold = rule.decide(priv, pub)
		}
		if pub-priv >= giveUpDeficit || catchUp && decided {
			return catchUp, withhold
		}
		if rng.Float64() < q {
			priv++
		} else {
			pub++
		}
	}
}

// PrintDoubleSpend writes the table.
func PrintDoubleSpend(w io.Writer, pts []DoubleSpendPoint) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Q\tZ\tTRIALS\tCATCH-UP\t95% CI\tWHITEPAPER P(q,z)\tP-SIM\tEXACT RACE\tCOVERS EXACT\tWITHHOLD (node rule)\t95% CI")
	for _, p := range pts {
		sim := float64(p.CatchUp) / float64(p.Trials)
		cov := "yes"
		if !p.Covered {
			cov = "NO"
		}
		fmt.Fprintf(tw, "%.2f\t%d\t%d\t%.4f\t[%.4f, %.4f]\t%.4f\t%+.4f\t%.4f\t%s\t%.4f\t[%.4f, %.4f]\n", p.Q, p.Z, p.Trials,
			sim, p.CatchUpLo, p.CatchUpHi, p.Theory, p.Theory-sim, p.Exact, cov,
			float64(p.Withhold)/float64(p.Trials), p.WithholdLo, p.WithholdHi)
	}
	_ = tw.Flush() // a table on a terminal: a failed write has nowhere to go
	fmt.Fprintln(w, "P-SIM: the whitepaper's Poisson approximation minus the simulated rate; EXACT RACE: the negative-binomial law of the same race")
}

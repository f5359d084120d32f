package lab

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/big"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/adversary"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The selfish-mining experiment (devnet experiment selfish). For each hash
// share alpha it starts Replicates fresh dev labs of 1 + Honest nodes, one
// after the other, under the lab directory: node 0 runs --adversary
// selfish with alpha of the total hash rate, the honest nodes share the
// rest equally, all on loopback (a block reaches every node in
// milliseconds, against an interval of seconds, so the honest nodes almost
// always see an honest racing block first: gamma near 0). Once Warmup
// blocks are mined, the next Blocks blocks of the main chain of an honest
// node are counted by coinbase payee: the selfish node's revenue share in
// that replicate. Gamma is measured by the selfish node itself
// (getadversaryinfo: of the races of state 0' an honest block decided, the
// share decided on its branch), pooled over the replicates.
//
// The uncertainty comes from the replicates, not from the blocks: a
// selfish release brings several blocks at once, so the blocks of one run
// are not independent trials and a binomial interval on them is too
// narrow. The replicates are independent labs (fresh keys, fresh chains),
// so the mean of their shares has a Student-t interval with Replicates-1
// degrees of freedom (widened to contain the pooled Wilson interval, the
// least uncertainty the blocks can carry, when a few runs happen to agree). With BlockTime set the labs run a dev-derived chain
// with that interval and, unless a total hash rate is given, exactly the
// hash rate at which the easiest difficulty gives that interval: the
// difficulty then stays at its floor, constant as in the paper's model.
// The pooled binomial (Wilson) interval is kept beside it for comparison.

// SelfishOptions configure the selfish experiment.
type SelfishOptions struct {
	Alphas []float64
	Honest int
	Warmup int
	Blocks int
	// Replicates is the number of independent labs per alpha (1: a
	// single lab, with only the Wilson interval).
	Replicates int
	// BlockTime, when set, runs dev-derived labs with this interval.
	BlockTime time.Duration
	// TotalHashrate is the labs' total hash rate; 0 with BlockTime set
	// means the floor-difficulty rate for BlockTime.
	TotalHashrate float64
	// Timeout bounds each lab's run.
	Timeout time.Duration
}

// SelfishReplicate is one lab's count.
type SelfishReplicate struct {
	Blocks        int     `json:"blocks"`
	SelfishCount  int     `json:"selfish_blocks"`
	Share         float64 `json:"share"`
	Races         uint64  `json:"races"`
	RacesOnOurs   uint64  `json:"races_on_ours"`
	OrphansCaused uint64  `json:"orphans_caused"`
	Releases      uint64  `json:"releases"`
	// WorkShare is the selfish node's share of the window's chain work
	// (each block weighted by its proof of work). The paper's model has a
	// constant difficulty; on dev, ASERT retargets every block, and a
	// private branch that falls behind schedule gets cheaper blocks. The
	// work share beside the block share shows whether that biases the
	// count.
	WorkShare float64 `json:"work_share"`
	// HashShare is the selfish node's share of all the hashes the lab's
	// miners tried (quarry_miner_hashes_total): the alpha the rate
	// limiters actually delivered.
	HashShare float64 `json:"hash_share"`
	// Lead is the selfish node's private lead when the window was counted
	// on its own chain (no settled moment within settleWait); 0 when the
	// count waited for one.
	Lead    int     `json:"lead_at_count"`
	Seconds float64 `json:"seconds"`
}

// SelfishPoint is the result of one alpha over its replicates.
type SelfishPoint struct {
	Alpha float64 `json:"alpha"`
	// Blocks and SelfishCount are pooled over the replicates.
	Blocks       int `json:"blocks"`
	SelfishCount int `json:"selfish_blocks"`
	// Share is the mean of the replicates' shares; Lo and Hi its 95%
	// Student-t interval, widened where needed to contain the pooled
	// Wilson interval (which alone it is when there is one replicate).
	Share float64 `json:"share"`
	Lo    float64 `json:"ci_lo"`
	Hi    float64 `json:"ci_hi"`
	// SD is the standard deviation of the replicates' shares.
	SD float64 `json:"sd"`
	// WilsonLo and WilsonHi treat the pooled blocks as independent.
	WilsonLo    float64 `json:"wilson_lo"`
	WilsonHi    float64 `json:"wilson_hi"`
	Races       uint64  `json:"races"`
	RacesOnOurs uint64  `json:"races_on_ours"`
	Gamma       float64 `json:"gamma"`
	Theory      float64 `json:"theory"`
	Covered     bool    `json:"covered"`
	WorkShare   float64 `json:"work_share"`
	// HashShare is the replicates' mean measured alpha, TheoryMeasured
	// the closed form at that alpha and the measured gamma.
	HashShare      float64 `json:"hash_share"`
	TheoryMeasured float64 `json:"theory_measured_alpha"`
	// OrphansCaused and Releases are the selfish nodes' counters, summed.
	OrphansCaused uint64             `json:"orphans_caused"`
	Releases      uint64             `json:"releases"`
	Seconds       float64            `json:"seconds"`
	Replicates    []SelfishReplicate `json:"replicates"`
}

// ExperimentSelfish runs the experiment; labs go under
// dir/selfish-<alpha>-r<i> and are removed afterwards.
func ExperimentSelfish(ctx context.Context, dir, bin string, o SelfishOptions, progress io.Writer) ([]SelfishPoint, error) {
	if o.Replicates < 1 {
		o.Replicates = 1
	}
	if o.BlockTime > 0 && o.TotalHashrate == 0 {
		o.TotalHashrate = floorHashrate(o.BlockTime)
	}
	var out []SelfishPoint
	for _, a := range o.Alphas {
		start := time.Now()
		var reps []SelfishReplicate
		for r := 1; r <= o.Replicates; r++ {
			name := fmt.Sprintf("selfish-%s-r%d", strconv.FormatFloat(a, 'f', 2, 64), r)
			rep, err := selfishRun(ctx, filepath.Join(dir, name), bin, a, r, o, progress)
			if err != nil {
				return out, fmt.Errorf("alpha %.2f, replicate %d: %w", a, r, err)
			}
			reps = append(reps, rep)
		}
		p := summarizeSelfish(a, reps)
		p.Seconds = time.Since(start).Seconds()
		fmt.Fprintf(progress, "selfish alpha %.2f: share %.3f [%.3f, %.3f] over %d replicate(s), theory %.3f at gamma %.2f, %s\n",
			a, p.Share, p.Lo, p.Hi, len(reps), p.Theory, p.Gamma, time.Since(start).Round(time.Second))
		out = append(out, p)
	}
	return out, nil
}

// settleWait bounds the wait for a settled moment before a replicate's
// window is counted.
const settleWait = 90 * time.Second

// adversaryShares returns the hash-rate percentages of a lab whose node 0
// has the share alpha and whose honest nodes split the rest equally.
func adversaryShares(alpha float64, honest int) []float64 {
	shares := make([]float64, 1+honest)
	shares[0] = 100 * alpha
	for i := 1; i <= honest; i++ {
		shares[i] = 100 * (1 - alpha) / float64(honest)
	}
	return shares
}

// floorHashrate is the total hash rate at which the easiest difficulty
// (about 65,536 hashes a block) gives the block interval d.
func floorHashrate(d time.Duration) float64 { return 65536 / d.Seconds() }

// summarizeSelfish pools the replicates of one alpha.
func summarizeSelfish(alpha float64, reps []SelfishReplicate) SelfishPoint {
	p := SelfishPoint{Alpha: alpha, Replicates: reps}
	shares := make([]float64, len(reps))
	var workShares, hashShares float64
	for i, r := range reps {
		hashShares += r.HashShare
		p.Blocks += r.Blocks
		p.SelfishCount += r.SelfishCount
		p.Races += r.Races
		p.RacesOnOurs += r.RacesOnOurs
		p.OrphansCaused += r.OrphansCaused
		p.Releases += r.Releases
		shares[i] = r.Share
		workShares += r.WorkShare
	}
	if p.Races > 0 {
		p.Gamma = float64(p.RacesOnOurs) / float64(p.Races)
	}
	p.WilsonLo, p.WilsonHi = adversary.Wilson(p.SelfishCount, p.Blocks, 1.959964)
	if len(reps) > 0 {
		p.WorkShare = workShares / float64(len(reps))
		p.HashShare = hashShares / float64(len(reps))
	}
	p.Share, p.SD, p.Lo, p.Hi = meanInterval(shares)
	if len(reps) < 2 {
		// A single lab has no spread to measure: the Wilson interval of
		// its blocks alone.
		p.Lo, p.Hi = p.WilsonLo, p.WilsonHi
	} else {
		// Never narrower than the pooled Wilson interval: a few runs that
		// happen to agree say little, and the blocks can at best be
		// independent.
		p.Lo, p.Hi = min(p.Lo, p.WilsonLo), max(p.Hi, p.WilsonHi)
	}
	p.Theory = adversary.SelfishRevenue(alpha, p.Gamma)
	p.TheoryMeasured = adversary.SelfishRevenue(p.HashShare, p.Gamma)
	p.Covered = p.Lo <= p.Theory && p.Theory <= p.Hi
	return p
}

// meanInterval returns the mean of xs, their sample standard deviation
// and the 95% Student-t interval of the mean (clamped to [0, 1], as xs
// are shares). Fewer than two values give the mean and [0, 1].
func meanInterval(xs []float64) (mean, sd, lo, hi float64) {
	n := float64(len(xs))
	if len(xs) == 0 {
		return 0, 0, 0, 1
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if len(xs) < 2 {
		return mean, 0, 0, 1
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd = math.Sqrt(ss / (n - 1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(0.975)
	half := t * sd / math.Sqrt(n)
	return mean, sd, max(0, mean-half), min(1, mean+half)
}

func selfishRun(ctx context.Context, dir, bin string, alpha float64, rep int, o SelfishOptions, progress io.Writer) (SelfishReplicate, error) {
	n := 1 + o.Honest
	shares := adversaryShares(alpha, o.Honest)
	opts := UpOptions{N: n, Seed: fmt.Sprintf("selfish-%d", rep), Network: "dev", BlockTime: o.BlockTime, Shares: shares,
		TotalHashrate: o.TotalHashrate, Mine: true, Attached: true, LogLevel: "warn", Roles: map[int]Role{0: {Adversary: "selfish"}}}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	l, end, err := startLab(ctx, dir, bin, opts, true, nil)
	if err != nil {
		return SelfishReplicate{}, err
	}
	defer end()
	const honest = 1 // the node whose main chain is counted
	from := uint64(o.Warmup) + 1
	to := from + uint64(o.Blocks) - 1
	last := time.Time{}
	// Wait until the honest chain is a few blocks past the window, then
	// for a settled moment: the selfish node has nothing private and is on
	// the honest node's tip. Counting in the middle of a private lead
	// would be biased against the selfish node: its withheld blocks are
	// not on the honest chain yet, while the honest blocks they will
	// orphan are. A lead returns to zero with certainty for alpha < 1/2,
	// but near 1/2 it can take hundreds of blocks; after settleWait the
	// window is counted on the heaviest chain instead, the selfish node's
	// own when it leads (the chain every node would adopt if it published
	// now), and the replicate records the lead.
	err = Poll(ctx, 250*time.Millisecond, func() (bool, error) {
		si, err := l.StateInfo(ctx, honest)
		if err != nil {
			return false, err
		}
		if time.Since(last) > 10*time.Second {
			fmt.Fprintf(progress, "selfish alpha %.2f replicate %d: height %d of %d\n", alpha, rep, si.Height, to+3)
			last = time.Now()
		}
		return si.Height >= to+3, nil
	})
	if err != nil {
		return SelfishReplicate{}, err
	}
	settled := func() (bool, error) {
		info, err := l.AdversaryInfo(ctx, 0)
		if err != nil || len(info.Unpublished) > 0 || info.Private > 0 {
			return false, err
		}
		self, err := l.StateInfo(ctx, 0)
		if err != nil {
			return false, err
		}
		again, err := l.StateInfo(ctx, honest)
		return err == nil && self.BestBlockHash == again.BestBlockHash, err
	}
	sctx, scancel := context.WithTimeout(ctx, settleWait)
	err = Poll(sctx, 250*time.Millisecond, settled)
	scancel()
	counted := honest
	var r SelfishReplicate
	if err != nil {
		if ctx.Err() != nil {
			return r, ctx.Err()
		}
		info, err := l.AdversaryInfo(ctx, 0)
		if err != nil {
			return r, err
		}
		// The selfish node's own chain is counted only if it is the
		// heavier one and covers the window; otherwise the honest chain.
		own, err := l.StateInfo(ctx, 0)
		if err != nil {
			return r, err
		}
		hon, err := l.StateInfo(ctx, honest)
		if err != nil {
			return r, err
		}
		if info.Private > info.Public && own.Height >= to && parseWork(own.ChainWork).Cmp(parseWork(hon.ChainWork)) > 0 {
			counted, r.Lead = 0, info.Private-info.Public
		}
	}
	self := l.State.Nodes[0].Address
	selfWork, totalWork := new(big.Int), new(big.Int)
	for h := from; h <= to; h++ {
		hash, err := l.HashAt(ctx, counted, h)
		if err != nil {
			return r, err
		}
		b, err := call[rpcjson.BlockVerboseTx](ctx, l, counted, "getblock", hash, 2)
		if err != nil {
			return r, err
		}
		r.Blocks++
		bits, err := strconv.ParseUint(b.Bits, 16, 32)
		if err != nil {
			return r, fmt.Errorf("block %s: bits %q: %w", hash, b.Bits, err)
		}
		w := chain.CalcWork(uint32(bits))
		totalWork.Add(totalWork, w)
		if len(b.Tx) > 0 && b.Tx[0].To == self {
			r.SelfishCount++
			selfWork.Add(selfWork, w)
		}
	}
	info, err := l.AdversaryInfo(ctx, 0)
	if err != nil {
		return r, err
	}
	r.Races, r.RacesOnOurs, r.OrphansCaused, r.Releases = info.Races, info.RacesOnOurs, info.OrphansCaused, info.Releases
	var hashes [2]float64 // selfish, all
	for i := range n {
		v, err := l.Metric(ctx, i, "quarry_miner_hashes_total")
		if err != nil {
			return r, fmt.Errorf("node%d hashes: %w", i, err)
		}
		if i == 0 {
			hashes[0] = v
		}
		hashes[1] += v
	}
	if hashes[1] > 0 {
		r.HashShare = hashes[0] / hashes[1]
	}
	r.Share = float64(r.SelfishCount) / float64(r.Blocks)
	r.WorkShare, _ = new(big.Rat).SetFrac(selfWork, totalWork).Float64()
	r.Seconds = time.Since(start).Seconds()
	fmt.Fprintf(progress, "selfish alpha %.2f replicate %d: %d of %d blocks (%.3f), hash share %.3f, races %d (%d on ours), lead at count %d, %s\n",
		alpha, rep, r.SelfishCount, r.Blocks, r.Share, r.HashShare, r.Races, r.RacesOnOurs, r.Lead, time.Since(start).Round(time.Second))
	return r, nil
}

// PrintSelfish writes the table.
func PrintSelfish(w io.Writer, pts []SelfishPoint) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ALPHA\tHASH SHARE\tRUNS\tBLOCKS\tSELFISH\tSHARE (mean)\tSD\t95% CI (t, runs)\tWILSON (pooled)\tWORK SHARE\tGAMMA (races)\tEYAL-SIRER R(a,g)\tR-ALPHA\tCOVERED\tR(hash share,g)\tORPHANED")
	for _, p := range pts {
		cov := coverage(p.Theory, p.Lo, p.Hi, p.Covered)
		fmt.Fprintf(tw, "%.2f\t%.3f\t%d\t%d\t%d\t%.3f\t%.3f\t[%.3f, %.3f]\t[%.3f, %.3f]\t%.3f\t%.2f (%d/%d)\t%.3f\t%+.3f\t%s\t%.3f\t%d\n",
			p.Alpha, p.HashShare, len(p.Replicates), p.Blocks, p.SelfishCount, p.Share, p.SD, p.Lo, p.Hi, p.WilsonLo, p.WilsonHi,
			p.WorkShare, p.Gamma, p.RacesOnOurs, p.Races, p.Theory, p.Theory-p.Alpha, cov, p.TheoryMeasured, p.OrphansCaused)
	}
	_ = tw.Flush() // a table on a terminal: a failed write has nowhere to go
	fmt.Fprintf(w, "threshold (1-g)/(3-2g) at g=0: %.3f; the interval is the Student-t interval of the mean of independent runs\n"+
		"(blocks within a run are not independent: releases come in runs), never narrower than the pooled Wilson interval;\n"+
		"HASH SHARE is the selfish node's measured share of all hashes tried, R(hash share,g) the closed form there\n",
		adversary.SelfishThreshold(0))
	for _, p := range pts {
		if len(p.Replicates) < 2 {
			continue
		}
		fmt.Fprintf(w, "alpha %.2f runs:", p.Alpha)
		for _, r := range p.Replicates {
			fmt.Fprintf(w, " %d/%d", r.SelfishCount, r.Blocks)
			if r.Lead > 0 {
				fmt.Fprintf(w, " (counted on its chain, lead %d)", r.Lead)
			}
		}
		fmt.Fprintln(w)
	}
}

// coverage is a table's COVERED cell: yes, or no with how far the
// theory value x lies outside [lo, hi].
func coverage(x, lo, hi float64, covered bool) string {
	if covered {
		return "yes"
	}
	return fmt.Sprintf("no (%+.3f)", x-max(lo, min(hi, x)))
}

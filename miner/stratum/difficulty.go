package stratum

import (
	"math"
	"math/big"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// diff1Target is the target of share difficulty 1 as pools and miners use
// it (Bitcoin's "pool difficulty"): 0xffff * 2^208. Difficulty d means a
// target of diff1Target / d; hashes per share at difficulty d ≈ d * 2^32.
var diff1Target = new(big.Int).Lsh(big.NewInt(0xffff), 208)

// maxTarget is 2^256 - 1.
var maxTarget = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// hashesPerDiff1 is the expected number of hashes per share of difficulty 1.
const hashesPerDiff1 = 4294967296.0 // 2^32

// TargetForDifficulty returns diff1Target / d, at most 2^256 - 1 and at
// least 1. Fractional difficulties are exact to 256 bits of precision.
func TargetForDifficulty(d float64) *big.Int {
	if !(d > 0) || math.IsInf(d, 1) {
		if math.IsInf(d, 1) {
			return big.NewInt(1)
		}
		return new(big.Int).Set(maxTarget)
	}
	f := new(big.Float).SetPrec(320).SetInt(diff1Target)
	f.Quo(f, new(big.Float).SetPrec(320).SetFloat64(d))
	t, _ := f.Int(nil)
	switch {
	case t.Cmp(maxTarget) > 0:
		return new(big.Int).Set(maxTarget)
	case t.Sign() <= 0:
		return big.NewInt(1)
	}
	return t
}

// DifficultyForTarget returns diff1Target / target as a float.
func DifficultyForTarget(t *big.Int) float64 {
	if t.Sign() <= 0 {
		return math.Inf(1)
	}
	q := new(big.Float).SetPrec(128).SetInt(diff1Target)
	q.Quo(q, new(big.Float).SetPrec(128).SetInt(t))
	d, _ := q.Float64()
	return d
}

// shareTarget is a share difficulty and its target in the kernel's and
// the hash's byte order (little-endian). The zero value is unusable.
type shareTarget struct {
	diff float64
	le   [32]byte
}

// newShareTarget returns the target for difficulty d, never harder than
// the network target net (a share that meets the network target is always
// a share), unless net is easier than the target of difficulty lo (the
// lowest share difficulty), as regtest's is: it is met by every other
// hash, and a share per hash or two is a flood that no miner or server
// carries (cpuminer submits thousands a second). There the share
// difficulty is at least lo and has no network ceiling; the share target
// is then harder than the network's, so every share is still a block.
func newShareTarget(d float64, net *big.Int, lo float64) shareTarget {
	if easierThan(net, lo) {
		d = max(d, lo)
		return shareTarget{diff: d, le: chain.TargetBytesLE(TargetForDifficulty(d))}
	}
	t := TargetForDifficulty(d)
	if t.Cmp(net) < 0 {
		t = net
		d = DifficultyForTarget(net)
	}
	return shareTarget{diff: d, le: chain.TargetBytesLE(t)}
}

// easierThan reports whether the network target net is easier (larger)
// than the target of share difficulty lo.
func easierThan(net *big.Int, lo float64) bool {
	return lo > 0 && net.Cmp(TargetForDifficulty(lo)) > 0
}

// meetsLE reports whether hash <= target, both little-endian 256-bit
// integers.
func meetsLE(hash *chain.Hash, target *[32]byte) bool {
	for i := 31; i >= 0; i-- {
		if hash[i] != target[i] {
			return hash[i] < target[i]
		}
	}
	return true
}

// Vardiff parameters.
const (
	// vardiffShares: retarget once this many shares arrived in a window.
	vardiffShares = 8
	// vardiffMaxWindows: retarget after this many share intervals even
	// with fewer shares (with none, the difficulty drops by vardiffStep).
	vardiffMaxWindows = 4
	// vardiffStep bounds one retarget to a factor of 4 either way.
	vardiffStep = 4.0
	// vardiffDeadband: changes smaller than 20% are not sent.
	vardiffDeadband = 0.2
)

// vardiff steers one connection's share difficulty toward one share per
// interval. It is owned by its connection (guarded by the connection's
// lock).
type vardiff struct {
	interval time.Duration
	since    time.Time // start of the current window
	shares   int       // accepted shares in the window
}

// retarget returns the difficulty to use from now on and whether it
// differs from cur. It only changes at the end of a window: after
// vardiffShares shares, or vardiffMaxWindows intervals. lo and hi bound the
// result (hi is the network difficulty).
func (v *vardiff) retarget(now time.Time, cur, lo, hi float64) (float64, bool) {
	el := now.Sub(v.since)
	if v.shares < vardiffShares && el < vardiffMaxWindows*v.interval {
		return cur, false
	}
	next := cur / vardiffStep
	if v.shares > 0 && el > 0 {
		next = cur * float64(v.shares) * v.interval.Seconds() / el.Seconds()
	}
	next = min(max(next, cur/vardiffStep), cur*vardiffStep)
	next = min(max(next, lo), hi)
	v.since, v.shares = now, 0
	if math.Abs(next-cur) <= vardiffDeadband*cur {
		return cur, false
	}
	return next, true
}

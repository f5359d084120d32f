package adversary

import (
	"fmt"

	"github.com/quarrychain/quarry/chain"
)

type hashT = chain.Hash

// DefaultGiveUp is how far the public chain may lead before the withhold
// strategy abandons its branch: at a share q = 0.3 the chance of catching
// up from ten blocks behind is (q/p)^10 < 0.03%.
const DefaultGiveUp = 10

// Withhold is the whitepaper's double-spend attacker. Construct it with
// NewWithhold or NewWithholdSpend. It is not safe for concurrent use.
//
// A race is a private branch from a fork point on the public chain. It
// starts at the attacker's first private block (NewWithhold: the fork
// point follows the public tip until then), or at Fork (the moment of the
// payment to be reversed); it ends with a release (the branch is at least
// depth long and longer than the public chain since the fork) or when the
// public chain leads by giveUp blocks (the branch is abandoned).
type Withhold struct {
	depth, giveUp int
	// spendOnly: outside a race started by Fork, blocks are published at
	// once (honest mining).
	spendOnly bool
	racing    bool
	// hold: a race started by Fork is not released before Carry.
	hold   bool
	priv   []hashT
	public int
	stats  Stats
}

// NewWithhold returns an attacker that releases its branch once it is at
// least depth blocks long and longer than the public chain since the fork,
// and abandons it when the public chain leads by giveUp blocks (<= 0:
// DefaultGiveUp). Every block it finds outside a race starts one.
func NewWithhold(depth, giveUp int) *Withhold {
	if depth < 1 {
		depth = 1
	}
	if giveUp <= 0 {
		giveUp = DefaultGiveUp
	}
	return &Withhold{depth: depth, giveUp: giveUp}
}

// NewWithholdSpend returns the attacker of the whitepaper's section 11
// proper: it mines honestly (each block published at once) until Fork
// starts a race at the moment it pays a merchant, and races as NewWithhold
// does until the release or the give-up, then mines honestly again.
func NewWithholdSpend(depth, giveUp int) *Withhold {
	w := NewWithhold(depth, giveUp)
	w.spendOnly = true
	return w
}

// Fork starts a race from the current public tip, with no private block
// yet: from now on the public chain's blocks count against the branch,
// which is not released before Carry (the blocks found before the
// conflicting spend is in a template do not reverse anything). It reports
// false, and changes nothing, when a race is already on.
func (w *Withhold) Fork() bool {
	if w.racing {
		return false
	}
	w.racing, w.public, w.hold = true, 0, true
	return true
}

// Carry reports that the private branch now carries what the race is for
// (the node calls it with the block holding the conflicting spend, before
// OwnBlock of that block): from then on the branch is released by the
// usual rule.
func (w *Withhold) Carry() { w.hold = false }

// Abandon ends the current race as the give-up does (the private blocks
// count as abandoned). It is a no-op outside a race.
func (w *Withhold) Abandon() Action {
	if !w.racing {
		return Action{}
	}
	w.stats.Abandoned += uint64(len(w.priv))
	w.priv, w.public, w.racing, w.hold = nil, 0, false, false
	return Action{Adopt: true}
}

// OwnBlock implements Strategy.
func (w *Withhold) OwnBlock(h hashT) Action {
	w.stats.Mined++
	if w.spendOnly && !w.racing {
		return Action{Publish: []hashT{h}}
	}
	w.racing = true
	w.priv = append(w.priv, h)
	if !w.hold && len(w.priv) >= w.depth && len(w.priv) > w.public {
		out := w.priv
		w.stats.Published += uint64(len(out))
		w.stats.Releases++
		if w.public > 0 {
			w.stats.Overrides++
			w.stats.OrphansCaused += uint64(w.public)
		}
		w.priv, w.public, w.racing = nil, 0, false
		return Action{Publish: out}
	}
	w.stats.Withheld++
	return Action{}
}

// OthersBlock implements Strategy.
func (w *Withhold) OthersBlock() Action {
	w.public++
	if !w.racing {
		// No race: the fork point follows the public tip.
		w.public = 0
		return Action{Adopt: true}
	}
	if w.public-len(w.priv) >= w.giveUp {
		return w.Abandon()
	}
	return Action{}
}

// Private reports whether a race is on (the node then ignores the public
// chain's blocks instead of switching to them).
func (w *Withhold) Private() bool { return w.racing }

// State implements Strategy.
func (w *Withhold) State() string {
	return fmt.Sprintf("private %d / public %d (release at %d)", len(w.priv), w.public, w.depth)
}

// Lead implements Strategy.
func (w *Withhold) Lead() (int, int) { return len(w.priv), w.public }

// Unpublished implements Strategy.
func (w *Withhold) Unpublished() []hashT { return append([]hashT(nil), w.priv...) }

// Stats implements Strategy.
func (w *Withhold) Stats() Stats { return w.stats }

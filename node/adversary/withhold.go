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
// NewWithhold. It is not safe for concurrent use.
type Withhold struct {
	depth, giveUp int
	priv          []hashT
	public        int
	stats         Stats
}

// NewWithhold returns an attacker that releases its branch once it is at
// least depth blocks long and longer than the public chain since the fork,
// and abandons it when the public chain leads by giveUp blocks (<= 0:
// DefaultGiveUp).
func NewWithhold(depth, giveUp int) *Withhold {
	if depth < 1 {
		depth = 1
	}
	if giveUp <= 0 {
		giveUp = DefaultGiveUp
	}
	return &Withhold{depth: depth, giveUp: giveUp}
}

// OwnBlock implements Strategy.
func (w *Withhold) OwnBlock(h hashT) Action {
	w.stats.Mined++
	w.priv = append(w.priv, h)
	if len(w.priv) >= w.depth && len(w.priv) > w.public {
		out := w.priv
		w.stats.Published += uint64(len(out))
		w.stats.Releases++
		if w.public > 0 {
			w.stats.Overrides++
			w.stats.OrphansCaused += uint64(w.public)
		}
		w.priv, w.public = nil, 0
		return Action{Publish: out}
	}
	w.stats.Withheld++
	return Action{}
}

// OthersBlock implements Strategy.
func (w *Withhold) OthersBlock() Action {
	w.public++
	if len(w.priv) == 0 {
		// Nothing private yet: the fork point follows the public tip.
		w.public = 0
		return Action{Adopt: true}
	}
	if w.public-len(w.priv) >= w.giveUp {
		w.stats.Abandoned += uint64(len(w.priv))
		w.priv, w.public = nil, 0
		return Action{Adopt: true}
	}
	return Action{}
}

// Private reports whether a private branch is being mined (the node then
// ignores the public chain's blocks instead of switching to them).
func (w *Withhold) Private() bool { return len(w.priv) > 0 }

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

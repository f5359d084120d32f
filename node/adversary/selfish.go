package adversary

import "strconv"

// Selfish is Eyal and Sirer's selfish miner (Algorithm 1 of the paper). The
// zero value is in state 0. It is not safe for concurrent use.
type Selfish struct {
	priv      []hashT // private branch since the fork, oldest first
	published int     // how many of priv were announced
	public    int     // public blocks since the fork
	stats     Stats
}

// NewSelfish returns a selfish miner in state 0.
func NewSelfish() *Selfish { return &Selfish{} }

// OwnBlock implements Strategy: the block joins the private branch; in
// state 0' (a tie of published length-one branches) finding the next block
// wins the race, and the branch is published.
func (s *Selfish) OwnBlock(h hashT) Action {
	s.stats.Mined++
	prev := len(s.priv) - s.public
	s.priv = append(s.priv, h)
	if prev == 0 && len(s.priv) == 2 {
		// State 0' -> 0: publish the new block; the branch is now the longest.
		out := s.publishAll()
		s.stats.Overrides++
		s.stats.OrphansCaused += uint64(s.public)
		s.reset()
		return Action{Publish: out}
	}
	s.stats.Withheld++
	return Action{}
}

// OthersBlock implements Strategy.
func (s *Selfish) OthersBlock() Action {
	prev := len(s.priv) - s.public
	s.public++
	switch {
	case prev <= 0:
		// State 0 or 0': the others' branch is the longest; adopt it.
		s.stats.Abandoned += uint64(len(s.priv) - s.published)
		s.reset()
		return Action{Adopt: true}
	case prev == 1:
		// State 1 -> 0': publish the private block and race.
		return Action{Publish: s.publishAll()}
	case prev == 2:
		// State 2 -> 0: publish everything; the lead of one wins.
		out := s.publishAll()
		s.stats.Overrides++
		s.stats.OrphansCaused += uint64(s.public)
		s.reset()
		return Action{Publish: out}
	default:
		// State n > 2: publish the first unpublished block.
		out := []hashT{s.priv[s.published]}
		s.published++
		s.stats.Published++
		s.stats.Releases++
		return Action{Publish: out}
	}
}

func (s *Selfish) publishAll() []hashT {
	out := append([]hashT(nil), s.priv[s.published:]...)
	if len(out) > 0 {
		s.stats.Published += uint64(len(out))
		s.stats.Releases++
	}
	s.published = len(s.priv)
	return out
}

func (s *Selfish) reset() { s.priv, s.published, s.public = nil, 0, 0 }

// State implements Strategy with the paper's names.
func (s *Selfish) State() string {
	lead := len(s.priv) - s.public
	switch {
	case lead == 0 && len(s.priv) > 0:
		return "0'"
	case lead <= 0:
		return "0"
	case lead <= 2:
		return strconv.Itoa(lead)
	}
	return "n=" + strconv.Itoa(lead)
}

// Racing returns the published private block of state 0' (a race between
// two published branches of length one); the share of honest blocks
// mined on it rather than on the other branch is the paper's gamma.
func (s *Selfish) Racing() (hashT, bool) {
	if len(s.priv) == 1 && s.public == 1 && s.published == 1 {
		return s.priv[0], true
	}
	return hashT{}, false
}

// Lead implements Strategy.
func (s *Selfish) Lead() (int, int) { return len(s.priv), s.public }

// Unpublished implements Strategy.
func (s *Selfish) Unpublished() []hashT { return append([]hashT(nil), s.priv[s.published:]...) }

// Stats implements Strategy.
func (s *Selfish) Stats() Stats { return s.stats }

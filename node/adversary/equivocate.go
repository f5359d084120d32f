package adversary

// Equivocator is the rule of the equivocate mode for each height: the
// first block found on a parent is held back (not connected, not
// announced) while the miner keeps working on the same parent; the second
// block found on that parent is its twin, and both are announced (the node
// sends each to one half of its peers), so that honest nodes split between
// them until the next block decides. A held block whose parent is no longer the tip (someone else
// extended the chain first) is replaced by the next block found. It is not
// safe for concurrent use.
type Equivocator struct {
	held, parent hashT
	holding      bool
	stats        Stats
	twins        uint64
}

// Found reports a block this node found on parent. hold says to keep the
// block back; otherwise publish lists the twins to connect and announce,
// in that order.
func (e *Equivocator) Found(h, parent hashT) (hold bool, publish []hashT) {
	e.stats.Mined++
	if e.holding && e.parent == parent && e.held != h {
		out := []hashT{e.held, h}
		e.holding = false
		e.twins++
		e.stats.Published += 2
		e.stats.Releases++
		return false, out
	}
	if e.holding {
		e.stats.Abandoned++ // the held block went stale
	}
	e.held, e.parent, e.holding = h, parent, true
	e.stats.Withheld++
	return true, nil
}

// Holding returns the held block, if any.
func (e *Equivocator) Holding() (hashT, bool) { return e.held, e.holding }

// Twins counts the pairs announced.
func (e *Equivocator) Twins() uint64 { return e.twins }

// Stats returns the counters.
func (e *Equivocator) Stats() Stats { return e.stats }

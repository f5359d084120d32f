package adversary

import (
	"fmt"
	"strings"

	"github.com/quarrychain/quarry/chain"
)

// Mode names a behaviour for quarryd --adversary.
type Mode string

// The modes.
const (
	ModeHonest     Mode = ""
	ModeSelfish    Mode = "selfish"
	ModeWithhold   Mode = "withhold"
	ModeEquivocate Mode = "equivocate"
	// The hostile-peer modes mine honestly but misbehave towards peers,
	// to demonstrate the networking layer's defences: stall answers
	// status and headers but never a block request, lie-work advertises
	// 2^200 chain work in its status, junk sends junk every few seconds
	// (in turn: a valid block with its merkle root broken on gossip,
	// garbage on the block topic, a garbage block frame and an oversized
	// frame pushed to each peer).
	ModeStall   Mode = "stall"
	ModeLieWork Mode = "lie-work"
	ModeJunk    Mode = "junk"
)

// Modes lists the dishonest modes in the order the help text gives them.
func Modes() []Mode {
	return []Mode{ModeSelfish, ModeWithhold, ModeEquivocate, ModeStall, ModeLieWork, ModeJunk}
}

// ChainLevel reports whether m withholds or equivocates blocks (as opposed
// to mining honestly and misbehaving as a peer).
func (m Mode) ChainLevel() bool {
	return m == ModeSelfish || m == ModeWithhold || m == ModeEquivocate
}

// ParseMode parses a --adversary value.
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToLower(strings.TrimSpace(s)))
	if m == ModeHonest {
		return m, nil
	}
	for _, k := range Modes() {
		if m == k {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown mode %q (want selfish, withhold, equivocate, stall, lie-work or junk)", s)
}

// DefaultWithholdDepth is the release depth of the withhold strategy when
// --withhold-depth is not given: the whitepaper's merchant waiting z = 6.
const DefaultWithholdDepth = 6

// Action is a strategy's answer to an event.
type Action struct {
	// Publish lists private blocks to announce now, parents first.
	Publish []chain.Hash
	// Adopt abandons the private branch: the node mines on the public
	// tip again (its chain has already switched to it if it has more
	// work).
	Adopt bool
}

// Stats counts what a strategy did. The JSON names are those of RPC
// getadversaryinfo.
type Stats struct {
	// Mined counts the blocks this node found.
	Mined uint64 `json:"mined"`
	// Withheld counts the blocks kept private when found.
	Withheld uint64 `json:"withheld"`
	// Published counts the private blocks released later.
	Published uint64 `json:"published"`
	// Releases counts the times the strategy published blocks.
	Releases uint64 `json:"releases"`
	// Overrides counts the releases that made the private branch longer
	// than the public one (the honest blocks above the fork were
	// orphaned); OrphansCaused sums the honest blocks so orphaned.
	Overrides     uint64 `json:"overrides"`
	OrphansCaused uint64 `json:"orphans_caused"`
	// Abandoned counts the private blocks given up when the public chain
	// won (Adopt).
	Abandoned uint64 `json:"abandoned"`
}

// Strategy is a chain-level adversary: it is told about each block this
// node finds and each block by which the public chain grows, and answers
// what to publish.
type Strategy interface {
	// OwnBlock reports a block this node found on its private tip.
	OwnBlock(h chain.Hash) Action
	// OthersBlock reports that the public chain grew by one block found
	// by someone else.
	OthersBlock() Action
	// State describes the current state (e.g. "0", "0'", "2", "n=5").
	State() string
	// Lead returns the private branch's length and the public chain's
	// length since the fork point.
	Lead() (private, public int)
	// Unpublished returns the private blocks not yet announced.
	Unpublished() []chain.Hash
	// Stats returns the counters.
	Stats() Stats
}

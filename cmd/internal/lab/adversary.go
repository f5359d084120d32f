package lab

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/node/adversary"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Role is a node's dishonest setting in the lab: an adversary mode
// (quarryd --adversary, with --withhold-depth and --withhold-spend) and a
// clock offset (--clock-offset). The zero value is an honest node with a
// true clock.
type Role struct {
	Adversary     string `json:"adversary,omitempty"`
	WithholdDepth int    `json:"withhold_depth,omitempty"`
	WithholdSpend bool   `json:"withhold_spend,omitempty"`
	// WithholdGiveUp is --withhold-give-up (experiments only; 0: the
	// node's default).
	WithholdGiveUp int           `json:"withhold_give_up,omitempty"`
	ClockOffset    time.Duration `json:"clock_offset_ns,omitempty"`
}

// Honest reports whether r is the zero role.
func (r Role) Honest() bool { return r == Role{} }

// String describes r ("selfish", "withhold:3", "withhold:3:spend",
// "clock +3h0m0s", ...).
func (r Role) String() string {
	var parts []string
	if r.Adversary != "" {
		s := r.Adversary
		if r.WithholdDepth > 0 {
			s += ":" + strconv.Itoa(r.WithholdDepth)
		}
		if r.WithholdSpend {
			s += ":spend"
		}
		parts = append(parts, s)
	}
	if r.ClockOffset != 0 {
		sign := "+"
		if r.ClockOffset < 0 {
			sign = ""
		}
		parts = append(parts, "clock "+sign+r.ClockOffset.String())
	}
	if len(parts) == 0 {
		return "honest"
	}
	return strings.Join(parts, ", ")
}

// args returns the quarryd flags of r.
func (r Role) args() []string {
	var a []string
	if r.Adversary != "" {
		a = append(a, "--adversary", r.Adversary)
	}
	if r.WithholdDepth > 0 {
		a = append(a, "--withhold-depth", strconv.Itoa(r.WithholdDepth))
	}
	if r.WithholdSpend {
		a = append(a, "--withhold-spend")
	}
	if r.WithholdGiveUp > 0 {
		a = append(a, "--withhold-give-up", strconv.Itoa(r.WithholdGiveUp))
	}
	if r.ClockOffset != 0 {
		a = append(a, "--clock-offset", r.ClockOffset.String())
	}
	return a
}

// ParseAdversaries parses `up --adversary` values: I=MODE,
// I=withhold:DEPTH, I=withhold:spend or I=withhold:DEPTH:spend (a
// double-spending withhold node), repeatable (2=selfish). n is the number
// of nodes.
func ParseAdversaries(specs []string, n int, roles map[int]Role) error {
	for _, spec := range specs {
		i, val, err := nodeSpec(spec, n, "--adversary")
		if err != nil {
			return err
		}
		mode, opts, _ := strings.Cut(val, ":")
		m, err := adversary.ParseMode(mode)
		if err != nil || m == adversary.ModeHonest {
			return fmt.Errorf("--adversary %s: want NODE=MODE with MODE one of %v", spec, adversary.Modes())
		}
		r := roles[i]
		r.Adversary = string(m)
		if opts != "" && m != adversary.ModeWithhold {
			return fmt.Errorf("--adversary %s: only withhold takes a depth or spend", spec)
		}
		depth, spend, _ := strings.Cut(opts, ":")
		if depth == "spend" && spend == "" {
			depth, spend = "", "spend"
		}
		if depth != "" {
			if r.WithholdDepth, err = strconv.Atoi(depth); err != nil || r.WithholdDepth < 1 {
				return fmt.Errorf("--adversary %s: bad depth", spec)
			}
		}
		switch spend {
		case "":
		case "spend":
			r.WithholdSpend = true
		default:
			return fmt.Errorf("--adversary %s: want withhold[:DEPTH][:spend]", spec)
		}
		roles[i] = r
	}
	return nil
}

// ParseClockOffsets parses `up --clock-offset` values: I=DURATION
// (1=3h, 2=-30m).
func ParseClockOffsets(specs []string, n int, roles map[int]Role) error {
	for _, spec := range specs {
		i, val, err := nodeSpec(spec, n, "--clock-offset")
		if err != nil {
			return err
		}
		d, err := time.ParseDuration(val)
		if err != nil {
			return fmt.Errorf("--clock-offset %s: %v", spec, err)
		}
		r := roles[i]
		r.ClockOffset = d
		roles[i] = r
	}
	return nil
}

func nodeSpec(spec string, n int, flag string) (int, string, error) {
	idx, val, ok := strings.Cut(spec, "=")
	i, err := strconv.Atoi(idx)
	if !ok || err != nil || val == "" {
		return 0, "", fmt.Errorf("%s %q: want NODE=VALUE, e.g. 2=selfish", flag, spec)
	}
	if i < 0 || i >= n {
		return 0, "", fmt.Errorf("%s %q: no node %d (nodes 0..%d)", flag, spec, i, n-1)
	}
	return i, val, nil
}

// bannedByPeers reports whether the role's node is expected to be banned
// by its peers as soon as they see it (lie-work, junk).
func (r Role) bannedByPeers() bool {
	m := adversary.Mode(r.Adversary)
	return m == adversary.ModeLieWork || m == adversary.ModeJunk
}

// AdversaryInfo returns node i's getadversaryinfo.
func (l *Lab) AdversaryInfo(ctx context.Context, i int) (rpcjson.AdversaryInfo, error) {
	return call[rpcjson.AdversaryInfo](ctx, l, i, "getadversaryinfo")
}

// AdversaryLine describes what an adversarial node did, from its
// getadversaryinfo.
func AdversaryLine(i int, role Role, a rpcjson.AdversaryInfo) string {
	s := fmt.Sprintf("node%d %s:", i, role)
	switch a.Mode {
	case "selfish", "withhold":
		s += fmt.Sprintf(" state %s (private %d, public %d), mined %d, withheld %d, published %d in %d releases, %d overrides orphaning %d honest blocks, %d private blocks abandoned",
			a.State, a.Private, a.Public, a.Mined, a.Withheld, a.Published, a.Releases, a.Overrides, a.OrphansCaused, a.Abandoned)
		if a.Races > 0 {
			s += fmt.Sprintf("; races %d, honest blocks on ours %d (gamma %.2f)", a.Races, a.RacesOnOurs, float64(a.RacesOnOurs)/float64(a.Races))
		}
		if a.Ignored > 0 {
			s += fmt.Sprintf("; %d public blocks ignored", a.Ignored)
		}
		if n := len(a.DoubleSpends); n > 0 {
			count := map[string]int{}
			for _, d := range a.DoubleSpends {
				count[d.Outcome]++
			}
			last := a.DoubleSpends[n-1]
			s += fmt.Sprintf("; double spends: %d reversed, %d abandoned, %d failed, %d pending (last: payment %.8s %s, %d confirmation(s))",
				count["reversed"], count["abandoned"], count["failed"], count["pending"], last.Payment, last.Outcome, last.Confirmations)
		}
	case "equivocate":
		s += fmt.Sprintf(" %d twin pairs announced, mined %d, %d held blocks went stale", a.Twins, a.Mined, a.Abandoned)
		if sends := latestTwinSends(a.TwinSends); len(sends) > 0 {
			var to []string
			for _, x := range sends {
				to = append(to, fmt.Sprintf("%s to %s", x.Which, shortID(x.Peer)))
			}
			s += fmt.Sprintf("; last pair at height %d: %s", sends[0].Height, strings.Join(to, ", "))
		}
	case "stall":
		s += fmt.Sprintf(" %d peer requests stalled", a.Stalls)
	case "junk":
		s += fmt.Sprintf(" %d pieces of junk sent", a.Junk)
		if len(a.JunkKinds) > 0 {
			kinds := make([]string, 0, len(a.JunkKinds))
			for k, n := range a.JunkKinds {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
			}
			sort.Strings(kinds)
			s += " (" + strings.Join(kinds, ", ") + ")"
		}
	case "lie-work":
		s += " advertises 2^200 chain work"
	default:
		s += " honest miner"
	}
	if a.ClockOffset != 0 {
		s += fmt.Sprintf("; clock offset %s", time.Duration(a.ClockOffset*float64(time.Second)))
	}
	return s
}

// printAdversaries writes one line per dishonest node (nothing when all
// are honest).
func (l *Lab) printAdversaries(ctx context.Context, w io.Writer) {
	if lines := l.adversaryLines(ctx); len(lines) > 0 {
		fmt.Fprintf(w, "adversaries:\n  %s\n", strings.Join(lines, "\n  "))
	}
}

// adversaryLines describes every dishonest node.
func (l *Lab) adversaryLines(ctx context.Context) []string {
	var lines []string
	for i, n := range l.State.Nodes {
		if n.Role.Honest() {
			continue
		}
		if !l.Running(i) {
			lines = append(lines, fmt.Sprintf("node%d %s: down", i, n.Role))
			continue
		}
		a, err := l.AdversaryInfo(ctx, i)
		if err != nil {
			lines = append(lines, fmt.Sprintf("node%d %s: %v", i, n.Role, err))
			continue
		}
		lines = append(lines, AdversaryLine(i, n.Role, a))
	}
	return lines
}

// roleNote is the suffix of a node's line in up's output.
func roleNote(r Role) string {
	if r.Honest() {
		return ""
	}
	return "  ADVERSARY " + r.String()
}

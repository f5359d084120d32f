package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Scenario is a scripted lab run (`devnet run FILE`): steps executed in
// order, each optionally not before an offset from the start, ending
// with assertions. ReadScenario documents the file format.
type Scenario struct {
	Name  string         `toml:"name" yaml:"name"`
	Steps []ScenarioStep `toml:"step" yaml:"steps"`
}

// ScenarioStep is one step. Do names the action; the other fields are
// its arguments (unused ones must be left out):
//
//   - up: n, network, seed, topology, link-delay, link-bandwidth, shaped,
//     block-time, hashrate (total H/s), shares (percent per node), mine,
//     adversary (["3=selfish", "2=withhold:4"]), clock-offset (["1=3h"])
//   - link: a, b, delay, jitter, bandwidth, down (true/false)
//   - partition: groups ([[0,1],[2,3]]), where (gater or links)
//   - heal: timeout (waits for agreement and records the heal)
//   - tx: from, to, amount (coins)
//   - pay: from, to, amount: node from's wallet pays node to
//     (sendtoaddress; on a withhold:DEPTH:spend node, a double spend)
//   - doublespend: a, b, amount
//   - generate: node, blocks
//   - wait-until: until ("agree", "height >= N", "peers >= N",
//     "side-blocks >= N": every partition side N blocks past the fork,
//     "releases >= N": the dishonest nodes published private blocks N
//     times, "honest-agree": the nodes without an adversary role are on
//     one tip), timeout
//   - assert: check ("agree-within" with within, "spend-confirmed" with
//     spend 1 or 2, "max-reorg-depth" with max, "agree",
//     "payment-reversed": the last pay step's payment was replaced by
//     the payer's conflicting spend on every honest node)
//
// At (optional) delays the step until that long after the scenario
// started.
type ScenarioStep struct {
	Do      string `toml:"do" yaml:"do"`
	At      string `toml:"at" yaml:"at"`
	Timeout string `toml:"timeout" yaml:"timeout"`

	N             int       `toml:"n" yaml:"n"`
	Network       string    `toml:"network" yaml:"network"`
	Seed          string    `toml:"seed" yaml:"seed"`
	Topology      string    `toml:"topology" yaml:"topology"`
	LinkDelay     string    `toml:"link-delay" yaml:"link-delay"`
	LinkBandwidth string    `toml:"link-bandwidth" yaml:"link-bandwidth"`
	Shaped        bool      `toml:"shaped" yaml:"shaped"`
	BlockTime     string    `toml:"block-time" yaml:"block-time"`
	Hashrate      float64   `toml:"hashrate" yaml:"hashrate"`
	Mine          *bool     `toml:"mine" yaml:"mine"`
	Shares        []float64 `toml:"shares" yaml:"shares"`
	Adversary     []string  `toml:"adversary" yaml:"adversary"`
	ClockOffset   []string  `toml:"clock-offset" yaml:"clock-offset"`

	A         *int   `toml:"a" yaml:"a"`
	B         *int   `toml:"b" yaml:"b"`
	Delay     string `toml:"delay" yaml:"delay"`
	Jitter    string `toml:"jitter" yaml:"jitter"`
	Bandwidth string `toml:"bandwidth" yaml:"bandwidth"`
	Down      *bool  `toml:"down" yaml:"down"`

	Groups [][]int `toml:"groups" yaml:"groups"`
	Where  string  `toml:"where" yaml:"where"`

	From   int    `toml:"from" yaml:"from"`
	To     int    `toml:"to" yaml:"to"`
	Amount string `toml:"amount" yaml:"amount"`
	Node   int    `toml:"node" yaml:"node"`
	Blocks int    `toml:"blocks" yaml:"blocks"`

	Until  string `toml:"until" yaml:"until"`
	Check  string `toml:"check" yaml:"check"`
	Within string `toml:"within" yaml:"within"`
	Spend  int    `toml:"spend" yaml:"spend"`
	Max    int    `toml:"max" yaml:"max"`
}

// ReadScenario reads a scenario from a TOML file (one [[step]] table per
// step) or a YAML file (a "steps" list), with the keys of ScenarioStep:
//
//	name = "link partition"
//	[[step]]
//	do = "up"
//	n = 4
//	network = "regtest"
//	topology = "ring"
//	link-delay = "50ms"
//	[[step]]
//	do = "partition"
//	groups = [[0, 1], [2, 3]]
//	where = "links"
func ReadScenario(path string) (*Scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sc Scenario
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		md, err := toml.Decode(string(raw), &sc)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", path, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return nil, fmt.Errorf("scenario %s: unknown key %q", path, undec[0].String())
		}
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&sc); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("scenario %s: want a .toml, .yaml or .yml file", path)
	}
	if sc.Name == "" {
		sc.Name = filepath.Base(path)
	}
	if len(sc.Steps) == 0 || sc.Steps[0].Do != "up" {
		return nil, fmt.Errorf("scenario %s: the first step must be up", path)
	}
	for i, st := range sc.Steps {
		if err := st.check(); err != nil {
			return nil, fmt.Errorf("scenario %s: step %d (%s): %w", path, i+1, st.Do, err)
		}
	}
	return &sc, nil
}

// check validates a step's arguments without running it.
func (st ScenarioStep) check() error {
	for _, d := range []struct{ name, v string }{{"at", st.At}, {"timeout", st.Timeout}, {"within", st.Within}, {"block-time", st.BlockTime}, {"jitter", st.Jitter}} {
		if d.v != "" {
			if _, err := parseNonNegDuration(d.name, d.v); err != nil {
				return err
			}
		}
	}
	switch st.Do {
	case "up", "heal", "tx", "doublespend", "generate", "pay":
	case "link":
		if st.A == nil || st.B == nil {
			return errors.New("want nodes a and b")
		}
	case "partition":
		if len(st.Groups) < 2 {
			return errors.New("want groups, e.g. [[0, 1], [2, 3]]")
		}
	case "wait-until":
		if _, _, err := parseCondition(st.Until); err != nil {
			return err
		}
	case "assert":
		switch st.Check {
		case "agree", "agree-within", "spend-confirmed", "max-reorg-depth", "payment-reversed":
		default:
			return fmt.Errorf("check %q: want agree, agree-within, spend-confirmed, max-reorg-depth or payment-reversed", st.Check)
		}
		if st.Check == "agree-within" && st.Within == "" {
			return errors.New("agree-within needs within")
		}
		if st.Check == "spend-confirmed" && st.Spend != 1 && st.Spend != 2 {
			return errors.New("spend-confirmed needs spend 1 or 2")
		}
	default:
		return fmt.Errorf("unknown step %q (want up, link, partition, heal, tx, pay, doublespend, generate, wait-until or assert)", st.Do)
	}
	return nil
}

// parseCondition parses a wait-until condition: "agree" or "<what> >= N"
// with what one of height, peers, side-blocks.
func parseCondition(s string) (what string, n int, err error) {
	s = strings.TrimSpace(s)
	if s == "agree" || s == "honest-agree" {
		return s, 0, nil
	}
	what, num, ok := strings.Cut(s, ">=")
	what = strings.TrimSpace(what)
	if ok {
		n, err = strconv.Atoi(strings.TrimSpace(num))
	}
	if !ok || err != nil || (what != "height" && what != "peers" && what != "side-blocks" && what != "releases") {
		return "", 0, fmt.Errorf("until %q: want agree, honest-agree, height >= N, peers >= N, side-blocks >= N or releases >= N", s)
	}
	return what, n, nil
}

// ScenarioOptions configure RunScenario.
type ScenarioOptions struct {
	// Dir is the lab directory (it must not hold a lab); Bin holds
	// quarryd; Devnet is the devnet program (a detached shaped lab's
	// proxy daemon).
	Dir, Bin, Devnet string
	// Attached runs the nodes attached to this program (tests).
	Attached bool
	// Out receives one line per step.
	Out io.Writer
}

// ErrAssertion is wrapped by RunScenario's error when an assert step
// failed (rather than a step that could not run).
var ErrAssertion = errors.New("assertion failed")

// RunScenario runs sc and stops the lab's processes at the end. It
// returns an error wrapping ErrAssertion when an assertion fails, or the
// error of the step that could not run.
func RunScenario(ctx context.Context, sc *Scenario, opts ScenarioOptions) (err error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	start := time.Now()
	r := &scenarioRun{opts: opts, out: out}
	defer func() {
		if r.lab != nil {
			if derr := r.lab.Down(10 * time.Second); derr != nil && err == nil {
				err = derr
			}
		}
	}()
	fmt.Fprintf(out, "scenario %s: %d steps\n", sc.Name, len(sc.Steps))
	for i, st := range sc.Steps {
		if st.At != "" {
			at, _ := parseNonNegDuration("at", st.At)
			if d := time.Until(start.Add(at)); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
		}
		timeout := 2 * time.Minute
		if st.Timeout != "" {
			timeout, _ = parseNonNegDuration("timeout", st.Timeout)
		}
		sctx, cancel := context.WithTimeout(ctx, timeout)
		msg, err := r.step(sctx, st)
		cancel()
		elapsed := time.Since(start).Seconds()
		if err != nil {
			fmt.Fprintf(out, "[%6.1fs] step %d %s: FAIL: %v\n", elapsed, i+1, st.Do, err)
			return fmt.Errorf("step %d (%s): %w", i+1, st.Do, err)
		}
		fmt.Fprintf(out, "[%6.1fs] step %d %s: %s\n", elapsed, i+1, st.Do, msg)
	}
	fmt.Fprintf(out, "scenario %s: PASS (%.1fs)\n", sc.Name, time.Since(start).Seconds())
	return nil
}

// scenarioRun is the state of one RunScenario.
type scenarioRun struct {
	opts ScenarioOptions
	out  io.Writer
	lab  *Lab
	heal *HealRecord
	ds   *DoubleSpendRecord
	// paid is the latest pay step; wallets the funded wallet addresses
	// of the paying nodes.
	paid    *payRecord
	wallets map[int]string
}

// step runs one step and describes what it did.
func (r *scenarioRun) step(ctx context.Context, st ScenarioStep) (string, error) {
	if st.Do != "up" && r.lab == nil {
		return "", errors.New("no lab yet (the first step must be up)")
	}
	l := r.lab
	switch st.Do {
	case "up":
		return r.up(ctx, st)
	case "link":
		var ch LinkChange
		if st.Delay != "" {
			d, j, err := ParseDelay(st.Delay)
			if err != nil {
				return "", err
			}
			ch.Delay = &d
			if j > 0 {
				ch.Jitter = &j
			}
		}
		if st.Jitter != "" {
			j, _ := parseNonNegDuration("jitter", st.Jitter)
			ch.Jitter = &j
		}
		if st.Bandwidth != "" {
			bw, err := ParseBandwidth(st.Bandwidth)
			if err != nil {
				return "", err
			}
			ch.Bandwidth = &bw
		}
		ch.Down = st.Down
		k, err := l.SetLink(ctx, *st.A, *st.B, ch)
		if err != nil {
			return "", err
		}
		return "link " + k.Name() + ": " + k.Conditions(), nil
	case "partition":
		var args []string
		for _, g := range st.Groups {
			var s []string
			for _, i := range g {
				s = append(s, strconv.Itoa(i))
			}
			args = append(args, strings.Join(s, ","))
		}
		groups, err := ParseGroups(args, l.N())
		if err != nil {
			return "", err
		}
		where := st.Where
		if where == "" {
			where = PartitionGater
		}
		if err := l.PartitionAt(ctx, groups, where); err != nil {
			return "", err
		}
		return fmt.Sprintf("%s at the %s", strings.Join(args, " | "), where), nil
	case "heal":
		dl, _ := ctx.Deadline()
		rec, err := l.Heal(ctx, HealOptions{Wait: true, Timeout: time.Until(dl)})
		if err != nil {
			return "", err
		}
		r.heal = rec
		return fmt.Sprintf("all nodes agree after %s, %d reorgs", rec.Agreement.Round(time.Millisecond), len(rec.Reorgs)), nil
	case "tx":
		amt, err := parseCoins(st.Amount)
		if err != nil {
			return "", err
		}
		if _, err := l.Node(st.To); err != nil {
			return "", err
		}
		tx, err := l.Send(ctx, Transfer{From: st.From, To: l.State.Nodes[st.To].Address, Amount: amt, Fee: chain.Coin / 10000, Via: st.From})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s node%d -> node%d %s coins", tx.TxID(), st.From, st.To, FormatCoins(amt)), nil
	case "doublespend":
		amt, err := parseCoins(st.Amount)
		if err != nil {
			return "", err
		}
		if st.A == nil || st.B == nil {
			return "", errors.New("want nodes a and b")
		}
		rec, err := l.DoubleSpend(ctx, DoubleSpendOptions{A: *st.A, B: *st.B, Amount: amt})
		if err != nil {
			return "", err
		}
		r.ds = rec
		return fmt.Sprintf("spend 1 %s via node%d, spend 2 %s via node%d", rec.TxIDs[0], rec.Nodes[0], rec.TxIDs[1], rec.Nodes[1]), nil
	case "pay":
		return r.pay(ctx, st)
	case "generate":
		hs, err := l.Generate(ctx, st.Node, max(st.Blocks, 1))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("node%d mined %d blocks", st.Node, len(hs)), nil
	case "wait-until":
		return r.waitUntil(ctx, st.Until)
	case "assert":
		return r.assert(ctx, st)
	}
	return "", fmt.Errorf("unknown step %q", st.Do)
}

func parseCoins(s string) (uint64, error) {
	if s == "" {
		return chain.Coin, nil
	}
	a, err := rpcjson.ParseAmount(s)
	if err != nil || a <= 0 {
		return 0, fmt.Errorf("amount %q: want a positive number of coins", s)
	}
	return uint64(a), nil
}

func (r *scenarioRun) up(ctx context.Context, st ScenarioStep) (string, error) {
	if r.lab != nil {
		return "", errors.New("the lab is already up")
	}
	opts := UpOptions{N: st.N, Seed: st.Seed, Network: st.Network, Topology: st.Topology, Shaped: st.Shaped,
		TotalHashrate: st.Hashrate, Shares: st.Shares, Attached: r.opts.Attached, Devnet: r.opts.Devnet}
	if opts.N == 0 {
		opts.N = 4
	}
	if len(st.Adversary)+len(st.ClockOffset) > 0 {
		opts.Roles = map[int]Role{}
		if err := ParseAdversaries(st.Adversary, opts.N, opts.Roles); err != nil {
			return "", err
		}
		if err := ParseClockOffsets(st.ClockOffset, opts.N, opts.Roles); err != nil {
			return "", err
		}
	}
	if opts.Network == "" {
		opts.Network = "dev"
	}
	if opts.TotalHashrate == 0 {
		opts.TotalHashrate = 2e5
	}
	opts.Mine = opts.Network != "regtest"
	if st.Mine != nil {
		opts.Mine = *st.Mine
	}
	var err error
	if st.LinkDelay != "" {
		if opts.LinkDelay, opts.LinkJitter, err = ParseDelay(st.LinkDelay); err != nil {
			return "", err
		}
	}
	if st.LinkBandwidth != "" {
		if opts.LinkBandwidth, err = ParseBandwidth(st.LinkBandwidth); err != nil {
			return "", err
		}
	}
	if st.BlockTime != "" {
		opts.BlockTime, _ = parseNonNegDuration("block-time", st.BlockTime)
	}
	if _, err := OpenLab(r.opts.Dir, r.opts.Bin, nil); !errors.Is(err, ErrNoLab) {
		return "", fmt.Errorf("%s already holds a lab (a scenario starts its own: pass another --dir or clean it)", r.opts.Dir)
	}
	l, err := CreateLab(r.opts.Dir, r.opts.Bin, opts)
	if err != nil {
		return "", err
	}
	r.lab = l
	if err := l.Up(ctx, opts); err != nil {
		return "", err
	}
	msg := fmt.Sprintf("%d %s nodes, %s topology (%d links, shaped %v)", l.N(), l.State.Network, l.State.Topology, len(l.State.Links), l.State.Shaped)
	for i, n := range l.State.Nodes {
		if !n.Role.Honest() {
			msg += fmt.Sprintf("; node%d %s", i, n.Role)
		}
	}
	return msg, nil
}

func (r *scenarioRun) waitUntil(ctx context.Context, cond string) (string, error) {
	what, n, err := parseCondition(cond)
	if err != nil {
		return "", err
	}
	l := r.lab
	var last string
	err = Poll(ctx, 100*time.Millisecond, func() (bool, error) {
		switch what {
		case "agree":
			a, err := l.CheckAgreement(ctx)
			last = a.Reason
			return err == nil && a.Agree, nil
		case "honest-agree":
			a, err := l.checkAgreementAmong(ctx, func(r Role) bool { return r.Adversary != "" })
			last = a.Reason
			return err == nil && a.Agree, nil
		case "releases":
			total := uint64(0)
			for i, nd := range l.State.Nodes {
				if nd.Role.Adversary == "" {
					continue
				}
				info, err := l.AdversaryInfo(ctx, i)
				if err != nil {
					return false, nil
				}
				total += info.Releases
			}
			last = fmt.Sprintf("%d releases", total)
			return total >= uint64(n), nil
		case "height", "peers":
			for i := 0; i < l.N(); i++ {
				st := l.NodeStatus(ctx, i)
				v := int(st.Height)
				if what == "peers" {
					v = st.Peers
				}
				if st.Err != nil || v < n {
					last = fmt.Sprintf("node%d %s %d", i, what, v)
					return false, nil
				}
			}
			return true, nil
		case "side-blocks":
			p := l.State.Partition
			if p == nil {
				return false, errors.New("side-blocks: no partition")
			}
			for _, g := range p.Groups[1:] {
				_, fork, err := l.ForkPoint(ctx, p.Groups[0][0], g[0])
				if err != nil {
					return false, nil
				}
				for _, side := range []int{p.Groups[0][0], g[0]} {
					si, err := l.StateInfo(ctx, side)
					if err != nil || si.Height < fork+uint64(n) {
						last = fmt.Sprintf("node%d is %d blocks past the fork", side, si.Height-min(si.Height, fork))
						return false, nil
					}
				}
			}
			return true, nil
		}
		return false, fmt.Errorf("unknown condition %q", what)
	})
	if err != nil {
		return "", fmt.Errorf("%s: %w (%s)", cond, err, last)
	}
	return cond, nil
}

func (r *scenarioRun) assert(ctx context.Context, st ScenarioStep) (string, error) {
	l := r.lab
	switch st.Check {
	case "agree":
		a, err := l.CheckAgreement(ctx)
		if err != nil {
			return "", err
		}
		if !a.Agree {
			return "", fmt.Errorf("%w: nodes disagree: %s", ErrAssertion, a.Reason)
		}
		return fmt.Sprintf("all nodes agree on height %d", a.Height), nil
	case "agree-within":
		within, _ := parseNonNegDuration("within", st.Within)
		if r.heal == nil {
			return "", fmt.Errorf("%w: agree-within: no heal step ran", ErrAssertion)
		}
		if r.heal.Agreement > within {
			return "", fmt.Errorf("%w: all nodes agreed %s after the heal, more than %s", ErrAssertion, r.heal.Agreement.Round(time.Millisecond), within)
		}
		return fmt.Sprintf("agreed %s after heal (<= %s)", r.heal.Agreement.Round(time.Millisecond), within), nil
	case "spend-confirmed":
		if r.ds == nil {
			return "", fmt.Errorf("%w: spend-confirmed: no doublespend step ran", ErrAssertion)
		}
		id, err := chain.ParseHash(r.ds.TxIDs[st.Spend-1])
		if err != nil {
			return "", err
		}
		for i := 0; i < l.N(); i++ {
			ts, err := l.TxStatus(ctx, i, id)
			if err != nil {
				return "", err
			}
			if ts.Block == nil {
				return "", fmt.Errorf("%w: spend %d (%s) is not confirmed on node%d", ErrAssertion, st.Spend, id, i)
			}
		}
		return fmt.Sprintf("spend %d confirmed on every node", st.Spend), nil
	case "max-reorg-depth":
		if r.heal == nil {
			return "", fmt.Errorf("%w: max-reorg-depth: no heal step ran", ErrAssertion)
		}
		deepest := 0
		for _, ev := range r.heal.Reorgs {
			deepest = max(deepest, ev.Depth)
		}
		if deepest > st.Max {
			return "", fmt.Errorf("%w: a reorg of depth %d, more than %d", ErrAssertion, deepest, st.Max)
		}
		return fmt.Sprintf("deepest reorg %d (<= %d)", deepest, st.Max), nil
	case "payment-reversed":
		return r.paymentReversed(ctx)
	}
	return "", fmt.Errorf("unknown check %q", st.Check)
}

package lab

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"go.yaml.in/yaml/v3"
)

// Link is one edge of the lab's topology: nodes A and B (A < B) dial each
// other, and, in a shaped lab, every byte between them passes through the
// link's proxies with the link's conditions.
type Link struct {
	A int `json:"a"`
	B int `json:"b"`
	// Delay is the one-way latency added in each direction; Jitter its
	// random spread (uniform in ±Jitter).
	Delay  time.Duration `json:"delay_ns,omitempty"`
	Jitter time.Duration `json:"jitter_ns,omitempty"`
	// Bandwidth is the link's capacity per direction in bits per second
	// (0: unlimited).
	Bandwidth int64 `json:"bandwidth_bps,omitempty"`
	// Down cuts the link: its proxies refuse and close connections.
	Down bool `json:"down,omitempty"`
	// Ports are the proxies' loopback listen ports in a shaped lab:
	// Ports[0] is where A dials B, Ports[1] where B dials A.
	Ports [2]int `json:"ports,omitempty"`
}

// Name returns "A-B".
func (k Link) Name() string { return fmt.Sprintf("%d-%d", k.A, k.B) }

// Conditions returns the link's conditions in one line, such as
// "100ms±20ms 1mbit" or "instant" ("down" when cut).
func (k Link) Conditions() string {
	var parts []string
	if k.Down {
		parts = append(parts, "down")
	}
	if k.Delay > 0 || k.Jitter > 0 {
		s := k.Delay.String()
		if k.Jitter > 0 {
			s += "±" + k.Jitter.String()
		}
		parts = append(parts, s)
	}
	if k.Bandwidth > 0 {
		parts = append(parts, FormatBandwidth(k.Bandwidth))
	}
	if len(parts) == 0 {
		return "instant"
	}
	return strings.Join(parts, " ")
}

// Shaped reports whether the link needs a proxy to hold its conditions.
func (k Link) Shaped() bool { return k.Delay > 0 || k.Jitter > 0 || k.Bandwidth > 0 || k.Down }

// Topologies names the built-in topologies accepted by ParseTopology (or
// a file path).
const Topologies = "mesh, ring, line, star, random:K or a TOML/YAML edge-list file"

// ParseTopology returns the links of an n-node lab for spec: "mesh"
// (every pair), "ring", "line", "star" (node 0 is the hub), "random:K"
// (a random connected graph in which every node has at least K
// neighbours where possible, drawn from seed) or the path of a TOML or
// YAML edge list (see ReadTopologyFile). The links are sorted by (A, B)
// and each pair appears once. It is safe for concurrent use.
func ParseTopology(spec string, n int, seed string) ([]Link, error) {
	if n < 1 {
		return nil, fmt.Errorf("topology for %d nodes", n)
	}
	var links []Link
	switch {
	case spec == "" || spec == "mesh":
		for a := 0; a < n; a++ {
			for b := a + 1; b < n; b++ {
				links = append(links, Link{A: a, B: b})
			}
		}
	case spec == "line" || spec == "ring":
		for a := 0; a+1 < n; a++ {
			links = append(links, Link{A: a, B: a + 1})
		}
		if spec == "ring" && n > 2 {
			links = append(links, Link{A: 0, B: n - 1})
		}
	case spec == "star":
		for b := 1; b < n; b++ {
			links = append(links, Link{A: 0, B: b})
		}
	case strings.HasPrefix(spec, "random:"):
		k, err := strconv.Atoi(strings.TrimPrefix(spec, "random:"))
		if err != nil || k < 1 {
			return nil, fmt.Errorf("topology %q: want random:K with K >= 1 neighbours per node", spec)
		}
		links = randomGraph(n, k, seed)
	default:
		if !strings.ContainsAny(spec, "./") && filepath.Ext(spec) == "" {
			return nil, fmt.Errorf("unknown topology %q (want %s)", spec, Topologies)
		}
		var err error
		if links, err = ReadTopologyFile(spec, n); err != nil {
			return nil, err
		}
	}
	sortLinks(links)
	return links, nil
}

func sortLinks(links []Link) {
	slices.SortFunc(links, func(x, y Link) int {
		if x.A != y.A {
			return x.A - y.A
		}
		return x.B - y.B
	})
}

// randomGraph returns a connected graph on n nodes: a random ring (so
// every node is reachable) plus random chords between nodes that have
// fewer than k neighbours, until no such pair is left. The same seed
// gives the same graph.
func randomGraph(n, k int, seed string) []Link {
	if n == 1 {
		return nil
	}
	sum := sha256.Sum256([]byte("topology/" + seed))
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
	perm := rng.Perm(n)
	edges := map[[2]int]bool{}
	deg := make([]int, n)
	add := func(a, b int) bool {
		if a == b {
			return false
		}
		if a > b {
			a, b = b, a
		}
		if edges[[2]int{a, b}] {
			return false
		}
		edges[[2]int{a, b}] = true
		deg[a]++
		deg[b]++
		return true
	}
	for i := range perm {
		if n == 2 && i == 1 {
			break
		}
		add(perm[i], perm[(i+1)%n])
	}
	for {
		var short []int
		for i := 0; i < n; i++ {
			if deg[i] < k {
				short = append(short, i)
			}
		}
		if len(short) == 0 {
			break
		}
		// Pair a node that lacks neighbours with a random node it is not
		// linked to yet, preferring nodes that lack neighbours too.
		a := short[rng.IntN(len(short))]
		var cands, pref []int
		for b := 0; b < n; b++ {
			x, y := min(a, b), max(a, b)
			if b != a && !edges[[2]int{x, y}] {
				cands = append(cands, b)
				if deg[b] < k {
					pref = append(pref, b)
				}
			}
		}
		if len(pref) > 0 {
			cands = pref
		}
		if len(cands) == 0 {
			deg[a] = k // linked to everyone already
			continue
		}
		add(a, cands[rng.IntN(len(cands))])
	}
	out := make([]Link, 0, len(edges))
	for e := range edges {
		out = append(out, Link{A: e[0], B: e[1]})
	}
	return out
}

// topologyFile is the edge-list format of ReadTopologyFile.
type topologyFile struct {
	Links []fileLink `toml:"link" yaml:"links"`
}

type fileLink struct {
	A         *int   `toml:"a" yaml:"a"`
	B         *int   `toml:"b" yaml:"b"`
	Delay     string `toml:"delay" yaml:"delay"`
	Jitter    string `toml:"jitter" yaml:"jitter"`
	Bandwidth string `toml:"bandwidth" yaml:"bandwidth"`
	State     string `toml:"state" yaml:"state"`
}

// ReadTopologyFile reads an edge list for an n-node lab. TOML (.toml) has
// one [[link]] table per link, YAML (.yaml, .yml) a "links" list; each
// link names its nodes a and b and optionally its delay ("100ms", or
// "100ms±20ms"), jitter, bandwidth ("1mbit") and state ("up" or
// "down"):
//
//	[[link]]
//	a = 0
//	b = 1
//	delay = "100ms"
//	bandwidth = "1mbit"
func ReadTopologyFile(path string, n int) ([]Link, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("topology file: %w", err)
	}
	var f topologyFile
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		md, err := toml.Decode(string(raw), &f)
		if err != nil {
			return nil, fmt.Errorf("topology file %s: %w", path, err)
		}
		if undec := md.Undecoded(); len(undec) > 0 {
			return nil, fmt.Errorf("topology file %s: unknown key %q", path, undec[0].String())
		}
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(strings.NewReader(string(raw)))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("topology file %s: %w", path, err)
		}
	default:
		return nil, fmt.Errorf("topology file %s: want a .toml, .yaml or .yml file", path)
	}
	seen := map[[2]int]bool{}
	var links []Link
	for i, fl := range f.Links {
		where := fmt.Sprintf("topology file %s: link %d", path, i+1)
		if fl.A == nil || fl.B == nil {
			return nil, fmt.Errorf("%s: want both nodes a and b", where)
		}
		a, b := *fl.A, *fl.B
		if a < 0 || a >= n || b < 0 || b >= n {
			return nil, fmt.Errorf("%s: %d-%d names a node outside 0..%d", where, a, b, n-1)
		}
		if a == b {
			return nil, fmt.Errorf("%s: links node %d to itself", where, a)
		}
		if a > b {
			a, b = b, a
		}
		if seen[[2]int{a, b}] {
			return nil, fmt.Errorf("%s: %d-%d is listed twice", where, a, b)
		}
		seen[[2]int{a, b}] = true
		k := Link{A: a, B: b}
		if fl.Delay != "" {
			if k.Delay, k.Jitter, err = ParseDelay(fl.Delay); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		if fl.Jitter != "" {
			if k.Jitter, err = parseNonNegDuration("jitter", fl.Jitter); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		if fl.Bandwidth != "" {
			if k.Bandwidth, err = ParseBandwidth(fl.Bandwidth); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		switch fl.State {
		case "", "up":
		case "down":
			k.Down = true
		default:
			return nil, fmt.Errorf("%s: state %q: want up or down", where, fl.State)
		}
		links = append(links, k)
	}
	if len(links) == 0 {
		return nil, fmt.Errorf("topology file %s lists no links", path)
	}
	return links, nil
}

// ParseDelay parses "100ms" or "100ms±20ms" (also "100ms+-20ms") into a
// delay and a jitter.
func ParseDelay(s string) (delay, jitter time.Duration, err error) {
	d, j, ok := strings.Cut(s, "±")
	if !ok {
		d, j, ok = strings.Cut(s, "+-")
	}
	if delay, err = parseNonNegDuration("delay", d); err != nil {
		return 0, 0, err
	}
	if ok {
		if jitter, err = parseNonNegDuration("jitter", j); err != nil {
			return 0, 0, err
		}
	}
	return delay, jitter, nil
}

func parseNonNegDuration(what, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a duration such as 100ms", what, s)
	}
	return d, nil
}

// bandwidthUnits are the suffixes ParseBandwidth accepts, in bits per
// second (tc's spelling).
var bandwidthUnits = []struct {
	suffix string
	bps    int64
}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}

// ParseBandwidth parses a rate such as "1mbit", "512kbit" or "2.5mbit"
// into bits per second.
func ParseBandwidth(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, u := range bandwidthUnits {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil || v <= 0 {
				break
			}
			bps := int64(v * float64(u.bps))
			if bps < 8000 {
				return 0, fmt.Errorf("bandwidth %q: the proxies' smallest rate is 8kbit (1 kB/s)", s)
			}
			return bps, nil
		}
	}
	return 0, fmt.Errorf("bandwidth %q: want a rate such as 1mbit, 512kbit or 1gbit", s)
}

// FormatBandwidth formats bits per second with the largest unit that
// divides it, as ParseBandwidth reads it back.
func FormatBandwidth(bps int64) string {
	for _, u := range bandwidthUnits {
		if bps >= u.bps && bps%u.bps == 0 {
			return strconv.FormatInt(bps/u.bps, 10) + u.suffix
		}
	}
	return strconv.FormatInt(bps, 10) + "bit"
}

// neighboursIn returns node i's neighbours in links, ascending.
func neighboursIn(links []Link, i int) []int {
	var out []int
	for _, k := range links {
		switch i {
		case k.A:
			out = append(out, k.B)
		case k.B:
			out = append(out, k.A)
		}
	}
	slices.Sort(out)
	return out
}

// Connected reports whether links connect all n nodes (links that are
// down count as absent).
func Connected(links []Link, n int) bool {
	if n <= 1 {
		return true
	}
	parent := make([]int, n)
	for i := range parent {
		parent[i] = i
	}
	find := func(x int) int {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	comps := n
	for _, k := range links {
		if k.Down {
			continue
		}
		if ra, rb := find(k.A), find(k.B); ra != rb {
			parent[ra] = rb
			comps--
		}
	}
	return comps == 1
}

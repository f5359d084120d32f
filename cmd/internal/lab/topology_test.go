package lab

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func pairs(links []Link) [][2]int {
	out := make([][2]int, len(links))
	for i, k := range links {
		out[i] = [2]int{k.A, k.B}
	}
	return out
}

func TestParseTopologyBuiltIn(t *testing.T) {
	for _, tc := range []struct {
		spec string
		n    int
		want [][2]int
	}{
		{"mesh", 3, [][2]int{{0, 1}, {0, 2}, {1, 2}}},
		{"", 2, [][2]int{{0, 1}}},
		{"line", 4, [][2]int{{0, 1}, {1, 2}, {2, 3}}},
		{"ring", 4, [][2]int{{0, 1}, {0, 3}, {1, 2}, {2, 3}}},
		{"ring", 2, [][2]int{{0, 1}}},
		{"star", 4, [][2]int{{0, 1}, {0, 2}, {0, 3}}},
		{"mesh", 1, [][2]int{}},
	} {
		links, err := ParseTopology(tc.spec, tc.n, "s")
		if err != nil {
			t.Fatalf("%s/%d: %v", tc.spec, tc.n, err)
		}
		if got := pairs(links); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s/%d: got %v, want %v", tc.spec, tc.n, got, tc.want)
		}
	}
}

func TestParseTopologyRandom(t *testing.T) {
	for _, n := range []int{2, 3, 5, 8, 32, 64} {
		for _, k := range []int{1, 2, 4} {
			a, err := ParseTopology("random:4", n, "seed")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := ParseTopology("random:4", n, "seed")
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("n=%d: the same seed gave two graphs", n)
			}
			links, _ := ParseTopology("random:"+string(rune('0'+k)), n, "seed")
			if !Connected(links, n) {
				t.Fatalf("random:%d on %d nodes is not connected: %v", k, n, pairs(links))
			}
			seen := map[[2]int]bool{}
			for _, l := range links {
				if l.A >= l.B || seen[[2]int{l.A, l.B}] {
					t.Fatalf("random:%d on %d nodes: bad or duplicate link %v", k, n, l)
				}
				seen[[2]int{l.A, l.B}] = true
			}
			for i := 0; i < n; i++ {
				if d := len(neighboursIn(links, i)); d < min(k, n-1) {
					t.Errorf("random:%d on %d nodes: node %d has %d neighbours", k, n, i, d)
				}
			}
		}
	}
	a, _ := ParseTopology("random:3", 16, "one")
	b, _ := ParseTopology("random:3", 16, "two")
	if reflect.DeepEqual(a, b) {
		t.Error("two seeds gave the same random graph")
	}
}

func TestParseTopologyErrors(t *testing.T) {
	for _, spec := range []string{"torus", "random:", "random:0", "random:x", "missing.toml"} {
		if _, err := ParseTopology(spec, 4, "s"); err == nil {
			t.Errorf("%q: no error", spec)
		}
	}
}

func TestReadTopologyFile(t *testing.T) {
	dir := t.TempDir()
	tomlFile := filepath.Join(dir, "t.toml")
	os.WriteFile(tomlFile, []byte(`
[[link]]
a = 1
b = 0
delay = "100ms±20ms"
bandwidth = "1mbit"

[[link]]
a = 1
b = 2
delay = "50ms"
jitter = "5ms"
state = "down"
`), 0o600)
	yamlFile := filepath.Join(dir, "t.yaml")
	os.WriteFile(yamlFile, []byte(`
links:
  - {a: 1, b: 0, delay: 100ms+-20ms, bandwidth: 1mbit}
  - a: 1
    b: 2
    delay: 50ms
    jitter: 5ms
    state: down
`), 0o600)
	want := []Link{
		{A: 0, B: 1, Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Bandwidth: 1e6},
		{A: 1, B: 2, Delay: 50 * time.Millisecond, Jitter: 5 * time.Millisecond, Down: true},
	}
	for _, f := range []string{tomlFile, yamlFile} {
		got, err := ParseTopology(f, 3, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", filepath.Base(f), got, want)
		}
	}
	if Connected(want, 3) {
		t.Error("a graph whose only link to node 2 is down counts as connected")
	}
	for name, body := range map[string]string{
		"outside.toml": "[[link]]\na = 0\nb = 3\n",
		"self.toml":    "[[link]]\na = 1\nb = 1\n",
		"twice.toml":   "[[link]]\na = 0\nb = 1\n[[link]]\na = 1\nb = 0\n",
		"unknown.toml": "[[link]]\na = 0\nb = 1\nlatency = \"1ms\"\n",
		"nob.yaml":     "links:\n  - {a: 0}\n",
		"state.yaml":   "links:\n  - {a: 0, b: 1, state: flaky}\n",
		"bw.yaml":      "links:\n  - {a: 0, b: 1, bandwidth: fast}\n",
		"empty.toml":   "",
		"edges.json":   "{}",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		if _, err := ReadTopologyFile(p, 3); err == nil {
			t.Errorf("%s: no error", name)
		} else if !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error does not name the file: %v", name, err)
		}
	}
}

func TestParseBandwidthAndDelay(t *testing.T) {
	for s, want := range map[string]int64{"1mbit": 1e6, "512kbit": 512e3, "2.5mbit": 2.5e6, "1gbit": 1e9, "64000bit": 64000} {
		got, err := ParseBandwidth(s)
		if err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %d, %v; want %d", s, got, err, want)
		}
		if back, _ := ParseBandwidth(FormatBandwidth(got)); back != got {
			t.Errorf("FormatBandwidth(%d) = %q does not read back", got, FormatBandwidth(got))
		}
	}
	for _, s := range []string{"", "1", "1mb", "-1mbit", "1kbit", "fast"} {
		if _, err := ParseBandwidth(s); err == nil {
			t.Errorf("ParseBandwidth(%q): no error", s)
		}
	}
	d, j, err := ParseDelay("100ms±20ms")
	if err != nil || d != 100*time.Millisecond || j != 20*time.Millisecond {
		t.Errorf("ParseDelay: %v %v %v", d, j, err)
	}
	for _, s := range []string{"x", "-5ms", "5ms±x", "100"} {
		if _, _, err := ParseDelay(s); err == nil {
			t.Errorf("ParseDelay(%q): no error", s)
		}
	}
	if got := (Link{Delay: 100 * time.Millisecond, Jitter: 20 * time.Millisecond, Bandwidth: 1e6, Down: true}).Conditions(); got != "down 100ms±20ms 1mbit" {
		t.Errorf("Conditions = %q", got)
	}
}

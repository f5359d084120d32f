package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// These tests check the devnet's configuration files without a container
// engine (configs/dockertest runs the image on one): the dashboard is valid JSON
// whose every metric exists in the node's source, Prometheus scrapes every
// node, and the compose file's peer IDs and miner addresses are the ones
// the identities service derives from the seed "compose".

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", root)
	}
	return root
}

func readConfig(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
	Annot  struct {
		List []struct {
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

// metricSources returns the non-test Go source of the packages that
// define metrics, by top-level directory.
func metricSources(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := repoRoot(t)
	for _, dir := range []string{"node", "miner", "mempool", "p2p", "rpc", "chain"} {
		var b strings.Builder
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			b.Write(src)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		out[dir] = b.String()
	}
	return out
}

// defined reports whether a metric name is declared in the source: as a
// full literal, or (Namespace/Subsystem/Name style) as the name's remainder
// in the package named by its subsystem.
func defined(name string, src map[string]string) bool {
	for _, s := range src {
		if strings.Contains(s, `"`+name+`"`) {
			return true
		}
	}
	rest, ok := strings.CutPrefix(name, "quarry_")
	if !ok {
		return false
	}
	sub, rest, ok := strings.Cut(rest, "_")
	return ok && strings.Contains(src[sub], `"`+rest+`"`)
}

func TestDashboardMetricsExist(t *testing.T) {
	var d dashboard
	if err := json.Unmarshal([]byte(readConfig(t, "grafana/dashboards/quarry.json")), &d); err != nil {
		t.Fatalf("quarry.json: %v", err)
	}
	if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without uid, title or panels: %+v", d)
	}
	src := metricSources(t)
	names := map[string]bool{}
	re := regexp.MustCompile(`quarry_[a-z0-9_]+`)
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q is wider than the grid", p.Title)
		}
		for _, tg := range p.Targets {
			for _, m := range re.FindAllString(tg.Expr, -1) {
				names[m] = true
			}
		}
	}
	for _, a := range d.Annot.List {
		for _, m := range re.FindAllString(a.Expr, -1) {
			names[m] = true
		}
	}
	var missing []string
	for n := range names {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(n, suf); ok {
				base = b
			}
		}
		if !defined(base, src) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("dashboard queries metrics the node does not define: %v", missing)
	}
	if len(names) < 30 {
		t.Errorf("dashboard uses only %d metrics", len(names))
	}
	for _, f := range []string{"grafana/provisioning/datasources/prometheus.yml", "grafana/provisioning/dashboards/quarry.yml"} {
		if !strings.Contains(readConfig(t, f), "apiVersion: 1") {
			t.Errorf("%s is not a Grafana provisioning file", f)
		}
	}
}

func TestPrometheusScrapesEveryNode(t *testing.T) {
	cfg := readConfig(t, "prometheus.yml")
	for i := 0; i < 4; i++ {
		if !strings.Contains(cfg, fmt.Sprintf(`"node%d:27734"`, i)) {
			t.Errorf("prometheus.yml does not scrape node%d:27734", i)
		}
	}
}

func TestComposeIdentities(t *testing.T) {
	compose := readConfig(t, "docker-compose.yml")
	ids, err := lab.Identities("compose", "dev", 4)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(compose, `command: ["identities", "--seed", "compose", "-n", "4", "--out", "/home/nonroot/.quarry"]`) {
		t.Error("the identities service does not derive the keys from the seed compose")
	}
	if strings.Contains(compose, "go run") {
		t.Error("docker-compose.yml compiles at start (go run); the image ships the devnet tool")
	}
	// Split into the node services' sections.
	for _, id := range ids {
		start := strings.Index(compose, fmt.Sprintf("\n  node%d:\n", id.Index))
		if start < 0 {
			t.Fatalf("no service node%d", id.Index)
		}
		section := compose[start+1:]
		if end := strings.Index(section[1:], "\n  node"); end >= 0 {
			section = section[:end+1]
		} else if end := strings.Index(section, "\n  prometheus:"); end >= 0 {
			section = section[:end]
		}
		if !strings.Contains(section, "--miner-address="+id.Address) {
			t.Errorf("node%d: miner address is not %s", id.Index, id.Address)
		}
		for _, o := range ids {
			boot := fmt.Sprintf("/dns4/node%d/tcp/27733/p2p/%s", o.Index, o.PeerID)
			if has := strings.Contains(section, boot); has != (o.Index != id.Index) {
				t.Errorf("node%d: bootnode %s present=%v", id.Index, boot, has)
			}
		}
	}
}

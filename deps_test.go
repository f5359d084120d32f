package quarry_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the import rules of ARCHITECTURE.md with go list:
// cmd -> node -> {rpc, p2p, miner, mempool} -> chain; siblings never import
// each other; chain imports none of them nor prometheus.
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/quarrychain/quarry/"
	siblings := []string{"rpc", "p2p", "miner", "mempool"}
	forbidden := map[string][]string{
		"chain": {mod + "p2p", mod + "rpc", mod + "miner", mod + "mempool", mod + "node", mod + "cmd", "github.com/prometheus/", "github.com/libp2p/"},
	}
	for _, s := range siblings {
		for _, o := range siblings {
			if o != s {
				forbidden[s] = append(forbidden[s], mod+o)
			}
		}
		forbidden[s] = append(forbidden[s], mod+"node", mod+"cmd")
	}
	for pkg, bad := range forbidden {
		out, err := exec.Command("go", "list", "-deps", "./"+pkg+"/...").CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range bad {
				// A package may import its own subpackages.
				if strings.HasPrefix(dep, b) && !strings.HasPrefix(dep, mod+pkg+"/") && dep != mod+pkg {
					t.Errorf("%s depends on %s (forbidden by ARCHITECTURE.md)", pkg, dep)
				}
			}
		}
	}
}

// TestDependencyTree draws the module's import graph (go test -v -run
// TestDependencyTree .): every non-test package with the module packages
// it imports directly, in dependency order (a package after everything it
// imports), which go list can only produce because the graph has no
// cycles. It fails if a package imports something the order puts after
// it.
func TestDependencyTree(t *testing.T) {
	const mod = "github.com/quarrychain/quarry"
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := map[string]bool{}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], mod) {
			continue
		}
		pkg := strings.TrimPrefix(strings.TrimPrefix(f[0], mod), "/")
		if pkg == "" {
			pkg = "."
		}
		var deps []string
		for _, d := range f[1:] {
			if !strings.HasPrefix(d, mod+"/") {
				continue
			}
			d = strings.TrimPrefix(d, mod+"/")
			if !seen[d] {
				t.Errorf("%s imports %s, which go list -deps did not order before it", pkg, d)
			}
			deps = append(deps, d)
		}
		seen[pkg] = true
		if len(deps) == 0 {
			lines = append(lines, pkg)
		} else {
			lines = append(lines, pkg+" -> "+strings.Join(deps, ", "))
		}
	}
	t.Logf("module packages in dependency order (%d):\n  %s", len(lines), strings.Join(lines, "\n  "))
}

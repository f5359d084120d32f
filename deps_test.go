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

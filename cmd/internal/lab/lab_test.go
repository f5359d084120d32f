package lab

import (
	"fmt"
	"testing"
)

// TestParseGroups covers the partition argument checks.
func TestParseGroups(t *testing.T) {
	g, err := ParseGroups([]string{"0,1", "2,3"}, 4)
	if err != nil || fmt.Sprint(g) != "[[0 1] [2 3]]" {
		t.Fatalf("got %v, %v", g, err)
	}
	for _, bad := range [][]string{{"0,1,2,3"}, {"0,1", "1,2,3"}, {"0", "1,2"}, {"0,1", "2,x,3"}, {"0,1", "2,3,4"}} {
		if _, err := ParseGroups(bad, 4); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestDeterministicIdentities checks that a seed always gives the same
// peer IDs and addresses, and different seeds different ones.
func TestDeterministicIdentities(t *testing.T) {
	_, a, err := p2pKey("s", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, b, _ := p2pKey("s", 0)
	_, c, _ := p2pKey("s", 1)
	_, d, _ := p2pKey("t", 0)
	if a != b || a == c || a == d {
		t.Fatalf("peer ids: %s %s %s %s", a, b, c, d)
	}
	k0, again, k1 := minerKey("s", 0), minerKey("s", 0), minerKey("s", 1)
	if k0.Address != again.Address || k0.Address == k1.Address {
		t.Fatal("miner keys not deterministic per (seed, index)")
	}
}

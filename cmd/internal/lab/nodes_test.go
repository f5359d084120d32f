package lab

import "testing"

// TestStartDegreeLeavesOutBannedModes: a lab does not wait for the
// connections of lie-work and junk nodes, which their peers ban.
func TestStartDegreeLeavesOutBannedModes(t *testing.T) {
	l := &Lab{State: State{Nodes: []NodeState{{}, {Role: Role{Adversary: "junk"}}, {Role: Role{Adversary: "stall"}}, {Role: Role{Adversary: "lie-work"}}}}}
	for i, want := range []int{1, 0, 1, 0} {
		if got := l.startDegree(i); got != want {
			t.Errorf("mesh: node%d waits for %d peers, want %d", i, got, want)
		}
	}
	l.State.Links = []Link{{A: 0, B: 1}, {A: 1, B: 2}, {A: 2, B: 3}, {A: 0, B: 2}, {A: 0, B: 3, Down: true}}
	for i, want := range []int{1, 0, 1, 0} {
		if got := l.startDegree(i); got != want {
			t.Errorf("links: node%d waits for %d peers, want %d", i, got, want)
		}
	}
}

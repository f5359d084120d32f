package adversary

import (
	"slices"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func h(i byte) chain.Hash { return chain.Hash{i} }

func TestParseMode(t *testing.T) {
	for _, s := range []string{"selfish", "Withhold", " equivocate ", ""} {
		if _, err := ParseMode(s); err != nil {
			t.Errorf("ParseMode(%q): %v", s, err)
		}
	}
	if _, err := ParseMode("evil"); err == nil {
		t.Error("ParseMode(evil) accepted")
	}
}

// step is one event of a scripted run: own block i (mine>0) or an
// honest block, with the expected action and state after it.
type step struct {
	own     byte // 0: an honest block
	publish []byte
	adopt   bool
	state   string
}

func run(t *testing.T, s Strategy, steps []step) {
	t.Helper()
	for k, st := range steps {
		var a Action
		if st.own != 0 {
			a = s.OwnBlock(h(st.own))
		} else {
			a = s.OthersBlock()
		}
		var want []chain.Hash
		for _, b := range st.publish {
			want = append(want, h(b))
		}
		if !slices.Equal(a.Publish, want) || a.Adopt != st.adopt {
			t.Fatalf("step %d: action %+v, want publish %v adopt %v", k, a, want, st.adopt)
		}
		if st.state != "" && s.State() != st.state {
			t.Fatalf("step %d: state %q, want %q", k, s.State(), st.state)
		}
	}
}

// TestSelfishTransitions walks every transition of the paper's state
// machine (Eyal and Sirer 2014, Figure 1 and Algorithm 1).
func TestSelfishTransitions(t *testing.T) {
	t.Run("0 -> 0 on others", func(t *testing.T) {
		run(t, NewSelfish(), []step{{adopt: true, state: "0"}})
	})
	t.Run("1 -> 0' -> 0 by own block", func(t *testing.T) {
		s := NewSelfish()
		run(t, s, []step{
			{own: 1, state: "1"},
			{publish: []byte{1}, state: "0'"}, // others catch up: race
			{own: 2, publish: []byte{2}, state: "0"},
		})
		if st := s.Stats(); st.Overrides != 1 || st.OrphansCaused != 1 || st.Published != 2 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("0' -> 0 by others", func(t *testing.T) {
		s := NewSelfish()
		run(t, s, []step{{own: 1}, {publish: []byte{1}}, {adopt: true, state: "0"}})
	})
	t.Run("2 -> 0 publishes all", func(t *testing.T) {
		s := NewSelfish()
		run(t, s, []step{{own: 1, state: "1"}, {own: 2, state: "2"}, {publish: []byte{1, 2}, state: "0"}})
		if st := s.Stats(); st.Overrides != 1 || st.OrphansCaused != 1 || st.Withheld != 2 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("n>2 releases one at a time", func(t *testing.T) {
		s := NewSelfish()
		run(t, s, []step{
			{own: 1}, {own: 2}, {own: 3}, {own: 4, state: "n=4"},
			{publish: []byte{1}, state: "n=3"},
			{publish: []byte{2}, state: "2"},
			{own: 5, state: "n=3"},
			{publish: []byte{3}, state: "2"},
			{publish: []byte{4, 5}, state: "0"}, // lead 2 -> publish the rest
		})
		if st := s.Stats(); st.OrphansCaused != 4 || st.Published != 5 {
			t.Errorf("stats %+v", st)
		}
		if len(s.Unpublished()) != 0 {
			t.Error("unpublished blocks left")
		}
	})
}

func TestWithhold(t *testing.T) {
	w := NewWithhold(3, 4)
	run(t, w, []step{
		{adopt: true}, // nothing private: follow the public chain
		{own: 1}, {}, {}, {own: 2},
		{own: 3, publish: []byte{1, 2, 3}}, // 3 private vs 2 public: release
	})
	w = NewWithhold(3, 4)
	a := w.OwnBlock(h(1))
	a2 := w.OwnBlock(h(2))
	w.OthersBlock()
	w.OthersBlock()
	a3 := w.OwnBlock(h(3))
	if len(a.Publish)+len(a2.Publish) != 0 || !slices.Equal(a3.Publish, []chain.Hash{h(1), h(2), h(3)}) {
		t.Fatalf("release %v %v %v", a, a2, a3)
	}
	if st := w.Stats(); st.OrphansCaused != 2 || st.Overrides != 1 {
		t.Errorf("stats %+v", st)
	}
	// Long enough but not longer: keep mining.
	w = NewWithhold(2, 4)
	w.OwnBlock(h(1))
	w.OthersBlock()
	w.OthersBlock()
	if a := w.OwnBlock(h(2)); len(a.Publish) != 0 {
		t.Fatalf("released a branch no longer than the public one: %v", a)
	}
	if a := w.OwnBlock(h(3)); len(a.Publish) != 3 {
		t.Fatalf("did not release a longer branch: %v", a)
	}
	// Give up four behind.
	w = NewWithhold(2, 4)
	w.OwnBlock(h(1))
	for i := 0; i < 4; i++ {
		if a := w.OthersBlock(); a.Adopt {
			t.Fatalf("gave up at deficit %d", i)
		}
	}
	if a := w.OthersBlock(); !a.Adopt || w.Private() {
		t.Fatalf("did not give up: %v", a)
	}
	if st := w.Stats(); st.Abandoned != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestEquivocator(t *testing.T) {
	var e Equivocator
	p := h(9)
	if hold, pub := e.Found(h(1), p); !hold || pub != nil {
		t.Fatal("first block not held")
	}
	// The tip moved: the held block is stale and replaced.
	if hold, _ := e.Found(h(2), h(8)); !hold {
		t.Fatal("block on a new parent not held")
	}
	hold, pub := e.Found(h(3), h(8))
	if hold || !slices.Equal(pub, []chain.Hash{h(2), h(3)}) {
		t.Fatalf("twins %v %v", hold, pub)
	}
	if e.Twins() != 1 || e.Stats().Abandoned != 1 {
		t.Errorf("twins %d stats %+v", e.Twins(), e.Stats())
	}
	if _, ok := e.Holding(); ok {
		t.Error("still holding after publishing twins")
	}
}

func TestSelfishRacing(t *testing.T) {
	s := NewSelfish()
	if _, ok := s.Racing(); ok {
		t.Fatal("racing in state 0")
	}
	s.OwnBlock(h(1))
	if _, ok := s.Racing(); ok {
		t.Fatal("racing in state 1")
	}
	s.OthersBlock()
	if r, ok := s.Racing(); !ok || r != h(1) {
		t.Fatalf("state 0': racing %v %v", r, ok)
	}
	s.OthersBlock()
	if _, ok := s.Racing(); ok {
		t.Fatal("racing after the race")
	}
}

// TestWithholdSpend: the spend attacker mines honestly outside a race; a
// race starts at Fork with no private block (the public chain's blocks
// count against it from then on), ends with a release or a give-up, and
// the attacker mines honestly again.
func TestWithholdSpend(t *testing.T) {
	w := NewWithholdSpend(2, 3)
	if a := w.OwnBlock(h(1)); !slices.Equal(a.Publish, []chain.Hash{h(1)}) || w.Private() {
		t.Fatalf("honest block not published at once: %v", a)
	}
	if a := w.OthersBlock(); !a.Adopt {
		t.Fatalf("outside a race the fork point must follow the public tip: %v", a)
	}
	if !w.Fork() || !w.Private() || w.Fork() {
		t.Fatal("Fork: want a race, and no second one")
	}
	w.Carry()
	// The public chain leads 1-0 before the first private block.
	if a := w.OthersBlock(); a.Adopt || len(a.Publish) != 0 {
		t.Fatalf("public block during the race: %v", a)
	}
	if p, q := w.Lead(); p != 0 || q != 1 {
		t.Fatalf("lead %d/%d, want 0/1", p, q)
	}
	w.OwnBlock(h(2))
	if a := w.OwnBlock(h(3)); !slices.Equal(a.Publish, []chain.Hash{h(2), h(3)}) || w.Private() {
		t.Fatalf("2 private vs 1 public at depth 2: want a release, got %v", a)
	}
	if a := w.OwnBlock(h(4)); !slices.Equal(a.Publish, []chain.Hash{h(4)}) {
		t.Fatalf("after the release the attacker mines honestly: %v", a)
	}
	// Before Carry the branch is not released, however long.
	w.Fork()
	for i := 6; i < 9; i++ {
		if a := w.OwnBlock(h(byte(i))); len(a.Publish) != 0 {
			t.Fatalf("released before Carry: %v", a)
		}
	}
	w.Carry()
	if a := w.OwnBlock(h(9)); len(a.Publish) != 4 {
		t.Fatalf("after Carry: want the 4 blocks released, got %v", a)
	}
	// Give up three behind, without a single private block.
	w.Fork()
	for i := 0; i < 2; i++ {
		if a := w.OthersBlock(); a.Adopt {
			t.Fatalf("gave up at deficit %d", i+1)
		}
	}
	if a := w.OthersBlock(); !a.Adopt || w.Private() {
		t.Fatalf("did not give up three behind: %v", a)
	}
	// Abandon ends a race at once.
	w.Fork()
	w.OwnBlock(h(5))
	if a := w.Abandon(); !a.Adopt || w.Private() {
		t.Fatalf("Abandon: %v", a)
	}
	if a := w.Abandon(); a.Adopt {
		t.Fatal("Abandon outside a race")
	}
	st := w.Stats()
	if st.Mined != 9 || st.Releases != 2 || st.Published != 6 || st.Overrides != 1 || st.OrphansCaused != 1 || st.Abandoned != 1 {
		t.Errorf("stats %+v", st)
	}
}

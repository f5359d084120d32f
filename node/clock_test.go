package node

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// TestLabOnlySettingsRefusedOnValueNetworks: --clock-offset and every
// --adversary mode are refused on main and test, accepted on dev and
// regtest.
func TestLabOnlySettingsRefusedOnValueNetworks(t *testing.T) {
	type setting struct {
		name string
		set  func(*Config)
	}
	settings := []setting{
		{"clock-offset", func(c *Config) { c.ClockOffset = 3 * time.Hour }},
		{"clock-offset behind", func(c *Config) { c.ClockOffset = -time.Hour }},
		{"selfish", func(c *Config) { c.Adversary = "selfish" }},
		{"withhold", func(c *Config) { c.Adversary = "withhold"; c.WithholdDepth = 3 }},
		{"withhold-spend", func(c *Config) {
			c.Adversary = "withhold"
			c.WithholdDepth = 3
			c.WithholdSpend = true
			c.WithholdGiveUp = 4
		}},
		{"equivocate", func(c *Config) { c.Adversary = "equivocate" }},
	}
	for _, s := range settings {
		for _, network := range []string{"main", "test", "dev", "regtest"} {
			cfg := Config{Network: network, DataDir: t.TempDir(), P2PListen: "127.0.0.1:0", Logger: discardLogger()}
			s.set(&cfg)
			_, err := New(cfg)
			lab := network == "dev" || network == "regtest"
			if lab && err != nil {
				t.Errorf("%s on %s: %v", s.name, network, err)
			}
			if !lab && !errors.Is(err, ErrLabOnly) {
				t.Errorf("%s on %s: err %v, want ErrLabOnly", s.name, network, err)
			}
			if !lab && err != nil && !strings.Contains(err.Error(), network+" network") {
				t.Errorf("%s on %s: error does not name the network: %v", s.name, network, err)
			}
		}
	}
	for _, bad := range []Config{
		{Network: "dev", Adversary: "evil"},
		{Network: "dev", WithholdDepth: 3},
		{Network: "dev", WithholdSpend: true},
		{Network: "dev", Adversary: "selfish", WithholdSpend: true},
		{Network: "main", WithholdSpend: true},
		{Network: "dev", WithholdGiveUp: 3},
		{Network: "dev", Adversary: "selfish", WithholdGiveUp: 3},
		{Network: "dev", Adversary: "withhold", WithholdGiveUp: -1},
		{Network: "dev", Adversary: "selfish", WithholdDepth: 3},
		{Network: "dev", Adversary: "withhold", WithholdDepth: -1},
		{Network: "dev", Adversary: "selfish", NoP2P: true},
	} {
		bad.DataDir, bad.Logger = t.TempDir(), discardLogger()
		if _, err := New(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestClockOffsetAhead: a node whose clock runs 3 h ahead stamps its
// blocks 3 h ahead, and an honest node refuses them as too far in the
// future (regtest allows 2 h).
func TestClockOffsetAhead(t *testing.T) {
	skewed := testConfig(t)
	skewed.NoP2P, skewed.ClockOffset = true, 3*time.Hour
	a, _ := startNode(t, skewed)
	honest := testConfig(t)
	honest.NoP2P = true
	b, _ := startNode(t, honest)

	blk := mineOne(t, a)
	if ahead := time.Until(time.Unix(int64(blk.Header.Timestamp), 0)); ahead < 3*time.Hour-time.Minute {
		t.Fatalf("the skewed node stamped its block %s ahead, want ~3h", ahead)
	}
	_, err := b.Chain().ProcessBlock(blk)
	if !errors.Is(err, chain.ErrTimeTooNew) {
		t.Fatalf("honest node: %v, want ErrTimeTooNew", err)
	}
	// The skewed node itself accepts it: by its clock it is not in the future.
	if a.Chain().Best().Hash != blk.Hash() {
		t.Fatal("the skewed node did not connect its own block")
	}
}

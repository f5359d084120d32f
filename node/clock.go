package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/adversary"
)

// ErrLabOnly is returned by New when a lab-only setting (--clock-offset,
// --adversary) is given on a network that carries value.
var ErrLabOnly = errors.New("allowed only on the dev and regtest networks")

// labOnly reports whether the network may run lab-only settings.
func labOnly(p *chain.Params) bool { return p.Name == "dev" || p.Name == "regtest" }

// resolveAdversary checks ClockOffset, Adversary and WithholdDepth and sets
// the node's clock.
func (c *Config) resolveAdversary(p *chain.Params, r *resolved) error {
	if c.ClockOffset != 0 && !labOnly(p) {
		return fmt.Errorf("--clock-offset %s on the %s network: %w", c.ClockOffset, p.Name, ErrLabOnly)
	}
	off := c.ClockOffset
	r.now = func() time.Time { return time.Now().Add(off) }
	if c.Adversary == "" {
		if c.WithholdDepth != 0 {
			return errors.New("--withhold-depth needs --adversary withhold")
		}
		if c.WithholdSpend || c.WithholdGiveUp != 0 {
			return errors.New("--withhold-spend and --withhold-give-up need --adversary withhold")
		}
		return nil
	}
	mode, err := adversary.ParseMode(c.Adversary)
	if err != nil {
		return fmt.Errorf("--adversary: %w", err)
	}
	c.Adversary = string(mode) // " Withhold" selects the same driver as "withhold"
	if !labOnly(p) {
		return fmt.Errorf("--adversary %s on the %s network: %w", mode, p.Name, ErrLabOnly)
	}
	if mode != adversary.ModeWithhold && c.WithholdDepth != 0 {
		return errors.New("--withhold-depth needs --adversary withhold")
	}
	if mode != adversary.ModeWithhold && (c.WithholdSpend || c.WithholdGiveUp != 0) {
		return errors.New("--withhold-spend and --withhold-give-up need --adversary withhold")
	}
	if c.WithholdGiveUp < 0 {
		return fmt.Errorf("--withhold-give-up %d: must be >= 0", c.WithholdGiveUp)
	}
	if c.WithholdDepth < 0 {
		return fmt.Errorf("--withhold-depth %d: must be >= 0", c.WithholdDepth)
	}
	if mode == adversary.ModeWithhold && c.WithholdDepth == 0 {
		c.WithholdDepth = adversary.DefaultWithholdDepth
	}
	if c.NoP2P {
		return fmt.Errorf("--adversary %s needs the network (drop --no-p2p)", mode)
	}
	return nil
}

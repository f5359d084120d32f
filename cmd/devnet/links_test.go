package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/cmd/internal/lab/labtest"
)

// testShapedRing: 4 regtest nodes on a ring whose links delay 60 ms each
// way. Every node is connected to exactly its two neighbours, only
// through the link proxies (no announced address, no direct connection),
// and getpeerinfo's ping round trip is at least twice the delay. A
// partition cut at the links splits the ring into {0,1} and {2,3}; each
// side mines its own branch; the heal restores the links and all nodes
// agree on the longer branch.
func testShapedRing(t *testing.T, bin string) {
	const delay = 60 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	l := labtest.StartLab(t, ctx, bin, lab.UpOptions{N: 4, Seed: "shaped", Network: "regtest", Topology: "ring", LinkDelay: delay})
	if !l.State.Shaped || len(l.State.Links) != 4 {
		t.Fatalf("shaped %v, links %v", l.State.Shaped, l.State.Links)
	}
	labtest.Step(t, ctx, "ping round trips of 2x the delay", 30*time.Second, func(ctx context.Context) error {
		var last string
		err := lab.Poll(ctx, 100*time.Millisecond, func() (bool, error) {
			for i := 0; i < l.N(); i++ {
				peers, err := l.PeerInfo(ctx, i)
				if err != nil {
					return false, err
				}
				if len(peers) != 2 {
					last = fmt.Sprintf("node%d has %d peers", i, len(peers))
					return false, nil
				}
				for _, p := range peers {
					if p.PingTime == 0 {
						last = fmt.Sprintf("node%d: no ping yet", i)
						return false, nil
					}
					if rtt := time.Duration(p.PingTime * float64(time.Second)); rtt < 2*delay {
						return false, fmt.Errorf("node%d: ping round trip %s to %s < 2 x %s: the link is not shaped", i, rtt, p.Addr, delay)
					}
				}
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("%w (%s)", err, last)
		}
		return nil
	})
	labtest.Step(t, ctx, "no connection around the proxies", 10*time.Second, l.CheckProxied)

	labtest.Step(t, ctx, "first block everywhere", 30*time.Second, func(ctx context.Context) error {
		if _, err := l.Generate(ctx, 0, 1); err != nil {
			return err
		}
		_, err := l.WaitAgreement(ctx)
		return err
	})
	groups := [][]int{{0, 1}, {2, 3}}
	labtest.Step(t, ctx, "partition at the links", 20*time.Second, func(ctx context.Context) error {
		return l.PartitionAt(ctx, groups, lab.PartitionLinks)
	})
	if cut := l.State.Partition.Cut; len(cut) != 2 || cut[0] != "0-3" || cut[1] != "1-2" {
		t.Fatalf("cut links %v, want [0-3 1-2]", cut)
	}
	labtest.Step(t, ctx, "each side mines", 30*time.Second, func(ctx context.Context) error {
		if _, err := l.Generate(ctx, 0, 3); err != nil {
			return err
		}
		_, err := l.Generate(ctx, 2, 1)
		return err
	})
	var rec *lab.HealRecord
	labtest.Step(t, ctx, "heal the links", 60*time.Second, func(ctx context.Context) error {
		var err error
		rec, err = l.Heal(ctx, lab.HealOptions{Wait: true, Timeout: 45 * time.Second})
		return err
	})
	if rec.Where != lab.PartitionLinks || rec.AgreedTip != rec.Sides[0].Tip {
		t.Fatalf("heal record: at %q, agreed on %s, side A's tip %s", rec.Where, rec.AgreedTip, rec.Sides[0].Tip)
	}
	for _, k := range l.State.Links {
		if k.Down {
			t.Fatalf("link %s still down after the heal", k.Name())
		}
	}
	labtest.Step(t, ctx, "still proxied after the heal", 30*time.Second, func(ctx context.Context) error {
		if err := l.WaitPeers(ctx, 2); err != nil {
			return err
		}
		return l.CheckProxied(ctx)
	})
}

package node

import (
	"slices"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/miner"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// spendTrio starts two honest regtest nodes and a double-spending
// withhold node (release at 2 blocks, give up 2 behind), all connected,
// with one block of the attacker's (its funds) on every node.
func spendTrio(t *testing.T) (h1, h2, w *Node) {
	t.Helper()
	cfg := testConfig(t)
	cfg.Adversary, cfg.WithholdDepth, cfg.WithholdSpend, cfg.WithholdGiveUp = "withhold", 2, true, 2
	h1, h2 = startMode(t, ""), startMode(t, "")
	w, _ = startNode(t, cfg)
	connect(t, h1, h2)
	connect(t, w, h1)
	connect(t, w, h2)
	funds := mineOne(t, w) // outside a race: published at once
	waitTip(t, funds.Hash(), h1, h2, w)
	return h1, h2, w
}

// pay sends one coin from n's wallet to a fresh address of to's wallet.
func pay(t *testing.T, n, to *Node) chain.Hash {
	t.Helper()
	ctx := testkit.Context(t, 30*time.Second)
	var addr string
	rpcMust(ctx, t, to, "getnewaddress", &addr)
	var txid string
	rpcMust(ctx, t, n, "sendtoaddress", &txid, addr, 1)
	h, err := chain.ParseHash(txid)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func lastSpend(t *testing.T, w *Node) rpcjson.DoubleSpend {
	t.Helper()
	info := adversaryInfo(t, w)
	if len(info.DoubleSpends) == 0 {
		t.Fatalf("no double spend reported: %+v", info)
	}
	return info.DoubleSpends[len(info.DoubleSpends)-1]
}

// TestWithholdDoubleSpendReversesPayment is the whitepaper's section 11
// on real nodes: the attacker pays a merchant (an honest node's address),
// the payment confirms on the honest chain, while the attacker's private
// branch carries a conflicting spend of the same nonce; the release
// reorganises every honest node onto the conflict, the payment is gone
// from their chains and their mempools refuse it. A second payment, whose
// race the public chain wins, stands. An invalid block carrying the
// reversed payment is refused by the honest nodes.
func TestWithholdDoubleSpendReversesPayment(t *testing.T) {
	h1, h2, w := spendTrio(t)
	fork := w.Chain().Best()

	payment := pay(t, w, h1)
	sp := lastSpend(t, w)
	if sp.Outcome != "pending" || sp.Payment != payment.String() || sp.Conflict == "" || sp.ForkHeight != fork.Height {
		t.Fatalf("after sendtoaddress: %+v", sp)
	}
	conflict, err := chain.ParseHash(sp.Conflict)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the payment in the honest mempools", func() bool {
		return h1.pool.Has(payment) && h2.pool.Has(payment)
	})

	// The merchant's chain confirms the payment.
	hb := mineOne(t, h1)
	if !slices.Contains(hb.TxIDs(), payment) {
		t.Fatal("the honest block does not carry the payment")
	}
	waitTip(t, hb.Hash(), h1, h2)
	testkit.WaitFor(t, 30*time.Second, "the attacker counted the public block", func() bool {
		s := lastSpend(t, w)
		return s.Public == 1 && s.PaymentHeight == fork.Height+1 && s.Confirmations == 1
	})
	if w.Chain().HaveBlock(hb.Hash()) {
		t.Fatal("the attacker connected the public block during its race")
	}

	// The private branch: the conflict, never the payment.
	p1 := mineOne(t, w)
	if p1.Header.PrevBlock != fork.Hash || !slices.Contains(p1.TxIDs(), conflict) || slices.Contains(p1.TxIDs(), payment) {
		t.Fatalf("first private block: parent %s, conflict %v, payment %v", p1.Header.PrevBlock, slices.Contains(p1.TxIDs(), conflict), slices.Contains(p1.TxIDs(), payment))
	}
	if h1.Chain().HaveBlock(p1.Hash()) || h2.Chain().HaveBlock(p1.Hash()) {
		t.Fatal("the private block leaked before the release")
	}
	if s := lastSpend(t, w); s.Outcome != "pending" || s.Private != 1 {
		t.Fatalf("one private block (depth 2): %+v", s)
	}
	p2 := mineOne(t, w) // 2 private > 1 public: release
	waitTip(t, p2.Hash(), h1, h2, w)

	for i, n := range []*Node{h1, h2} {
		if _, bh, _, err := n.Chain().Transaction(conflict); err != nil || bh != p1.Hash() {
			t.Fatalf("honest node %d: conflict not in the main chain (%v)", i+1, err)
		}
		if _, _, _, err := n.Chain().Transaction(payment); err == nil {
			t.Fatalf("honest node %d: the payment is still in the main chain", i+1)
		}
		if i, ok := n.Chain().BlockInfo(hb.Hash()); !ok || i.InMainChain {
			t.Fatalf("honest node: the block that confirmed the payment is still main chain (%v)", ok)
		}
	}
	testkit.WaitFor(t, 30*time.Second, "the payment out of the honest mempools", func() bool {
		return !h1.pool.Has(payment) && !h2.pool.Has(payment)
	})
	ptx, _ := w.pool.Get(payment)
	if ptx == nil {
		ptx = hb.Txs[1]
	}
	if _, err := h1.pool.Add(ptx); err == nil {
		t.Fatal("an honest mempool accepted the reversed payment")
	}
	s := lastSpend(t, w)
	if s.Outcome != "reversed" || s.Confirmations != 1 || s.Private != 2 || s.Public != 1 {
		t.Fatalf("after the release: %+v", s)
	}

	// A second payment: the public chain wins the race; the attacker
	// gives up 2 behind, adopts the public blocks it kept and mines on them.
	payment2 := pay(t, w, h2)
	testkit.WaitFor(t, 30*time.Second, "the second payment in an honest mempool", func() bool { return h1.pool.Has(payment2) })
	mineOne(t, h1)
	last := mineOne(t, h1)
	waitTip(t, last.Hash(), h1, h2, w)
	if s := lastSpend(t, w); s.Outcome != "abandoned" || s.Public != 2 || s.Confirmations < 1 {
		t.Fatalf("after the public chain won: %+v", s)
	}
	for _, n := range []*Node{h1, h2, w} {
		if _, _, _, err := n.Chain().Transaction(payment2); err != nil {
			t.Fatalf("the second payment is not in the main chain: %v", err)
		}
	}
	honest := mineOne(t, w) // the attacker mines honestly again
	waitTip(t, honest.Hash(), h1, h2, w)

	// An invalid block carrying the reversed payment (its nonce is spent
	// by the conflict) is refused by every honest node.
	tip := h1.Chain().Best()
	tmpl, err := miner.NewTemplate(miner.TemplateSpec{Params: h1.cfg.params, Tip: tip, Txs: []*chain.Tx{ptx},
		PayTo: ptx.From(), Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var bad *chain.Block
	for nonce := uint32(0); ; nonce++ {
		bad = tmpl.MakeBlock([chain.ExtraNonceSize]byte{}, tmpl.RollTime(time.Now()), nonce)
		if chain.CheckProofOfWork(bad.Hash(), bad.Header.Bits, h1.cfg.params.PowLimit) == nil {
			break
		}
	}
	w.adv.publish(bad)
	testkit.WaitFor(t, 30*time.Second, "the adversary banned by both honest nodes", func() bool {
		return h1.net.IsBanned(w.net.ID()) && h2.net.IsBanned(w.net.ID())
	})
	for _, n := range []*Node{h1, h2} {
		if i, ok := n.Chain().BlockInfo(bad.Hash()); ok && !i.Invalid {
			t.Fatal("an honest node stored the double-spending block as valid")
		}
		if n.Chain().Best().Hash != tip.Hash {
			t.Fatal("an honest node moved off its tip")
		}
	}
}

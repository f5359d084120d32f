package chain_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/faultstore"
	"github.com/quarrychain/quarry/chain/memstore"
)

// faultScenario is a fixed sequence of chain operations that reaches every
// commit site: genesis, connecting blocks with transfers, storing side
// blocks, a reorg, storing a block that fails a header rule, invalidate and
// reconsider, and a reorg that fails on a bad signature (markInvalid).
type faultScenario struct {
	g     *chaintest.Generator
	steps []faultStep
	final string // the tip after every step succeeded
}

type faultStep struct {
	name string
	run  func(c *chain.Chain) error
	// wantKind is the rule error the step returns when storage works ("" = none).
	wantKind chain.ErrorKind
}

func newFaultScenario(t *testing.T) *faultScenario {
	g := chaintest.NewGenerator(t, chain.RegtestParams())
	for i := 1; i <= 4; i++ {
		parent := gen
		if i > 1 {
			parent = fmt.Sprintf("a%d", i-1)
			g.Transfer(parent, 0, i, chain.Coin, 10)
		}
		g.Next(fmt.Sprintf("a%d", i), parent)
	}
	g.Chain("b", "a1", 4) // b1..b4 at heights 2..5: heavier than a4
	g.Next("bad", "b4", chaintest.CoinbaseHeight(99))
	parent := "b4"
	for i := 1; i <= 3; i++ { // x2 carries a bad signature
		name := fmt.Sprintf("x%d", i)
		tx := g.Transfer(parent, 0, 3, chain.Coin/2, 5)
		if i == 2 {
			tx.Sig[5] ^= 1
		}
		g.Next(name, parent)
		parent = name
	}
	s := &faultScenario{g: g, final: "x1"}
	block := func(name string, kind chain.ErrorKind) faultStep {
		return faultStep{name: name, wantKind: kind, run: func(c *chain.Chain) error {
			_, err := c.ProcessBlock(g.Block(name))
			return err
		}}
	}
	for _, name := range []string{"a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4"} {
		s.steps = append(s.steps, block(name, ""))
	}
	s.steps = append(s.steps,
		block("bad", chain.ErrBadCoinbaseHeight),
		faultStep{name: "invalidate b3", run: func(c *chain.Chain) error { return c.InvalidateBlock(g.Hash("b3")) }},
		faultStep{name: "reconsider b3", run: func(c *chain.Chain) error { return c.ReconsiderBlock(g.Hash("b3")) }},
		block("x1", ""), block("x2", chain.ErrBadSignature), block("x3", chain.ErrInvalidAncestor),
	)
	return s
}

// replay runs every step, tolerating what a step repeated after a restart
// answers (duplicates, known-invalid marks), and fails on anything else.
func (s *faultScenario) replay(t *testing.T, c *chain.Chain) {
	t.Helper()
	for _, st := range s.steps {
		err := st.run(c)
		switch k := chain.KindOf(err); {
		case err == nil, k == st.wantKind, k == chain.ErrDuplicateBlock, k == chain.ErrKnownInvalid, k == chain.ErrInvalidAncestor:
		default:
			t.Fatalf("step %s: %v", st.name, err)
		}
	}
	s.g.AssertTip(t, c, s.final)
}

func faultNow(p *chain.Params) func() time.Time {
	far := chaintest.FarFuture(p)
	return func() time.Time { return far }
}

// memoryMatchesStore fails unless the chain's memory says what the store
// holds: the tip record names the in-memory tip, and every block of the
// scenario is indexed in memory exactly when the store has its index record,
// with the same invalid mark. (A chain reopened on the store may differ: it
// finishes activating stored blocks.)
func memoryMatchesStore(t *testing.T, g *chaintest.Generator, c *chain.Chain, st chain.Store) {
	t.Helper()
	rec, err := st.Get([]byte("T"))
	if err != nil {
		t.Fatal(err)
	}
	if tip := c.Best().Hash; !bytes.Equal(rec[:chain.HashSize], tip[:]) {
		t.Fatalf("memory tip %s, store tip record %x", tip, rec[:chain.HashSize])
	}
	for _, name := range []string{"a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "bad", "x1", "x2", "x3"} {
		h := g.Hash(name)
		raw, err := st.Get(append([]byte{'h'}, h[:]...))
		stored := err == nil
		info, inMemory := c.BlockInfo(h)
		if stored != inMemory {
			t.Fatalf("block %s: in memory %v, index record stored %v", name, inMemory, stored)
		}
		if stored {
			const failedBits = 2 | 4 // statusFailed | statusFailedAncestor
			if marked := raw[chain.HeaderSize+8]&failedBits != 0; marked != info.Invalid {
				t.Fatalf("block %s: invalid in memory %v, in store %v", name, info.Invalid, marked)
			}
		}
	}
}

// TestStoreFaultEveryCommit fails each commit of the scenario in turn, once
// as a failed write (nothing stored) and once as a failed fsync (stored but
// reported failed), and checks that the chain handles it: no panic, the
// operation returns an error matching ErrWriteFailed, Failed is closed and
// every later write is refused, nothing half-applied (after a failed write
// a chain reopened on the store is the chain in memory), and a restart on
// the store is consistent and finishes the scenario on the reference tip.
func TestStoreFaultEveryCommit(t *testing.T) {
	s := newFaultScenario(t)
	p := s.g.Params()

	// Reference run: count the commits.
	ref := faultstore.New(memstore.New())
	rc, err := chain.New(chain.Config{Params: p, Store: ref, Now: faultNow(p), VerifyWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.replay(t, rc)
	commits := ref.Commits()
	if commits < 15 {
		t.Fatalf("scenario made only %d commits", commits)
	}

	for _, mode := range []faultstore.CommitFault{faultstore.FailWrite, faultstore.FailSync} {
		for k := 1; k <= commits; k++ {
			t.Run(fmt.Sprintf("mode=%d/commit=%d", mode, k), func(t *testing.T) {
				inner := memstore.New()
				fs := faultstore.New(inner)
				fs.FailCommit(k, mode)
				c, err := chain.New(chain.Config{Params: p, Store: fs, Now: faultNow(p), VerifyWorkers: 1})
				failedAt := "open"
				if err == nil {
					failedAt = ""
					for _, st := range s.steps {
						err = st.run(c)
						if errors.Is(err, chain.ErrWriteFailed) {
							failedAt = st.name
							break
						}
						if k := chain.KindOf(err); err != nil && k != st.wantKind {
							t.Fatalf("step %s before the fault: %v", st.name, err)
						}
					}
				}
				if failedAt == "" || !errors.Is(err, chain.ErrWriteFailed) {
					t.Fatalf("commit %d failed but no operation reported ErrWriteFailed (last error %v)", k, err)
				}
				if c != nil {
					select {
					case <-c.Failed():
					default:
						t.Fatal("Failed not closed after a failed commit")
					}
					if !errors.Is(c.Err(), chain.ErrWriteFailed) {
						t.Fatalf("Err() = %v", c.Err())
					}
					before := fs.Commits()
					for _, st := range s.steps {
						err := st.run(c)
						if k := chain.KindOf(err); !errors.Is(err, chain.ErrWriteFailed) && k != chain.ErrDuplicateBlock && k != chain.ErrKnownInvalid {
							t.Fatalf("step %s after the fault: %v, want ErrWriteFailed", st.name, err)
						}
					}
					if fs.Commits() != before {
						t.Fatalf("%d commits attempted after the chain halted", fs.Commits()-before)
					}
				}
				if mode == faultstore.FailWrite && c != nil {
					memoryMatchesStore(t, s.g, c, inner)
				}
				// Restart on what the store holds.
				rc, err := chain.New(chain.Config{Params: p, Store: inner, Now: faultNow(p), VerifyWorkers: 1})
				if err != nil {
					t.Fatalf("restart after failing at %s: %v", failedAt, err)
				}
				s.replay(t, rc)
			})
		}
	}
}

// TestStoreReadFaultIsHandled: an I/O error reading state while connecting
// fails that block's processing without changing anything or halting the
// chain; once the disk answers again the block connects.
func TestStoreReadFaultIsHandled(t *testing.T) {
	s := newFaultScenario(t)
	c, fs, _ := faultChain(t, s.g)
	s.g.AcceptAll(t, c, "a1")
	a := s.g.Addr(0)
	ioErr := errors.New("input/output error")
	fs.FailRead(append([]byte{'a'}, a[:]...), ioErr)
	before := c.Best()
	if _, err := c.ProcessBlock(s.g.Block("a2")); !errors.Is(err, ioErr) || chain.KindOf(err) != "" {
		t.Fatalf("connect with a failing read: %v", err)
	}
	if c.Best() != before || c.Err() != nil {
		t.Fatalf("state changed (%v) or chain halted (%v) by a failed read", c.Best().Hash, c.Err())
	}
	fs.ClearReads()
	// a2 is stored; the next block makes the chain connect it.
	s.g.AcceptAll(t, c, "a3")
	s.g.AssertTip(t, c, "a3")
}

// TestAccountReadFailureHalts: Account cannot return an error, and a zero
// balance would be wrong data, so a failed state read halts the chain.
func TestAccountReadFailureHalts(t *testing.T) {
	s := newFaultScenario(t)
	c, fs, _ := faultChain(t, s.g)
	s.g.AcceptAll(t, c, "a1")
	a := s.g.Addr(0)
	if c.Account(a).Balance == 0 {
		t.Fatal("miner has no balance")
	}
	fs.FailChecksum(append([]byte{'a'}, a[:]...))
	c.Account(a)
	select {
	case <-c.Failed():
	default:
		t.Fatal("a failed account read did not halt the chain")
	}
	if !errors.Is(c.Err(), chain.ErrStoreCorrupted) {
		t.Fatalf("Err() = %v", c.Err())
	}
	if _, err := c.ProcessBlock(s.g.Block("a2")); !errors.Is(err, chain.ErrStoreCorrupted) {
		t.Fatalf("write after the halt: %v", err)
	}
}

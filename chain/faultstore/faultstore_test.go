package faultstore_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/faultstore"
	"github.com/quarrychain/quarry/chain/kv"
	"github.com/quarrychain/quarry/chain/kv/kvtest"
	"github.com/quarrychain/quarry/chain/memstore"
)

var _ chain.Store = (*faultstore.Store)(nil)

// Without faults the store behaves as the store it wraps.
func TestContract(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kvtest.Store { return faultstore.New(memstore.New()) })
}

func put(t *testing.T, s *faultstore.Store, k, v string) error {
	t.Helper()
	var b kv.Batch
	b.Put([]byte(k), []byte(v))
	return s.Commit(&b)
}

func TestCommitFaults(t *testing.T) {
	inner := memstore.New()
	s := faultstore.New(inner)
	s.FailCommit(2, faultstore.FailWrite)
	s.FailCommit(3, faultstore.FailSync)
	if err := put(t, s, "a", "1"); err != nil {
		t.Fatal(err)
	}
	if err := put(t, s, "b", "2"); !errors.Is(err, faultstore.ErrWrite) {
		t.Fatalf("commit 2: %v", err)
	}
	if _, err := inner.Get([]byte("b")); !errors.Is(err, kv.ErrNotFound) {
		t.Fatal("a failed write stored its batch")
	}
	if err := put(t, s, "c", "3"); !errors.Is(err, faultstore.ErrSync) {
		t.Fatalf("commit 3: %v", err)
	}
	if v, err := inner.Get([]byte("c")); err != nil || string(v) != "3" {
		t.Fatal("a failed sync did not store its batch")
	}
	if err := put(t, s, "d", "4"); err != nil {
		t.Fatalf("commit 4: %v", err)
	}
	s.FailAllCommits(faultstore.FailWrite)
	if err := put(t, s, "e", "5"); !errors.Is(err, faultstore.ErrWrite) {
		t.Fatalf("with all commits failing: %v", err)
	}
	if s.Commits() != 5 {
		t.Fatalf("Commits = %d", s.Commits())
	}
}

func TestReadFaults(t *testing.T) {
	s := faultstore.New(memstore.New())
	if err := put(t, s, "k", "value"); err != nil {
		t.Fatal(err)
	}
	s.FlipBit([]byte("k"), 0)
	if v, err := s.Get([]byte("k")); err != nil || bytes.Equal(v, []byte("value")) || len(v) != 5 {
		t.Fatalf("flipped read: %q, %v", v, err)
	}
	s.FailChecksum([]byte("k"))
	if _, err := s.Get([]byte("k")); !errors.Is(err, kv.ErrCorrupt) {
		t.Fatalf("checksum fault: %v", err)
	}
	if err := s.Iterate([]byte("k"), func(k, v []byte) error { return nil }); !errors.Is(err, kv.ErrCorrupt) {
		t.Fatalf("iterate over a corrupt key: %v", err)
	}
	// Rewriting the key heals it.
	if err := put(t, s, "k", "fresh"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k")); err != nil || string(v) != "fresh" {
		t.Fatalf("after rewrite: %q, %v", v, err)
	}
	io := errors.New("i/o error")
	s.FailRead([]byte("k"), io)
	if _, err := s.Get([]byte("k")); !errors.Is(err, io) {
		t.Fatalf("read fault: %v", err)
	}
	s.ClearReads()
	if _, err := s.Get([]byte("k")); err != nil {
		t.Fatal(err)
	}
}

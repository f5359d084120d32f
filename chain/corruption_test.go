package chain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"

	"github.com/quarrychain/quarry/chain/leveldbstore"
)

// TestCorruptedStoreIsRefused damages a closed on-disk store in several
// ways; opening it must fail with ErrStoreCorrupted and an actionable
// message instead of serving wrong data.
func TestCorruptedStoreIsRefused(t *testing.T) {
	p := chain.RegtestParams()
	g := chaintest.NewGenerator(t, p)
	g.Next("b1", "genesis")
	g.Transfer("b1", 0, 1, 5*chain.Coin, 1000) // queued for b2
	g.Next("b2", "b1")
	g.Next("b3", "b2")
	tip := g.Hash("b3")

	cases := map[string]func(db *leveldb.DB) error{
		"account balance changed": func(db *leveldb.DB) error {
			a := g.Addr(1)
			return db.Put(append([]byte{'a'}, a[:]...), make([]byte, 16), nil)
		},
		"account record truncated": func(db *leveldb.DB) error {
			a := g.Addr(0)
			return db.Put(append([]byte{'a'}, a[:]...), []byte{1, 2, 3}, nil)
		},
		"tip record missing": func(db *leveldb.DB) error { return db.Delete([]byte("T"), nil) },
		"tip not in index": func(db *leveldb.DB) error {
			return db.Delete(append([]byte{'h'}, tip[:]...), nil)
		},
		"index record garbage": func(db *leveldb.DB) error {
			h := g.Hash("b2")
			return db.Put(append([]byte{'h'}, h[:]...), []byte("garbage"), nil)
		},
		"height index wrong": func(db *leveldb.DB) error {
			h := g.Hash("b2")
			return db.Put([]byte{'n', 0, 0, 0, 0, 0, 0, 0, 3}, h[:], nil)
		},
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			store, err := leveldbstore.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			c, err := chain.New(chain.Config{Params: p, Store: store, Now: func() time.Time { return chaintest.FarFuture(p) }})
			if err != nil {
				t.Fatal(err)
			}
			g.AcceptAll(t, c, "b1", "b2", "b3")
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := leveldb.OpenFile(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := damage(db); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			store, err = leveldbstore.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = store.Close() }()
			_, err = chain.New(chain.Config{Params: p, Store: store})
			if !errors.Is(err, chain.ErrStoreCorrupted) {
				t.Fatalf("opening a damaged store: %v, want ErrStoreCorrupted", err)
			}
			if !strings.Contains(err.Error(), "corrupt") {
				t.Fatalf("error does not say what is wrong: %v", err)
			}
		})
	}
}

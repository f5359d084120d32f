// Package kvtest checks that a store honours the contract chain.Store
// documents, so every implementation (leveldbstore, memstore, faultstore)
// runs the same tests.
package kvtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/quarrychain/quarry/chain/kv"
)

// Store is the method set of chain.Store (restated here so that this
// package, like the stores, does not import chain).
type Store interface {
	Get(key []byte) ([]byte, error)
	Iterate(prefix []byte, fn func(key, value []byte) error) error
	Commit(b *kv.Batch) error
	Close() error
}

// Run runs the contract tests on stores made by open; open registers any
// cleanup it needs with t.
func Run(t *testing.T, open func(t *testing.T) Store) {
	t.Run("get-missing", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get([]byte("nope")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("Get of a missing key: %v, want kv.ErrNotFound", err)
		}
	})
	t.Run("batch-order-and-delete", func(t *testing.T) {
		s := open(t)
		var b kv.Batch
		b.Put([]byte("a1"), []byte("one"))
		b.Put([]byte("a2"), []byte("two"))
		b.Put([]byte("a1"), []byte("uno")) // a later write of the same key wins
		b.Put([]byte("b1"), []byte("x"))
		b.Delete([]byte("b1"))
		if b.Len() != 5 {
			t.Fatalf("Len = %d", b.Len())
		}
		if err := s.Commit(&b); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"a1": "uno", "a2": "two"}
		for k, v := range want {
			got, err := s.Get([]byte(k))
			if err != nil || string(got) != v {
				t.Fatalf("Get(%s) = %q, %v; want %q", k, got, err, v)
			}
		}
		if _, err := s.Get([]byte("b1")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("deleted key: %v", err)
		}
		var d kv.Batch
		d.Delete([]byte("a2"))
		d.Delete([]byte("never-there"))
		if err := s.Commit(&d); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get([]byte("a2")); !errors.Is(err, kv.ErrNotFound) {
			t.Fatalf("deleted key: %v", err)
		}
	})
	t.Run("iterate-prefix-in-order", func(t *testing.T) {
		s := open(t)
		var b kv.Batch
		for _, k := range []string{"p3", "q1", "p1", "o9", "p2", "p"} {
			b.Put([]byte(k), []byte("v"+k))
		}
		if err := s.Commit(&b); err != nil {
			t.Fatal(err)
		}
		var got []string
		err := s.Iterate([]byte("p"), func(k, v []byte) error {
			if !bytes.Equal(v, append([]byte("v"), k...)) {
				return fmt.Errorf("key %s has value %s", k, v)
			}
			got = append(got, string(k))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != "[p p1 p2 p3]" {
			t.Fatalf("Iterate(p) = %v", got)
		}
		stop := errors.New("stop")
		n := 0
		if err := s.Iterate([]byte("p"), func(k, v []byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("error from fn: %v after %d calls", err, n)
		}
	})
	t.Run("values-are-copies", func(t *testing.T) {
		s := open(t)
		val := []byte("value")
		var b kv.Batch
		b.Put([]byte("k"), val)
		if err := s.Commit(&b); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get([]byte("k"))
		if err != nil {
			t.Fatal(err)
		}
		got[0] = 'X'
		if again, _ := s.Get([]byte("k")); string(again) != "value" {
			t.Fatalf("modifying a returned value changed the store: %q", again)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 4; w++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					var b kv.Batch
					b.Put([]byte(fmt.Sprintf("w%d-%03d", w, i)), []byte{byte(i)})
					if err := s.Commit(&b); err != nil {
						errs <- err
						return
					}
				}
			}()
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					if err := s.Iterate([]byte("w"), func(k, v []byte) error { return nil }); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n := 0
		if err := s.Iterate([]byte("w"), func(k, v []byte) error { n++; return nil }); err != nil || n != 200 {
			t.Fatalf("%d keys after concurrent commits (%v)", n, err)
		}
	})
}

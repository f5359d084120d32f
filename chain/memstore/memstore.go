// Package memstore is a map-backed chain.Store for tests and tools: no
// files, no goroutines, no durability. Commit applies a batch atomically
// under a lock; Iterate works on a copy taken under the lock, so fn may call
// the store (and the chain may commit) while it runs.
package memstore

import (
	"bytes"
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/quarrychain/quarry/chain/kv"
)

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("memstore: closed")

// Store is an in-memory key-value store. The zero value is not usable; call
// New. It is safe for concurrent use.
type Store struct {
	mu     sync.RWMutex
	m      map[string][]byte
	closed bool
}

// New returns an empty store.
func New() *Store { return &Store{m: make(map[string][]byte)} }

// Get returns a copy of the value of key, or an error matching
// kv.ErrNotFound.
func (s *Store) Get(key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	v, ok := s.m[string(key)]
	if !ok {
		return nil, kv.ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Iterate calls fn for every key with the given prefix in key order, on a
// snapshot taken when it starts.
func (s *Store) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	type kvp struct{ k, v []byte }
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	var items []kvp
	for k, v := range s.m {
		if strings.HasPrefix(k, string(prefix)) {
			items = append(items, kvp{[]byte(k), bytes.Clone(v)})
		}
	}
	s.mu.RUnlock()
	sort.Slice(items, func(i, j int) bool { return bytes.Compare(items[i].k, items[j].k) < 0 })
	for _, it := range items {
		if err := fn(it.k, it.v); err != nil {
			return err
		}
	}
	return nil
}

// Commit applies the batch atomically.
func (s *Store) Commit(b *kv.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, op := range b.Ops {
		switch op.Kind {
		case kv.OpPut, kv.OpDelete:
		default:
			return errors.New("memstore: unknown batch operation")
		}
	}
	for _, op := range b.Ops {
		if op.Kind == kv.OpPut {
			s.m[string(op.Key)] = bytes.Clone(op.Value)
		} else {
			delete(s.m, string(op.Key))
		}
	}
	return nil
}

// Close marks the store closed and drops its contents.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.m = nil
	return nil
}

// Len returns the number of keys stored.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

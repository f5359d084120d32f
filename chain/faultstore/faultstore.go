// Package faultstore wraps a chain.Store and injects storage faults on
// command, for tests of what the chain and the node do when the disk fails:
//
//   - a commit that fails and writes nothing (a failed write: disk full, I/O
//     error), chosen by its number from now on;
//   - a commit that writes the batch and still reports failure (fsync
//     failed: the caller cannot know whether the data is durable);
//   - reads of chosen keys that return the stored bytes with one bit flipped
//     (damage the engine did not detect) or an error matching kv.ErrCorrupt
//     (damage its checksum caught);
//   - reads of chosen keys that fail with a given error.
//
// A commit that writes a corrupted key again heals it, as rewriting a bad
// record does on a real disk. Faults are deterministic: they fire on the
// commit number or key they were set for, never at random. A Store is safe
// for concurrent use.
package faultstore

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/quarrychain/quarry/chain/kv"
)

// Backend is the store a fault store wraps (any chain.Store).
type Backend interface {
	Get(key []byte) ([]byte, error)
	Iterate(prefix []byte, fn func(key, value []byte) error) error
	Commit(b *kv.Batch) error
	Close() error
}

// Errors returned by injected commit faults; match them with errors.Is.
var (
	// ErrWrite is the error of a commit that failed before writing anything.
	ErrWrite = errors.New("faultstore: injected write failure")
	// ErrSync is the error of a commit whose batch was written but whose
	// sync failed.
	ErrSync = errors.New("faultstore: injected fsync failure")
)

// CommitFault says how an injected commit failure behaves.
type CommitFault int

const (
	// FailWrite rejects the batch: nothing is written, ErrWrite is returned.
	FailWrite CommitFault = iota + 1
	// FailSync writes the batch, then returns ErrSync.
	FailSync
)

type readFault struct {
	flipAt  int   // byte whose lowest bit is flipped; -1 if none
	err     error // returned instead of the value when non-nil
	corrupt bool  // the error is a checksum failure (healed by a rewrite)
}

// Store is a Backend with fault injection. Build it with New.
type Store struct {
	inner Backend

	mu      sync.Mutex
	commits int                 // commits attempted so far
	commitF map[int]CommitFault // by commit number (1-based, absolute)
	always  CommitFault         // applies to every commit when non-zero
	reads   map[string]readFault
	getN    int // Get calls so far
}

// New wraps inner. With no fault set it behaves exactly as inner.
func New(inner Backend) *Store {
	return &Store{inner: inner, commitF: make(map[int]CommitFault), reads: make(map[string]readFault)}
}

// FailCommit makes the n-th Commit from now (1 = the next one; smaller n
// count as 1) fail as f.
func (s *Store) FailCommit(n int, f CommitFault) {
	n = max(n, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitF[s.commits+n] = f
}

// FailAllCommits makes every Commit from now fail as f (a full or read-only
// disk); 0 clears it.
func (s *Store) FailAllCommits(f CommitFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.always = f
}

// FlipBit makes reads of key return the stored value with the lowest bit of
// byte off flipped (off beyond the value flips its last byte) until key is
// written again.
func (s *Store) FlipBit(key []byte, off int) {
	if off < 0 {
		off = 0
	}
	s.setRead(key, readFault{flipAt: off})
}

// FailChecksum makes reads of key fail with an error matching kv.ErrCorrupt,
// as an engine reports a checksum failure, until key is written again.
func (s *Store) FailChecksum(key []byte) {
	s.setRead(key, readFault{flipAt: -1, err: fmt.Errorf("%w: faultstore: injected checksum failure on key %x", kv.ErrCorrupt, key), corrupt: true})
}

// FailRead makes reads of key fail with err (an I/O error) until ClearReads.
func (s *Store) FailRead(key []byte, err error) {
	s.setRead(key, readFault{flipAt: -1, err: err})
}

// ClearReads removes every read fault.
func (s *Store) ClearReads() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads = make(map[string]readFault)
}

func (s *Store) setRead(key []byte, f readFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[string(key)] = f
}

// Commits returns the number of Commit calls so far (failed ones included).
func (s *Store) Commits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commits
}

// Gets returns the number of Get calls so far.
func (s *Store) Gets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.getN
}

// Get reads through to the backend, applying read faults.
func (s *Store) Get(key []byte) ([]byte, error) {
	s.mu.Lock()
	s.getN++
	f, faulty := s.reads[string(key)]
	s.mu.Unlock()
	if faulty && f.err != nil {
		return nil, f.err
	}
	v, err := s.inner.Get(key)
	if err != nil || !faulty {
		return v, err
	}
	return flip(v, f.flipAt), nil
}

// Iterate reads through to the backend, applying read faults to values.
func (s *Store) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	return s.inner.Iterate(prefix, func(k, v []byte) error {
		s.mu.Lock()
		f, faulty := s.reads[string(k)]
		s.mu.Unlock()
		if !faulty {
			return fn(k, v)
		}
		if f.err != nil {
			return f.err
		}
		return fn(k, flip(v, f.flipAt))
	})
}

// Commit applies the commit fault set for this commit, if any, and
// otherwise writes through. A successful write heals the corrupted keys it
// rewrites.
func (s *Store) Commit(b *kv.Batch) error {
	s.mu.Lock()
	s.commits++
	n := s.commits
	f := s.commitF[n]
	delete(s.commitF, n)
	if s.always != 0 {
		f = s.always
	}
	s.mu.Unlock()
	if f == FailWrite {
		return fmt.Errorf("commit %d: %w", n, ErrWrite)
	}
	if err := s.inner.Commit(b); err != nil {
		return err
	}
	s.mu.Lock()
	for _, op := range b.Ops {
		if rf, ok := s.reads[string(op.Key)]; ok && (rf.flipAt >= 0 || rf.corrupt) {
			delete(s.reads, string(op.Key))
		}
	}
	s.mu.Unlock()
	if f == FailSync {
		return fmt.Errorf("commit %d: %w", n, ErrSync)
	}
	return nil
}

// Close closes the backend.
func (s *Store) Close() error { return s.inner.Close() }

func flip(v []byte, at int) []byte {
	if len(v) == 0 {
		return v
	}
	out := bytes.Clone(v)
	if at >= len(out) {
		at = len(out) - 1
	}
	out[at] ^= 1
	return out
}

// Package kv holds what the chain's storage engines share: the Batch of
// operations that chain.Store.Commit applies atomically and the sentinel
// errors a store reports. It imports nothing of Quarry, so a store package
// (leveldbstore, memstore, faultstore) depends only on it and the chain's
// own tests can use any store without an import cycle.
//
// A store implements chain.Store (Get, Iterate, Commit, Close). Get of a
// missing key returns an error matching ErrNotFound; data that fails the
// engine's own integrity checks (a block checksum, a torn record) is
// reported with an error matching ErrCorrupt, never as "not found" and never
// as wrong bytes.
package kv

import "errors"

// ErrNotFound is returned (possibly wrapped) by Get for a missing key.
var ErrNotFound = errors.New("not found")

// ErrCorrupt marks stored data that failed the storage engine's integrity
// checks. Match it with errors.Is.
var ErrCorrupt = errors.New("chain database corrupted")

// OpKind says what an Op does.
type OpKind uint8

const (
	// OpPut writes Key = Value.
	OpPut OpKind = iota + 1
	// OpDelete removes Key (absent keys are not an error).
	OpDelete
)

// Op is one write of a Batch. Key and Value are owned by the batch once
// recorded; the caller must not modify them afterwards.
type Op struct {
	Kind  OpKind
	Key   []byte
	Value []byte // nil for OpDelete
}

// Batch is an ordered list of writes applied atomically by one Commit: all
// or none, in order (a later write of the same key wins). It is a plain
// value any store can read; it is not safe for concurrent use.
type Batch struct {
	Ops []Op
}

// Put records a write of key = value.
func (b *Batch) Put(key, value []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpPut, Key: key, Value: value})
}

// Delete records a deletion of key.
func (b *Batch) Delete(key []byte) {
	b.Ops = append(b.Ops, Op{Kind: OpDelete, Key: key})
}

// Len returns the number of recorded operations.
func (b *Batch) Len() int { return len(b.Ops) }

// Reset empties the batch, keeping its capacity.
func (b *Batch) Reset() { b.Ops = b.Ops[:0] }

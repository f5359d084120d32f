// Package leveldbstore is the chain's production store: chain.Store on a
// goleveldb database in a directory. Every Commit is one goleveldb batch
// written with Sync, so a crash leaves either all of a batch or none of it.
//
// goleveldb verifies a checksum on every table block and journal record it
// reads; a failure is reported with an error matching kv.ErrCorrupt (the
// chain reports a block that fails as corrupt, not as missing). Get of a
// missing key returns an error matching kv.ErrNotFound.
//
// Only this package (and binaries that open a database: quarryd, the lab)
// link goleveldb; packages that only need chain's types do not.
package leveldbstore

import (
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/quarrychain/quarry/chain/kv"
)

// Store is a goleveldb database. It is safe for concurrent use.
type Store struct {
	db  *leveldb.DB
	dir string
}

// Open opens (creating if needed) the database in dir. A database that
// goleveldb finds corrupted yields an error matching kv.ErrCorrupt that
// says what to do: the node must stop rather than serve wrong data.
func Open(dir string) (*Store, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{
		BlockCacheCapacity: 32 << 20,
		WriteBuffer:        16 << 20,
	})
	if err != nil {
		if lerrors.IsCorrupted(err) {
			return nil, fmt.Errorf("%w: %s: %v: stop the node, move the directory aside and restart to resync from peers", kv.ErrCorrupt, dir, err)
		}
		return nil, fmt.Errorf("open chain database %s: %w", dir, err)
	}
	return &Store{db: db, dir: dir}, nil
}

// Get returns the value of key, an error matching kv.ErrNotFound if it is
// absent, or one matching kv.ErrCorrupt if the data failed its checksum.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, kv.ErrNotFound
	}
	if err != nil {
		return nil, s.wrap(err)
	}
	return v, nil
}

// Iterate calls fn for every key with the given prefix in key order, on a
// consistent snapshot. The slices passed to fn are only valid during the
// call; an error from fn stops the iteration and is returned as is.
func (s *Store) Iterate(prefix []byte, fn func(key, value []byte) error) error {
	it := s.db.NewIterator(util.BytesPrefix(prefix), nil)
	defer it.Release()
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Commit writes the batch atomically and syncs it to disk before it returns.
func (s *Store) Commit(b *kv.Batch) error {
	var lb leveldb.Batch
	for _, op := range b.Ops {
		switch op.Kind {
		case kv.OpPut:
			lb.Put(op.Key, op.Value)
		case kv.OpDelete:
			lb.Delete(op.Key)
		default:
			return fmt.Errorf("chain database: unknown batch operation %d", op.Kind)
		}
	}
	if err := s.db.Write(&lb, &opt.WriteOptions{Sync: true}); err != nil {
		return s.wrap(err)
	}
	return nil
}

// Close releases the database. Using the store afterwards returns errors.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close chain database %s: %w", s.dir, err)
	}
	return nil
}

func (s *Store) wrap(err error) error {
	if lerrors.IsCorrupted(err) {
		return fmt.Errorf("%w: %s: %v (stop the node, move the chain database aside and restart to resync)", kv.ErrCorrupt, s.dir, err)
	}
	return fmt.Errorf("chain database %s: %w", s.dir, err)
}

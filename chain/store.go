package chain

import (
	"errors"
	"fmt"

	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// Store is the key-value storage the chain keeps its blocks, index and state
// in. Commit applies a Batch atomically and durably (synced to disk before it
// returns). Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the value of key, or an error matching ErrNotFound.
	Get(key []byte) ([]byte, error)
	// Iterate calls fn for every key with the given prefix in key order.
	// The slices passed to fn are only valid during the call.
	Iterate(prefix []byte, fn func(key, value []byte) error) error
	// Commit writes the batch atomically with fsync.
	Commit(b *Batch) error
	// Close releases the store.
	Close() error
}

// Batch collects writes for one atomic Commit. It is not safe for concurrent use.
type Batch struct {
	b leveldb.Batch
}

// Put records a write of key=value.
func (b *Batch) Put(key, value []byte) { b.b.Put(key, value) }

// Delete records a deletion of key.
func (b *Batch) Delete(key []byte) { b.b.Delete(key) }

// Len returns the number of recorded operations.
func (b *Batch) Len() int { return b.b.Len() }

// levelStore is the goleveldb implementation of Store.
type levelStore struct {
	db *leveldb.DB
}

// OpenLevelDB opens (creating if needed) a goleveldb database in dir. A
// corrupted database yields an error that says so and what to do; the node
// must stop rather than serve wrong data.
func OpenLevelDB(dir string) (Store, error) {
	db, err := leveldb.OpenFile(dir, &opt.Options{
		BlockCacheCapacity: 32 << 20,
		WriteBuffer:        16 << 20,
	})
	if err != nil {
		if lerrors.IsCorrupted(err) {
			return nil, fmt.Errorf("chain database %s is corrupted (%v): stop the node, move the directory aside and restart to resync from peers", dir, err)
		}
		return nil, fmt.Errorf("open chain database %s: %w", dir, err)
	}
	return &levelStore{db: db}, nil
}

// OpenMemStore returns a Store on goleveldb's in-memory storage, for tests.
func OpenMemStore() Store {
	db, err := leveldb.Open(storage.NewMemStorage(), nil)
	if err != nil {
		panic(fmt.Sprintf("open in-memory leveldb: %v", err)) // cannot happen for fresh memory storage
	}
	return &levelStore{db: db}
}

func (s *levelStore) Get(key []byte) ([]byte, error) {
	v, err := s.db.Get(key, nil)
	if errors.Is(err, leveldb.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return v, nil
}

func (s *levelStore) Iterate(prefix []byte, fn func(k, v []byte) error) error {
	it := s.db.NewIterator(util.BytesPrefix(prefix), nil)
	defer it.Release()
	for it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return storeErr(err)
	}
	return nil
}

func (s *levelStore) Commit(b *Batch) error {
	if err := s.db.Write(&b.b, &opt.WriteOptions{Sync: true}); err != nil {
		return storeErr(err)
	}
	return nil
}

func (s *levelStore) Close() error { return s.db.Close() }

// ErrStoreCorrupted marks data in the store that cannot be trusted.
var ErrStoreCorrupted = errors.New("chain database corrupted")

func storeErr(err error) error {
	if lerrors.IsCorrupted(err) {
		return fmt.Errorf("%w: %v (stop the node, move the data directory's chain database aside and restart to resync)", ErrStoreCorrupted, err)
	}
	return fmt.Errorf("chain database: %w", err)
}

// Key layout. Every key starts with a one-byte table prefix.
const (
	prefixIndex   = 'h' // 'h' | hash -> header(80) | height u64 | status u8
	prefixBlock   = 'b' // 'b' | hash -> canonical block bytes
	prefixUndo    = 'u' // 'u' | hash -> undo record of a connected block
	prefixAccount = 'a' // 'a' | address -> balance u64 | nonce u64
	prefixTxIndex = 't' // 't' | txid -> block hash (main chain only)
	prefixHeight  = 'n' // 'n' | height u64 big-endian -> hash (main chain only)
	keyTip        = "T" // tip hash | state digest sum(32) | account count u64
	keyMeta       = "M" // schema version u32 | network name
)

func hashKey(prefix byte, h Hash) []byte {
	k := make([]byte, 1+HashSize)
	k[0] = prefix
	copy(k[1:], h[:])
	return k
}

func accountKey(a Address) []byte {
	k := make([]byte, 1+AddressSize)
	k[0] = prefixAccount
	copy(k[1:], a[:])
	return k
}

func heightKey(h uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixHeight
	for i := 0; i < 8; i++ {
		k[8-i] = byte(h >> (8 * i))
	}
	return k
}

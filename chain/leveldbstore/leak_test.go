package leveldbstore_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that closing a store stops goleveldb's goroutines
// (compaction, journal). Its memory-pool drainer may linger up to a second
// after Close, by goleveldb's design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}

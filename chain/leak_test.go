package chain

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// goleveldb's memory-pool drainer lingers up to 1s after DB.Close.
		goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"),
		// In TestCrashRecovery's child process, the watcher of the parent's
		// stdin runs until the process is killed or exits.
		goleak.IgnoreAnyFunction("github.com/quarrychain/quarry/chain.TestCrashChild.func1"),
	)
}

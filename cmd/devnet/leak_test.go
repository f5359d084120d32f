package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the lab's tests leave no goroutine behind (streams,
// processes, RPC clients). Idle keep-alive connections are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

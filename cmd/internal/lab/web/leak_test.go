package web_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the tests leave no goroutine behind: the page
// server, its collector and browser connections, the lab's nodes' streams
// and the browser driver must all have stopped. Idle keep-alive
// connections of the HTTP clients are not leaks.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// toxiproxy's toxic pipes may stay blocked inside the library after
		// Proxy.Stop (see cmd/devnet's TestMain).
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
	)
}

package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the lab's tests leave no goroutine behind (streams,
// processes, RPC clients, link proxies). Idle keep-alive connections are
// not leaks, and neither are toxiproxy's toxic pipes: after Proxy.Stop a
// toxic (latency, bandwidth) may stay blocked sending to a link whose
// reader is gone, inside the library, one or two per link of the test's
// labs.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run"),
	)
}

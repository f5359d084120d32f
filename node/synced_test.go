package node

import (
	"context"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
)

// TestDispatchMark: wait returns at once for a tip the views have
// processed (or passed), waits for set otherwise, and gives up on ctx or
// timeout.
func TestDispatchMark(t *testing.T) {
	tip := func(h uint64) chain.Snapshot { return chain.Snapshot{Height: h, Hash: chain.Hash{byte(h)}} }
	d := newDispatchMark(tip(5))
	ctx := testkit.Context(t, 30*time.Second)
	if !d.wait(ctx, tip(5), time.Hour) || !d.wait(ctx, tip(4), time.Hour) {
		t.Fatal("a processed tip is waited for")
	}
	done := make(chan bool, 1)
	go func() { done <- d.wait(ctx, tip(7), time.Hour) }()
	d.set(tip(6))
	if d.wait(ctx, tip(7), 50*time.Millisecond) {
		t.Fatal("wait returned true before the tip was processed")
	}
	select {
	case <-done:
		t.Fatal("wait returned before the tip was processed")
	default:
	}
	d.set(tip(7))
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("wait gave up after the tip was processed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait did not return after the tip was processed")
	}
	if d.wait(ctx, tip(8), time.Millisecond) {
		t.Fatal("wait for an unprocessed tip returned true after its timeout")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if d.wait(cctx, tip(8), time.Hour) {
		t.Fatal("wait returned true after its context ended")
	}
}

package node

import (
	"context"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// dispatchMark is the chain tip of the last event the dispatcher has
// delivered to the mempool, the wallet and the notification hub. The
// chain changes first and those views follow on the dispatcher's
// goroutine, so a client that mines a block and at once asks the mempool
// or the wallet could see them one block behind. generatetoaddress waits
// for the mark to reach the tip it mined, so that it returns, as Bitcoin
// Core's does, with the mined transactions out of the mempool and the
// wallet credited. It is safe for concurrent use.
type dispatchMark struct {
	mu      sync.Mutex
	tip     chain.Snapshot
	changed chan struct{} // closed and replaced by every set
}

func newDispatchMark(tip chain.Snapshot) *dispatchMark {
	return &dispatchMark{tip: tip, changed: make(chan struct{})}
}

// set records that the views have processed the events up to tip.
func (d *dispatchMark) set(tip chain.Snapshot) {
	d.mu.Lock()
	d.tip = tip
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// wait returns true once the views have caught up with tip (processed it,
// or a tip at least as high), and false when ctx ends or timeout passes
// first (an event dropped under load is repaired by the next one, which
// may not come: the caller goes on regardless).
func (d *dispatchMark) wait(ctx context.Context, tip chain.Snapshot, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		d.mu.Lock()
		cur, changed := d.tip, d.changed
		d.mu.Unlock()
		if cur.Hash == tip.Hash || cur.Height >= tip.Height {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		case <-t.C:
			return false
		}
	}
}

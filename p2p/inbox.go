package p2p

import "sync"

// inbox is a queue from any number of producers to one consumer that never
// blocks a producer. push appends under a lock and then signals wake, a
// channel of one slot, so pushes made while the consumer is busy coalesce
// into a single wake-up; the consumer takes everything queued at once, in
// push order. Since push queues before it signals, a consumer that takes
// and then waits on wake never misses an item.
//
// The wake channel must have capacity 1 (newInbox makes it). Safe for
// concurrent use.
type inbox[T any] struct {
	mu    sync.Mutex
	items []T
	wake  chan struct{}
}

// newInbox returns an empty inbox.
func newInbox[T any]() *inbox[T] {
	return &inbox[T]{wake: make(chan struct{}, 1)}
}

// push queues items, in order, after everything already queued, and wakes
// the consumer.
func (q *inbox[T]) push(items ...T) {
	q.mu.Lock()
	q.items = append(q.items, items...)
	q.mu.Unlock()
	signal(q.wake)
}

// take removes and returns everything queued, oldest first; nil if the
// inbox is empty.
func (q *inbox[T]) take() []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}

package p2p

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit"
)

// wakePending reports whether a wake-up is waiting, consuming it.
func wakePending[T any](q *inbox[T]) bool {
	select {
	case <-q.wake:
		return true
	default:
		return false
	}
}

// TestInboxOrderAndWake: take returns everything pushed, oldest first, and
// empties the inbox; pushes made before the consumer looks coalesce into
// one wake-up, and a push after a take wakes it again.
func TestInboxOrderAndWake(t *testing.T) {
	q := newInbox[int]()
	if got := q.take(); got != nil {
		t.Fatalf("take from a new inbox: %v", got)
	}
	if wakePending(q) {
		t.Fatal("a new inbox has a wake-up pending")
	}

	q.push(1)
	q.push(2, 3)
	q.push(4)
	if !wakePending(q) {
		t.Fatal("no wake-up after pushes")
	}
	if wakePending(q) {
		t.Fatal("three pushes left more than one wake-up")
	}
	if got, want := q.take(), []int{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("take: %v, want %v", got, want)
	}
	if got := q.take(); got != nil {
		t.Fatalf("take after take: %v", got)
	}

	q.push(5)
	if !wakePending(q) {
		t.Fatal("no wake-up for a push after a take")
	}
	if got, want := q.take(), []int{5}; !slices.Equal(got, want) {
		t.Fatalf("take: %v, want %v", got, want)
	}
}

// TestInboxConcurrentPush: producers push concurrently while the consumer
// takes and waits on wake; every item arrives exactly once, each
// producer's items in the order it pushed them, and no wake-up is lost
// (the consumer would wait forever for the last items). Run it under
// -race.
func TestInboxConcurrentPush(t *testing.T) {
	const producers, each = 8, 2000
	q := newInbox[[2]int]() // producer, sequence number
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i += 2 {
				if i%4 == 0 {
					q.push([2]int{p, i}, [2]int{p, i + 1})
				} else {
					q.push([2]int{p, i})
					q.push([2]int{p, i + 1})
				}
			}
		}()
	}
	defer wg.Wait()

	ctx := testkit.Context(t, 30*time.Second)
	next := make([]int, producers)
	for got := 0; got < producers*each; {
		for _, it := range q.take() {
			p, i := it[0], it[1]
			if i != next[p] {
				t.Fatalf("producer %d: item %d arrived, want %d", p, i, next[p])
			}
			next[p]++
			got++
		}
		if got == producers*each {
			break
		}
		select {
		case <-q.wake:
		case <-ctx.Done():
			t.Fatalf("waited for a wake-up with %d of %d items taken", got, producers*each)
		}
	}
	if rest := q.take(); rest != nil {
		t.Fatalf("%d items beyond those pushed", len(rest))
	}
}

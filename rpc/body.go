package rpc

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Request bodies are read before a request takes a work slot, so a client
// that uploads slowly holds a goroutine and a little memory but never one of
// the MaxConcurrent slots. Memory stays bounded by a byte budget shared by
// all bodies (bodyBudget): a body's buffer starts small and doubles as bytes
// arrive, and every growth is paid from the budget first. A trickling upload
// therefore holds only about as many bytes as it has sent.

// initialBodyBuffer is the first buffer of a body whose length is unknown or
// larger.
const initialBodyBuffer = 512

// errBodyBudget is returned by readBody when the body buffer budget is
// exhausted.
var errBodyBudget = errors.New("request body buffer budget exhausted")

// bodyBudget bounds the bytes buffered for request bodies at once. It is
// safe for concurrent use.
type bodyBudget struct {
	mu    sync.Mutex
	used  int64
	max   int64
	gauge prometheus.Gauge
}

// tryAcquire takes n bytes from the budget, or reports false without taking
// anything.
func (b *bodyBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	b.gauge.Set(float64(b.used))
	return true
}

// release returns n bytes to the budget.
func (b *bodyBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	b.gauge.Set(float64(b.used))
}

// readBody reads r's body, at most MaxBodyBytes, under a read deadline of
// BodyTimeout, with its buffer paid from the budget. On success the deadline
// is lifted and the caller must return held bytes to the budget once the
// body is no longer used. On error nothing is held, and the connection is
// marked to close after the reply with the deadline left in place, so that
// net/http does not wait for the rest of the body. Errors:
// *http.MaxBytesError beyond the limit, errBodyBudget, a timeout
// (os.ErrDeadlineExceeded) or the connection's read error.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, held int64, err error) {
	s.metrics.bodiesReading.Inc()
	defer s.metrics.bodiesReading.Dec()
	rc := http.NewResponseController(w)
	// Not every ResponseWriter supports deadlines (httptest's does not);
	// the server's ReadTimeout still applies then.
	_ = rc.SetReadDeadline(time.Now().Add(s.cfg.BodyTimeout))

	limit := s.cfg.MaxBodyBytes
	src := http.MaxBytesReader(w, r.Body, limit)
	// One byte more than the limit lets a body of exactly limit bytes
	// reach EOF without another growth.
	size := int64(initialBodyBuffer)
	if n := r.ContentLength; n >= 0 && n < size {
		size = n + 1
	}
	defer func() {
		if err != nil {
			s.bodies.release(held)
			body, held = nil, 0
			w.Header().Set("Connection", "close")
			return
		}
		// The handler may run long (waitfornewblock); net/http's
		// background read must not time out under it.
		_ = rc.SetReadDeadline(time.Time{})
	}()
	for {
		if int64(len(body)) == held {
			if held > limit {
				// Unreachable: MaxBytesReader fails first.
				return nil, held, &http.MaxBytesError{Limit: limit}
			}
			grow := min(max(size, 2*held), limit+1) - held
			if !s.bodies.tryAcquire(grow) {
				return nil, held, errBodyBudget
			}
			next := make([]byte, len(body), held+grow)
			copy(next, body)
			body, held = next, held+grow
		}
		n, rerr := src.Read(body[len(body):held])
		body = body[:len(body)+n]
		if rerr == io.EOF {
			return body, held, nil
		}
		if rerr != nil {
			return nil, held, rerr
		}
	}
}

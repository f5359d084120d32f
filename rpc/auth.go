package rpc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/quarrychain/quarry/chain/atomicfile"
)

// CookieFile is the name of the cookie file in the data directory, and
// CookieUser its user name, both as in Bitcoin Core.
const (
	CookieFile = ".cookie"
	CookieUser = "__cookie__"
)

// WriteCookie creates dir/.cookie with mode 0600 holding
// "__cookie__:<64 random hex digits>" and returns the credentials. It is
// written with atomicfile, so a reader never sees a partial cookie. It is
// safe for concurrent use with distinct directories.
func WriteCookie(dir string) (user, pass string, err error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", fmt.Errorf("rpc cookie: %w", err)
	}
	pass = hex.EncodeToString(secret[:])
	content := []byte(CookieUser + ":" + pass)
	if err := atomicfile.WriteFile(filepath.Join(dir, CookieFile), content, 0o600); err != nil {
		return "", "", fmt.Errorf("rpc cookie: %w", err)
	}
	return CookieUser, pass, nil
}

// RemoveCookie deletes dir/.cookie; a missing file is not an error.
func RemoveCookie(dir string) error {
	err := os.Remove(filepath.Join(dir, CookieFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rpc cookie: %w", err)
	}
	return nil
}

// credentials holds the digest of the accepted "user:password". Comparing
// fixed-size digests in constant time reveals neither content nor length.
type credentials struct {
	digest [sha256.Size]byte
	user   string
}

func newCredentials(user, pass string) *credentials {
	return &credentials{digest: sha256.Sum256([]byte(user + ":" + pass)), user: user}
}

// check reports whether an Authorization header value carries the
// credentials (HTTP Basic, as Core parses it).
func (c *credentials) check(header string) bool {
	if c == nil {
		return false
	}
	const prefix = "Basic "
	if !strings.HasPrefix(header, prefix) {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil || !strings.Contains(string(raw), ":") {
		return false
	}
	got := sha256.Sum256(raw)
	return subtle.ConstantTimeCompare(got[:], c.digest[:]) == 1
}

// authBacklog bounds how long failed checks may be queued for their turn:
// while the next failure would wait longer, connections that have not
// authenticated are refused without a check.
const authBacklog = 2 * time.Second

// authThrottle slows password guessing for the whole server, not per
// request. Every failed check takes a token from one limiter (AuthFailureRate
// per second, AuthFailureBurst at once) and its 401 waits for that token's
// time. The token stays spent when the client leaves early, and while the
// queued failures would take longer than authBacklog, requests on
// connections that have not yet authenticated are refused before their
// credentials are checked. Without that refusal a client that gives up on
// each guess after a few milliseconds would learn the outcome of any number
// of guesses per second, because correct credentials are answered at once.
// Admission counts the checks in progress as failures, so concurrent
// requests cannot all be admitted on the same spare token. Correct
// credentials never wait for the limiter. It is safe for concurrent use.
type authThrottle struct {
	delay time.Duration // minimum wait of every failure
	lim   *rate.Limiter // nil: no global bound

	mu      sync.Mutex
	pending int // admitted checks whose outcome is not recorded yet
}

func newAuthThrottle(cfg *Config) *authThrottle {
	t := &authThrottle{delay: cfg.AuthFailureDelay}
	if cfg.AuthFailureRate > 0 {
		t.lim = rate.NewLimiter(rate.Limit(cfg.AuthFailureRate), cfg.AuthFailureBurst)
	}
	return t
}

// admit reports whether a request on a connection that has not
// authenticated may have its credentials checked at now: false while the
// next failure, counting the checks in progress as failures, would wait
// longer than authBacklog for its turn. After true the caller must call
// finish with admitted set.
func (t *authThrottle) admit(now time.Time) bool {
	if t.lim == nil {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	tokens := t.lim.TokensAt(now) - float64(t.pending)
	if tokens < 1 {
		wait := time.Duration((1 - tokens) / float64(t.lim.Limit()) * float64(time.Second))
		if wait > authBacklog {
			return false
		}
	}
	t.pending++
	return true
}

// finish records the outcome of a check made at now (admitted: it went
// through admit) and returns how long the 401 of a failure must wait; a
// success waits for nothing.
func (t *authThrottle) finish(now time.Time, admitted, ok bool) time.Duration {
	if t.lim == nil {
		if ok {
			return 0
		}
		return t.delay
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if admitted {
		t.pending--
	}
	if ok {
		return 0
	}
	return max(t.delay, t.lim.ReserveN(now, 1).DelayFrom(now))
}

// connKey is the context key of a connection's *connState.
type connKey struct{}

// connState is what the server remembers about one HTTP connection: whether
// a request on it has authenticated. Such a connection is trusted not to be
// guessing: its requests skip the throttle's admission (their failures
// still count and wait).
type connState struct{ authed atomic.Bool }

// withConnState is the http.Server's ConnContext.
func withConnState(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, new(connState))
}

// connStateOf returns the request's connection state, nil when the handler
// is served without Run (tests mounting Handler).
func connStateOf(r *http.Request) *connState {
	cs, _ := r.Context().Value(connKey{}).(*connState)
	return cs
}

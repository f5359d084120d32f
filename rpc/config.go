package rpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the Config limits.
const (
	DefaultMaxBodyBytes      = 4 << 20
	DefaultMaxBatch          = 100
	DefaultMaxConcurrent     = 16
	DefaultBodyTimeout       = 10 * time.Second
	DefaultAuthFailureRate   = 16
	DefaultAuthFailureBurst  = 16
	DefaultAuthFailureDelay  = 250 * time.Millisecond
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultMaxWSClients      = 64
	DefaultWSQueueSize       = 256
	DefaultWSWriteTimeout    = 10 * time.Second
	DefaultWSPingInterval    = 30 * time.Second
	DefaultWSMaxMessageBytes = 1 << 20
	DefaultEventBuffer       = 4096
	DefaultMaxTipAge         = 24 * time.Hour
)

// Config configures a Server. Zero values of the limits select the defaults
// above. Backend and ListenAddr are required, and so is authentication:
// either User and Password, or CookieDir (Bitcoin Core's rule: a password
// disables the cookie). New copies it; it is not used concurrently.
type Config struct {
	// Backend is the node (required).
	Backend Backend
	// ListenAddr is the host:port to listen on, e.g. "127.0.0.1:27732" or
	// "127.0.0.1:0" (tests); empty means 127.0.0.1 and the network's
	// DefaultRPCPort. A host that is not a loopback address (an empty host
	// means all interfaces) is refused unless AllowNonLoopback.
	ListenAddr string
	// AllowNonLoopback permits a non-loopback ListenAddr. Authentication is
	// required either way.
	AllowNonLoopback bool

	// User and Password are the static credentials (--rpc-user,
	// --rpc-password). Password non-empty disables the cookie.
	User, Password string
	// CookieDir is the data directory: without a Password, Run writes
	// CookieDir/.cookie (mode 0600, "__cookie__:<64 hex>") before it
	// listens and removes it after shutdown.
	CookieDir string
	// AuthFailureDelay is how long a request with wrong credentials waits
	// before its 401 (deters brute force; Core waits 250 ms). Zero selects
	// the default; a negative value disables the delay (tests).
	AuthFailureDelay time.Duration
	// AuthFailureRate bounds, for the whole server, how many wrong
	// credentials are checked per second (default 16, about what Core's
	// worker threads allow; negative: no global bound, tests), and
	// AuthFailureBurst how many may be checked at once above that rate
	// (default 16). A failure's 401 waits for its turn at this rate (and at
	// least AuthFailureDelay); while the failures waiting for their turn
	// would take more than two seconds, requests on connections that have
	// not yet authenticated are refused with 503 without their credentials
	// being checked. See the package documentation.
	AuthFailureRate  float64
	AuthFailureBurst int

	// MaxBodyBytes bounds a request body (413 beyond; default 4 MiB).
	MaxBodyBytes int64
	// MaxBodyBuffer bounds the bytes buffered for the bodies of all HTTP
	// requests at once, being read or executing (default MaxConcurrent x
	// MaxBodyBytes). A buffer grows with the bytes that arrive, so a slow
	// upload holds little; a request that would exceed the bound gets 503.
	MaxBodyBuffer int64
	// BodyTimeout bounds the reading of one request body, counted from the
	// end of authentication (default 10 s; 408 beyond); for the body it
	// replaces ReadTimeout. Bodies are read before a request takes one of
	// the MaxConcurrent work slots.
	BodyTimeout time.Duration
	// MaxBatch bounds the requests of one batch (default 100).
	MaxBatch int
	// MaxConcurrent bounds the HTTP requests executing at once; more get
	// 503 at once (default 16).
	MaxConcurrent int
	// HTTP server timeouts (defaults 10 s, 30 s, 60 s, 120 s).
	// waitfornewblock lifts the write deadline of its own request.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight requests
	// after its context ends before closing connections (default 10 s).
	ShutdownTimeout time.Duration

	// MaxWSClients bounds concurrent WebSocket connections (default 64).
	MaxWSClients int
	// WSQueueSize is each WebSocket connection's outgoing queue in
	// messages; a subscriber whose queue is full is disconnected
	// (default 256).
	WSQueueSize int
	// WSWriteTimeout bounds one WebSocket write (default 10 s).
	WSWriteTimeout time.Duration
	// WSPingInterval is the keep-alive ping period; a peer that does not
	// answer within two periods is dropped (default 30 s).
	WSPingInterval time.Duration
	// WSMaxMessageBytes bounds a message from a WebSocket client (default 1 MiB).
	WSMaxMessageBytes int64
	// EventBuffer is the channel size asked of Backend.SubscribeEvents
	// (default 4096).
	EventBuffer int

	// MaxTipAge: getblockchaininfo reports initialblockdownload while the
	// tip is older than this (default 24 h, Core's -maxtipage).
	MaxTipAge time.Duration

	// OnStop is called by the "stop" method, after its reply is built. It
	// must not block (typically the context.CancelFunc of the node).
	OnStop func()
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives one line per notable event (nil: discard).
	Logger *slog.Logger
	// Registerer receives the server's metrics (nil: kept, not registered).
	Registerer prometheus.Registerer
}

func (c *Config) applyDefaults() {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.WSMaxMessageBytes <= 0 {
		c.WSMaxMessageBytes = DefaultWSMaxMessageBytes
	}
	setInt(&c.MaxBatch, DefaultMaxBatch)
	setInt(&c.MaxConcurrent, DefaultMaxConcurrent)
	if c.MaxBodyBuffer <= 0 {
		c.MaxBodyBuffer = int64(c.MaxConcurrent) * c.MaxBodyBytes
	}
	setDur(&c.BodyTimeout, DefaultBodyTimeout)
	if c.AuthFailureRate == 0 {
		c.AuthFailureRate = DefaultAuthFailureRate
	}
	setInt(&c.AuthFailureBurst, DefaultAuthFailureBurst)
	setInt(&c.MaxWSClients, DefaultMaxWSClients)
	setInt(&c.WSQueueSize, DefaultWSQueueSize)
	setInt(&c.EventBuffer, DefaultEventBuffer)
	setDur(&c.AuthFailureDelay, DefaultAuthFailureDelay)
	if c.AuthFailureDelay < 0 {
		c.AuthFailureDelay = 0
	}
	setDur(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDur(&c.ReadTimeout, DefaultReadTimeout)
	setDur(&c.WriteTimeout, DefaultWriteTimeout)
	setDur(&c.IdleTimeout, DefaultIdleTimeout)
	setDur(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDur(&c.WSWriteTimeout, DefaultWSWriteTimeout)
	setDur(&c.WSPingInterval, DefaultWSPingInterval)
	setDur(&c.MaxTipAge, DefaultMaxTipAge)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate checks the config and fills the default listen address.
func (c *Config) validate() error {
	if c.Backend == nil {
		return errors.New("rpc: Config.Backend is required")
	}
	if c.Backend.Params() == nil {
		return errors.New("rpc: Backend.Params() returned nil")
	}
	if c.ListenAddr == "" {
		c.ListenAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Backend.Params().DefaultRPCPort))
	}
	host, _, err := net.SplitHostPort(c.ListenAddr)
	if err != nil {
		return fmt.Errorf("rpc: listen address %q: %w", c.ListenAddr, err)
	}
	if !c.AllowNonLoopback && !isLoopbackHost(host) {
		return fmt.Errorf("rpc: refusing to listen on non-loopback address %q without AllowNonLoopback", c.ListenAddr)
	}
	if c.Password == "" && c.CookieDir == "" {
		return errors.New("rpc: authentication required: set User and Password, or CookieDir")
	}
	if c.Password != "" && c.User == "" {
		return errors.New("rpc: Password set without User")
	}
	return nil
}

// isLoopbackHost reports whether host names only loopback addresses.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Package client is a small Go client for Quarry's JSON-RPC server, used by
// quarryctl, the devnet lab and end-to-end tests: JSON-RPC 2.0 calls over
// HTTP with Basic authentication, a few typed helpers, and WebSocket
// subscriptions. A Client is safe for concurrent use.
//
// Errors: a JSON-RPC error reply is returned as *RPCError (Code, Message;
// use errors.As); a 401 as ErrUnauthorized; any other non-JSON HTTP answer
// (503 busy, 413 too large, ...) as *HTTPError; transport failures (server
// not running) as the underlying net error, recognisable with
// IsConnectionError.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// RPCError is an error reply of the server (code and message, Core codes;
// see package rpcjson for the constants).
type RPCError = rpcjson.Error

// ErrUnauthorized is returned when the server rejects the credentials.
var ErrUnauthorized = errors.New("rpc: authorization failed: incorrect user or password")

// HTTPError is a non-JSON HTTP error answer (503, 413, 405, ...).
type HTTPError struct {
	StatusCode int
	Body       string
}

// Error returns the status and body.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("rpc: HTTP %d: %s", e.StatusCode, strings.TrimSpace(e.Body))
}

// maxReply bounds a reply body (a verbose block of the largest size is far
// below this).
const maxReply = 64 << 20

// Client calls one server.
type Client struct {
	url        string
	user, pass string
	http       *http.Client
	id         atomic.Uint64
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a client without timeout;
// bound calls with their context).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the server at url ("http://127.0.0.1:27732" or
// "127.0.0.1:27732") with the given credentials. It does not connect.
func New(url, user, pass string, opts ...Option) *Client {
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	c := &Client{url: strings.TrimSuffix(url, "/") + "/", user: user, pass: pass, http: &http.Client{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// URL returns the server URL the client posts to.
func (c *Client) URL() string { return c.url }

// Params marshals values into positional parameters.
func Params(vals ...any) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(vals))
	for i, v := range vals {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("rpc param %d: %w", i, err)
		}
		out[i] = b
	}
	return out, nil
}

// Call invokes method with positional params and decodes the result into
// result (a pointer, or nil to discard it).
func (c *Client) Call(ctx context.Context, method string, params []json.RawMessage, result any) error {
	if params == nil {
		params = []json.RawMessage{}
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	return c.decode(c.CallRaw(ctx, method, raw))(result)
}

// CallNamed invokes method with named params.
func (c *Client) CallNamed(ctx context.Context, method string, params map[string]json.RawMessage, result any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	return c.decode(c.CallRaw(ctx, method, raw))(result)
}

func (c *Client) decode(raw json.RawMessage, err error) func(any) error {
	return func(result any) error {
		if err != nil {
			return err
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(raw, result); err != nil {
			return fmt.Errorf("rpc: decode result: %w", err)
		}
		return nil
	}
}

// CallRaw invokes method with params given as a raw JSON array or object
// and returns the raw result.
func (c *Client) CallRaw(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	id := c.id.Add(1)
	body, err := json.Marshal(rpcjson.Request{Version: "2.0", ID: json.RawMessage(strconv.FormatUint(id, 10)), Method: method, Params: params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }() // fully read or abandoned; nothing to report
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if err != nil {
		return nil, fmt.Errorf("rpc: read reply: %w", err)
	}
	if resp.StatusCode == http.StatusUnauthorized {
		return nil, ErrUnauthorized
	}
	var r rpcjson.Response
	if err := json.Unmarshal(b, &r); err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, &HTTPError{StatusCode: resp.StatusCode, Body: string(b)}
		}
		return nil, fmt.Errorf("rpc: bad reply: %w", err)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{StatusCode: resp.StatusCode, Body: string(b)}
	}
	return r.Result, nil
}

// IsConnectionError reports whether err means the server could not be
// reached (refused, reset, no route, DNS, timeout while connecting):
// worth retrying while a node starts.
func IsConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
}

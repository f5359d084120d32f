package main

// Helpers of the end-to-end test (e2e_test.go). The binaries, the quarryd
// processes and RPC calls come from the lab's test helpers (labtest); the
// rest checks the wire: quarryctl runs, raw HTTP exchanges and a WebSocket
// client that verifies sequence numbers.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/cmd/internal/lab/labtest"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Bounds of the waits (see labtest for the process and RPC ones).
const (
	stopTimeout  = labtest.StopTimeout
	callTimeout  = labtest.CallTimeout
	eventTimeout = 10 * time.Second // one WebSocket notification
)

// binaries are the built quarryd and quarryctl.
type binaries struct{ quarryd, quarryctl string }

// buildBinaries builds both commands (once, in TestEndToEnd).
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	dir := labtest.Build(t, "quarryd", "quarryctl")
	return binaries{quarryd: filepath.Join(dir, "quarryd"), quarryctl: filepath.Join(dir, "quarryctl")}
}

// daemon is a running regtest quarryd (labtest.Daemon) with the raw HTTP
// client the protocol checks use.
type daemon struct {
	*labtest.Daemon
	bins binaries
	http *http.Client
}

// startDaemon starts `quarryd --network regtest` on dataDir with free
// ports and waits until its RPC server answers.
func startDaemon(t *testing.T, bins binaries, dataDir string) *daemon {
	t.Helper()
	d := &daemon{Daemon: labtest.StartDaemon(t, bins.quarryd, "regtest", dataDir), bins: bins,
		http: &http.Client{Timeout: callTimeout}}
	t.Cleanup(d.http.CloseIdleConnections)
	return d
}

// cookie reads the RPC credentials from the cookie file.
func (d *daemon) cookie(t *testing.T) (user, pass string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.DataDir, ".cookie"))
	if err != nil {
		t.Fatalf("read cookie: %v", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user != "__cookie__" || len(pass) != 64 {
		t.Fatalf("cookie %q is not __cookie__:<64 hex>", b)
	}
	return user, pass
}

// httpReply is one raw HTTP exchange with the RPC server.
type httpReply struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to the RPC server; auth is the Authorization header
// value ("" sends none).
func (d *daemon) post(body, auth string) (httpReply, error) {
	req, err := http.NewRequest(http.MethodPost, "http://"+d.RPCAddr+"/", strings.NewReader(body))
	if err != nil {
		return httpReply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return httpReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return httpReply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// rpcResponse is a JSON-RPC reply of either dialect.
type rpcResponse struct {
	Version string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result"`
	Error   *rpcjson.Error  `json:"error"`
	ID      json.RawMessage `json:"id"`
}

// callInto calls method and decodes the result into a T.
func callInto[T any](t *testing.T, d *daemon, method string, params ...any) T {
	t.Helper()
	return decodeJSON[T](t, d.Call(t, method, params...))
}

func decodeJSON[T any](t *testing.T, raw []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, raw, err)
	}
	return v
}

// ctl runs quarryctl against the daemon (--datadir, so it reads the
// cookie) and returns stdout, stderr and the exit code.
func (d *daemon) ctl(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	full := append([]string{"--network", "regtest", "--datadir", d.DataDir, "--rpc-connect", d.RPCAddr}, args...)
	return runCtl(t, d.bins, full...)
}

// ctlOK runs quarryctl, fails the test unless it exits 0, and returns its
// trimmed stdout.
func (d *daemon) ctlOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := d.ctl(t, args...)
	if code != 0 {
		t.Fatalf("quarryctl %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// runCtl runs the quarryctl binary with exactly args.
func runCtl(t *testing.T, bins binaries, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bins.quarryctl, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return stdout.String(), stderr.String(), 0
	case errors.As(err, &ee) && ctx.Err() == nil:
		return stdout.String(), stderr.String(), ee.ExitCode()
	}
	t.Fatalf("quarryctl %s: %v (stderr: %s)", strings.Join(args, " "), err, stderr.String())
	return "", "", -1
}

// wsMessage is a reply the server sends on the WebSocket.
type wsMessage struct {
	Version string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Result  json.RawMessage `json:"result"`
	Error   *rpcjson.Error  `json:"error"`
}

// wsTopicOf maps a notification method to its topic.
var wsTopicOf = map[string]string{
	rpcjson.MethodBlockConnected:    rpcjson.TopicBlocks,
	rpcjson.MethodBlockDisconnected: rpcjson.TopicBlocks,
	rpcjson.MethodReorg:             rpcjson.TopicReorgs,
	rpcjson.MethodMempoolAdded:      rpcjson.TopicMempool,
	rpcjson.MethodMempoolRemoved:    rpcjson.TopicMempool,
}

// wsClient is a WebSocket subscriber (rpc/client's Subscription). The
// test sorts notifications by topic and checks that each topic's sequence
// numbers are consecutive from the one the server reported at subscribe.
type wsClient struct {
	t       *testing.T
	sub     *client.Subscription
	pending map[string][]rpcjson.Notification // read but not yet taken, by topic
	lastSeq map[string]uint64
}

// dialWS subscribes to topics on /ws with the cookie credentials.
func dialWS(t *testing.T, d *daemon, topics ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	sub, err := d.Client(t).Subscribe(ctx, topics...)
	if err != nil {
		t.Fatalf("subscribe %v: %v", topics, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return &wsClient{t: t, sub: sub, pending: map[string][]rpcjson.Notification{}, lastSeq: maps.Clone(sub.Seqs)}
}

// next returns the next notification on topic and checks its sequence
// number follows the previous one.
func (c *wsClient) next(topic string) rpcjson.Notification {
	c.t.Helper()
	for len(c.pending[topic]) == 0 {
		select {
		case m, ok := <-c.sub.C:
			if !ok {
				c.t.Fatalf("WebSocket closed while waiting for a notification on %s: %v", topic, c.sub.Err())
			}
			mt, known := wsTopicOf[m.Method]
			if !known {
				c.t.Fatalf("unexpected WebSocket message %+v", m)
			}
			c.pending[mt] = append(c.pending[mt], m)
		case <-time.After(eventTimeout):
			c.t.Fatalf("no WebSocket notification within %v while waiting for one on %s", eventTimeout, topic)
		}
	}
	m := c.pending[topic][0]
	c.pending[topic] = c.pending[topic][1:]
	var seq struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(m.Params, &seq); err != nil {
		c.t.Fatalf("notification %s params %s: %v", m.Method, m.Params, err)
	}
	if want := c.lastSeq[topic] + 1; seq.Seq != want {
		c.t.Errorf("%s notification seq %d, want %d (gap or repeat on topic %s)", m.Method, seq.Seq, want, topic)
	}
	c.lastSeq[topic] = seq.Seq
	return m
}

// nextBlock returns the next "blocks" notification, which must be method.
func (c *wsClient) nextBlock(method string) rpcjson.BlockNotification {
	c.t.Helper()
	m := c.next(rpcjson.TopicBlocks)
	if m.Method != method {
		c.t.Fatalf("blocks topic: got %s %s, want %s", m.Method, m.Params, method)
	}
	return decodeJSON[rpcjson.BlockNotification](c.t, m.Params)
}

// nextReorg returns the next "reorgs" notification.
func (c *wsClient) nextReorg() rpcjson.ReorgNotification {
	c.t.Helper()
	m := c.next(rpcjson.TopicReorgs)
	if m.Method != rpcjson.MethodReorg {
		c.t.Fatalf("reorgs topic: got %s, want reorg", m.Method)
	}
	return decodeJSON[rpcjson.ReorgNotification](c.t, m.Params)
}

// nextMempool returns the next "mempool" notification, which must be method.
func (c *wsClient) nextMempool(method string) rpcjson.MempoolNotification {
	c.t.Helper()
	m := c.next(rpcjson.TopicMempool)
	if m.Method != method {
		c.t.Fatalf("mempool topic: got %s %s, want %s", m.Method, m.Params, method)
	}
	return decodeJSON[rpcjson.MempoolNotification](c.t, m.Params)
}

// wsRequests opens a WebSocket with the cookie credentials, sends each
// request (method and params) as JSON-RPC 2.0 in turn and returns the
// replies.
func wsRequests(t *testing.T, d *daemon, reqs ...[]any) []wsMessage {
	t.Helper()
	user, pass := d.cookie(t)
	dialer := websocket.Dialer{HandshakeTimeout: callTimeout}
	conn, resp, err := dialer.Dial("ws://"+d.RPCAddr+"/ws", http.Header{"Authorization": {basicAuth(user, pass)}})
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	resp.Body.Close()
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(callTimeout))
	var out []wsMessage
	for i, r := range reqs {
		params := r[1:]
		if err := conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": i + 1, "method": r[0], "params": params}); err != nil {
			t.Fatalf("WebSocket write: %v", err)
		}
		var m wsMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("WebSocket reply to %v: %v", r[0], err)
		}
		if string(m.ID) != fmt.Sprint(i+1) {
			t.Fatalf("WebSocket reply id %s, want %d", m.ID, i+1)
		}
		out = append(out, m)
	}
	return out
}

// scrape fetches the metrics page.
func (d *daemon) scrape(t *testing.T) string {
	t.Helper()
	resp, err := d.http.Get("http://" + d.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d, %v", resp.StatusCode, err)
	}
	return string(b)
}

// metricValue returns the value of an unlabelled sample in a scrape.
func metricValue(page, name string) (string, bool) {
	for line := range strings.SplitSeq(page, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

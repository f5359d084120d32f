package main

// Helpers of the end-to-end test (e2e_test.go): building the binaries,
// running quarryd as a child process, calling it through quarryctl, raw
// HTTP and a WebSocket, and polling with deadlines.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Bounds of the waits. They are generous for a loaded 2-core machine under
// -race; a healthy run uses a small fraction of each.
const (
	startTimeout = 20 * time.Second // process start to RPC answering
	stopTimeout  = 15 * time.Second // SIGTERM to exit
	callTimeout  = 20 * time.Second // one RPC / quarryctl call
	eventTimeout = 10 * time.Second // one WebSocket notification
	pollInterval = 10 * time.Millisecond
)

// binaries are the built quarryd and quarryctl.
type binaries struct{ quarryd, quarryctl string }

// buildBinaries builds both commands once, with a normal (non-race) build,
// into a temporary directory.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build quarryd: %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", dir+string(filepath.Separator),
		"github.com/quarrychain/quarry/cmd/quarryd", "github.com/quarrychain/quarry/cmd/quarryctl")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return binaries{quarryd: filepath.Join(dir, "quarryd"), quarryctl: filepath.Join(dir, "quarryctl")}
}

// freeAddr returns a loopback host:port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// syncBuffer is an io.Writer safe for the process's output copier and the
// test reading it concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// process is a quarryd child process. It is killed at the end of the test
// if still running.
type process struct {
	t      *testing.T
	cmd    *exec.Cmd
	output *syncBuffer // stdout and stderr (the slog lines)
	done   chan struct{}
	err    error // Wait's result, set before done is closed
}

// startProcess starts quarryd with args.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{t: t, output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	p.cmd.Env = append(os.Environ(), "HOME="+t.TempDir()) // never touch the real ~/.quarry
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("quarryd %s output (killed at cleanup):\n%s", strings.Join(args, " "), tail(p.output.String(), 60))
		}
	})
	return p
}

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end by itself and returns its exit code.
func (p *process) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("quarryd did not exit within %v; output:\n%s", timeout, tail(p.output.String(), 40))
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode() // -1 if killed by a signal
	}
	p.t.Fatalf("waiting for quarryd: %v", p.err)
	return -1
}

// signal sends sig and waits for the exit code.
func (p *process) signal(sig syscall.Signal, timeout time.Duration) int {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
	return p.wait(timeout)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// daemon is a running regtest quarryd with its addresses and data dir.
type daemon struct {
	*process
	bins        binaries
	dataDir     string
	rpcAddr     string
	metricsAddr string
	http        *http.Client
}

// startDaemon starts `quarryd --network regtest` on dataDir with free
// ports and waits until its RPC server answers.
func startDaemon(t *testing.T, bins binaries, dataDir string) *daemon {
	t.Helper()
	d := &daemon{bins: bins, dataDir: dataDir, rpcAddr: freeAddr(t), metricsAddr: freeAddr(t),
		http: &http.Client{Timeout: callTimeout}}
	d.process = startProcess(t, bins.quarryd, "--network", "regtest", "--datadir", dataDir, "--no-mdns",
		"--p2p-listen", "127.0.0.1:0", "--rpc-listen", d.rpcAddr, "--metrics-listen", d.metricsAddr, "--log-level", "info")
	t.Cleanup(d.http.CloseIdleConnections)
	waitFor(t, startTimeout, "quarryd to answer RPC", func() bool {
		if d.exited() {
			t.Fatalf("quarryd exited during startup (%v):\n%s", d.err, tail(d.output.String(), 40))
		}
		if _, err := os.Stat(filepath.Join(dataDir, ".cookie")); err != nil {
			return false
		}
		res, rerr, err := d.tryCall("getblockcount")
		return err == nil && rerr == nil && res != nil
	})
	if !strings.Contains(d.output.String(), "quarry node started") {
		waitFor(t, startTimeout, `the "quarry node started" log line`, func() bool {
			return strings.Contains(d.output.String(), "quarry node started")
		})
	}
	return d
}

// cookie reads the RPC credentials from the cookie file.
func (d *daemon) cookie(t *testing.T) (user, pass string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, ".cookie"))
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
	req, err := http.NewRequest(http.MethodPost, "http://"+d.rpcAddr+"/", strings.NewReader(body))
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

// tryCall sends a JSON-RPC 1.0 request (bitcoin-cli's dialect) with the
// cookie credentials over raw HTTP. It returns the result, the RPC error,
// or a transport/protocol error.
func (d *daemon) tryCall(method string, params ...any) (json.RawMessage, *rpcjson.Error, error) {
	b, err := os.ReadFile(filepath.Join(d.dataDir, ".cookie"))
	if err != nil {
		return nil, nil, err
	}
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": "e2e", "method": method, "params": params})
	if err != nil {
		return nil, nil, err
	}
	user, pass, _ := strings.Cut(string(b), ":")
	r, err := d.post(string(body), basicAuth(user, pass))
	if err != nil {
		return nil, nil, err
	}
	var resp rpcResponse
	if err := json.Unmarshal(r.body, &resp); err != nil {
		return nil, nil, fmt.Errorf("HTTP %d, undecodable body %q: %w", r.status, r.body, err)
	}
	if string(resp.ID) != `"e2e"` {
		return nil, nil, fmt.Errorf("reply id %s, want \"e2e\"", resp.ID)
	}
	if resp.Error != nil {
		return nil, resp.Error, nil
	}
	if r.status != http.StatusOK {
		return nil, nil, fmt.Errorf("HTTP %d with a result: %s", r.status, r.body)
	}
	return resp.Result, nil, nil
}

// call is tryCall that fails the test on any error.
func (d *daemon) call(t *testing.T, method string, params ...any) json.RawMessage {
	t.Helper()
	res, rerr, err := d.tryCall(method, params...)
	if err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
	if rerr != nil {
		t.Fatalf("%s %v: RPC error %d: %s", method, params, rerr.Code, rerr.Message)
	}
	return res
}

// callInto calls method and decodes the result into a T.
func callInto[T any](t *testing.T, d *daemon, method string, params ...any) T {
	t.Helper()
	return decodeJSON[T](t, d.call(t, method, params...))
}

// callErr calls a method that must fail and returns the error.
func (d *daemon) callErr(t *testing.T, method string, params ...any) *rpcjson.Error {
	t.Helper()
	res, rerr, err := d.tryCall(method, params...)
	if err != nil {
		t.Fatalf("%s %v: %v", method, params, err)
	}
	if rerr == nil {
		t.Fatalf("%s %v succeeded with %s, want an error", method, params, res)
	}
	return rerr
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
	full := append([]string{"--network", "regtest", "--datadir", d.dataDir, "--rpc-connect", d.rpcAddr}, args...)
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

// wsMessage is anything the server sends on the WebSocket.
type wsMessage struct {
	Version string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
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

// wsClient is a WebSocket subscriber. A reader goroutine forwards every
// message to msgs; the test sorts notifications by topic and checks that
// each topic's sequence numbers are consecutive.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	msgs    chan wsMessage         // closed when the reader stops
	readErr error                  // why the reader stopped; read only after msgs is closed
	pending map[string][]wsMessage // notifications read but not yet taken, by topic
	lastSeq map[string]uint64
	nextID  int
}

// dialWS connects to /ws with the cookie credentials.
func dialWS(t *testing.T, d *daemon) *wsClient {
	t.Helper()
	user, pass := d.cookie(t)
	hdr := http.Header{"Authorization": {basicAuth(user, pass)}}
	dialer := websocket.Dialer{HandshakeTimeout: callTimeout}
	conn, resp, err := dialer.Dial("ws://"+d.rpcAddr+"/ws", hdr)
	if err != nil {
		t.Fatalf("dial /ws: %v", err)
	}
	resp.Body.Close()
	c := &wsClient{t: t, conn: conn, msgs: make(chan wsMessage, 4096),
		pending: map[string][]wsMessage{}, lastSeq: map[string]uint64{}}
	go func() {
		defer close(c.msgs)
		for {
			var m wsMessage
			if err := conn.ReadJSON(&m); err != nil {
				c.readErr = err
				return
			}
			c.msgs <- m
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		for range c.msgs { // drain until the reader exits
		}
	})
	return c
}

// receive returns the next message from the reader.
func (c *wsClient) receive(timeout time.Duration, waitingFor string) wsMessage {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("WebSocket closed while waiting for %s: %v", waitingFor, c.readErr)
		}
		return m
	case <-time.After(timeout):
		c.t.Fatalf("no WebSocket message within %v while waiting for %s", timeout, waitingFor)
	}
	return wsMessage{}
}

// request sends a JSON-RPC 2.0 request and returns its reply, keeping the
// notifications that arrive meanwhile.
func (c *wsClient) request(method string, params ...any) wsMessage {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	if params == nil {
		params = []any{}
	}
	if err := c.conn.WriteJSON(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params}); err != nil {
		c.t.Fatalf("WebSocket write: %v", err)
	}
	for {
		m := c.receive(callTimeout, "the reply to "+method)
		if m.Method != "" {
			c.stash(m)
			continue
		}
		if string(m.ID) != fmt.Sprint(id) {
			c.t.Fatalf("WebSocket reply id %s, want %d", m.ID, id)
		}
		return m
	}
}

// subscribe subscribes to topic and records its starting sequence number.
func (c *wsClient) subscribe(topic string) {
	c.t.Helper()
	m := c.request("subscribe", topic)
	if m.Error != nil {
		c.t.Fatalf("subscribe %s: %d %s", topic, m.Error.Code, m.Error.Message)
	}
	res := decodeJSON[rpcjson.SubscribeResult](c.t, m.Result)
	if res.Topic != topic {
		c.t.Fatalf("subscribe %s answered topic %q", topic, res.Topic)
	}
	c.lastSeq[topic] = res.Seq
}

func (c *wsClient) stash(m wsMessage) {
	topic, ok := wsTopicOf[m.Method]
	if !ok {
		c.t.Fatalf("unexpected WebSocket message %+v", m)
	}
	c.pending[topic] = append(c.pending[topic], m)
}

// next returns the next notification on topic and checks its sequence
// number follows the previous one.
func (c *wsClient) next(topic string) wsMessage {
	c.t.Helper()
	for len(c.pending[topic]) == 0 {
		m := c.receive(eventTimeout, "a notification on "+topic)
		if m.Method == "" {
			c.t.Fatalf("unexpected WebSocket reply %+v", m)
		}
		c.stash(m)
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

// scrape fetches the metrics page.
func (d *daemon) scrape(t *testing.T) string {
	t.Helper()
	resp, err := d.http.Get("http://" + d.metricsAddr + "/metrics")
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

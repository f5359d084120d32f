package stratum

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"math"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/quarrychain/quarry/chain"
)

// Per-connection bounds.
const (
	outQueue          = 64   // queued responses before the reader waits for the writer
	maxJobsPerConn    = 16   // jobs remembered per connection (older ones are stale)
	maxSeenPerConn    = 8192 // accepted shares remembered per tip (duplicates)
	maxWorkersPerConn = 16
	maxNameLen        = 128
	maxAgentLen       = 64
)

// conn is one miner connection: a reader goroutine (serve) that handles
// requests in order and a writer goroutine that sends responses and work.
// Fields under mu are shared by the two.
type conn struct {
	s      *Server
	nc     net.Conn
	remote string
	ex1    uint32
	ex1Hex string
	since  time.Time // by Config.Now (reported)
	// accepted is the wall-clock accept time (read deadlines use the real
	// clock, whatever Config.Now is).
	accepted time.Time

	wake      chan struct{} // buffer 1: look at work/difficulty again
	out       chan []byte   // responses, in order
	done      chan struct{} // closed by close
	closeOnce sync.Once
	cancel    context.CancelFunc // cancels the context serve runs with
	limiter   *rate.Limiter

	mu          sync.Mutex
	subscribed  bool
	agent       string
	authorized  bool
	payTo       chain.Address
	workers     map[string]*workerStats
	order       []string // worker names in authorization order
	versionMask uint32
	want        float64     // difficulty vardiff / suggest_difficulty ask for
	suggested   bool        // want came from mining.suggest_difficulty
	target      shareTarget // in force (want clamped to the network)
	targetFor   struct {    // the inputs target was computed from
		want float64
		bits uint32
	}
	sentDiff   float64 // last difficulty sent (0: none)
	vd         vardiff
	sentEpoch  *epoch
	jobSeq     uint64
	jobs       map[string]*connJob
	jobOrder   []string
	seen       map[chain.Hash]struct{}
	badLines   int
	invalidRun int
}

func (s *Server) newConn(nc net.Conn) *conn {
	ex1 := 0xc0000000 | s.ex1Next.Add(1)&0x3fffffff
	now := s.cfg.Now()
	burst := int(math.Max(2*s.cfg.MaxSubmitRate, 1))
	return &conn{
		s: s, nc: nc, remote: nc.RemoteAddr().String(),
		ex1: ex1, ex1Hex: Uint32Hex(ex1), since: now, accepted: time.Now(),
		wake: make(chan struct{}, 1), out: make(chan []byte, outQueue), done: make(chan struct{}),
		limiter: rate.NewLimiter(rate.Limit(s.cfg.MaxSubmitRate), burst),
		workers: make(map[string]*workerStats),
		want:    s.cfg.InitialDifficulty,
		vd:      vardiff{interval: s.cfg.ShareInterval, since: now},
		jobs:    make(map[string]*connJob),
		seen:    make(map[chain.Hash]struct{}),
	}
}

// close shuts the connection once; reason is counted.
func (c *conn) close(reason string) {
	c.closeOnce.Do(func() {
		close(c.done)
		if c.cancel != nil {
			c.cancel()
		}
		_ = c.nc.Close()
		c.s.met.disconnects.WithLabelValues(reason).Inc()
		c.s.log.Debug("stratum connection closed", "remote", c.remote, "reason", reason)
	})
}

func (c *conn) wakeUp() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send queues a line for the writer. When outQueue answers are waiting
// the reader waits too: a client that pipelines requests faster than its
// answers are written (cpuminer writes submits while its reading thread
// is busy) is throttled, like a fast submitter, instead of dropped. A
// client that stops reading is closed by the writer when a write exceeds
// WriteTimeout, which ends the wait here.
func (c *conn) send(b []byte) {
	select {
	case c.out <- b:
	case <-c.done:
	}
}

// serve runs the connection until it closes; it returns after the writer
// goroutine has exited.
// ctx is the connection's own context, cancelled by close.
func (c *conn) serve(ctx context.Context) {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writer()
	}()
	reason := c.readLoop(ctx)
	c.close(reason)
	<-writerDone
}

func (c *conn) readLoop(ctx context.Context) string {
	s := c.s
	br := bufio.NewReaderSize(c.nc, s.cfg.MaxLineBytes)
	for {
		c.mu.Lock()
		deadline := c.accepted.Add(s.cfg.HandshakeTimeout)
		if c.authorized && c.subscribed {
			deadline = time.Now().Add(s.cfg.IdleTimeout)
		}
		c.mu.Unlock()
		_ = c.nc.SetReadDeadline(deadline)
		line, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			c.write(errorLine(nil, protoErr(CodeOther, "request line exceeds %d bytes", s.cfg.MaxLineBytes)))
			return dropOversized
		case err != nil:
			select {
			case <-c.done:
				return dropShutdown
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return dropIdle
			}
			return dropClosed
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var req Request
		if err := json.Unmarshal(line, &req); err != nil || req.Method == "" {
			resp := errorLine(nil, protoErr(CodeOther, "malformed request: want a JSON object with id, method and params"))
			if c.bad() {
				c.write(resp)
				return dropMalformed
			}
			c.send(resp)
			continue
		}
		if len(req.ID) == 0 {
			req.ID = json.RawMessage("null")
		}
		resp, wake, drop := c.handle(ctx, &req)
		if drop != "" {
			if resp != nil {
				c.write(resp) // the last word, written directly: the writer stops with the connection
			}
			return drop
		}
		c.send(resp)
		if wake {
			c.wakeUp()
		}
		if ctx.Err() != nil {
			return dropShutdown
		}
	}
}

// bad counts a malformed line or unknown method; true when the connection
// has had too many.
func (c *conn) bad() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.badLines++
	return c.badLines >= c.s.cfg.MaxBadMessages
}

// handle answers one request. It returns the response line, whether the
// writer must then look at the work (after subscribe and authorize), and
// a disconnect reason to close the connection after the response.
func (c *conn) handle(ctx context.Context, req *Request) (resp []byte, wake bool, drop string) {
	switch req.Method {
	case methodSubscribe:
		c.mu.Lock()
		c.subscribed = true
		if a, perr := stringParam(req.Params, 0, "user agent"); perr == nil {
			c.agent = truncate(a, maxAgentLen)
		}
		c.mu.Unlock()
		b := append([]byte(`{"id":`), req.ID...)
		b = append(b, `,"result":[[["mining.set_difficulty","`...)
		b = append(b, c.ex1Hex...)
		b = append(b, `"],["mining.notify","`...)
		b = append(b, c.ex1Hex...)
		b = append(b, `"]],"`...)
		b = append(b, c.ex1Hex...)
		b = append(b, `",`...)
		b = strconv.AppendInt(b, Extranonce2Size, 10)
		b = append(b, "],\"error\":null}\n"...)
		return b, true, ""
	case methodAuthorize:
		ok, perr := c.authorize(req.Params)
		if perr != nil {
			if c.bad() {
				return responseLine(req.ID, "false", perr), false, dropMalformed
			}
			return responseLine(req.ID, "false", perr), false, ""
		}
		return responseLine(req.ID, strconv.FormatBool(ok), nil), true, ""
	case methodSubmit:
		res, perr, drop := c.submit(ctx, req.Params)
		return responseLine(req.ID, res, perr), false, drop
	case methodExtranonceSub:
		// extranonce1 never changes during a connection, so there is
		// nothing to announce; accept so miners keep their session.
		return responseLine(req.ID, "true", nil), false, ""
	case methodConfigure:
		res, perr := c.configure(req.Params)
		return responseLine(req.ID, res, perr), false, ""
	case methodSuggestDiff:
		var d float64
		if len(req.Params) == 0 || json.Unmarshal(req.Params[0], &d) != nil || !(d > 0) || math.IsInf(d, 0) {
			return responseLine(req.ID, "false", protoErr(CodeOther, "want a positive difficulty")), false, ""
		}
		c.mu.Lock()
		c.want = max(d, c.s.cfg.MinDifficulty)
		c.suggested = true
		c.mu.Unlock()
		return responseLine(req.ID, "true", nil), true, ""
	}
	resp = responseLine(req.ID, "null", protoErr(CodeOther, "unknown method %q", truncate(req.Method, 64)))
	if c.bad() {
		return resp, false, dropMalformed
	}
	return resp, false, ""
}

// authorize handles mining.authorize [user, password].
func (c *conn) authorize(params []json.RawMessage) (bool, *ProtocolError) {
	user, perr := stringParam(params, 0, "user")
	if perr != nil {
		return false, perr
	}
	if pw := c.s.cfg.Password; pw != "" {
		got, _ := stringParam(params, 1, "password")
		if subtle.ConstantTimeCompare([]byte(got), []byte(pw)) != 1 {
			return false, protoErr(CodeUnauthorized, "wrong password")
		}
	}
	if len(user) == 0 || len(user) > maxNameLen {
		return false, protoErr(CodeUnauthorized, "worker name must be 1..%d characters", maxNameLen)
	}
	payTo, perr := c.s.payoutFor(user)
	if perr != nil {
		return false, perr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.authorized && payTo != c.payTo {
		return false, protoErr(CodeUnauthorized, "a connection pays one address; open another connection for %s", user)
	}
	if _, ok := c.workers[user]; !ok {
		if len(c.workers) >= maxWorkersPerConn {
			return false, protoErr(CodeUnauthorized, "at most %d workers per connection", maxWorkersPerConn)
		}
		c.workers[user] = &workerStats{name: user, rate: rateWindow{start: c.s.cfg.Now()}}
		c.order = append(c.order, user)
	}
	c.authorized, c.payTo = true, payTo
	return true, nil
}

// payoutFor maps a worker name to the address its blocks pay:
// ADDRESS[.worker] pays ADDRESS; a name that is not an address pays
// Config.PayTo when one is configured. A name that looks like an address
// of this network (its prefix) but does not decode is refused, so a typo
// never silently pays someone else.
func (s *Server) payoutFor(user string) (chain.Address, *ProtocolError) {
	head := user
	if i := strings.IndexByte(user, '.'); i >= 0 {
		head = user[:i]
	}
	a, err := chain.DecodeAddress(head, s.params)
	if err == nil {
		return a, nil
	}
	if strings.HasPrefix(strings.ToLower(head), s.params.AddressHRP+"1") {
		return chain.Address{}, protoErr(CodeUnauthorized, "malformed address %q: %v", truncate(head, 100), err)
	}
	if s.cfg.PayTo.IsZero() {
		return chain.Address{}, protoErr(CodeUnauthorized, "authorize as ADDRESS[.worker] with a %s address (this node pays no default address)", s.params.Name)
	}
	return s.cfg.PayTo, nil
}

// configure handles mining.configure [[extensions], {options}] (BIP 310).
// Only version-rolling is supported; other extensions are answered false.
func (c *conn) configure(params []json.RawMessage) (string, *ProtocolError) {
	var exts []string
	if len(params) < 1 || json.Unmarshal(params[0], &exts) != nil {
		return "null", protoErr(CodeOther, "want [[extension, ...], {options}]")
	}
	var opts map[string]json.RawMessage
	if len(params) > 1 {
		_ = json.Unmarshal(params[1], &opts) // absent or malformed options: defaults
	}
	res := make(map[string]json.RawMessage, len(exts)+1)
	for _, e := range exts {
		if len(res) > 16 {
			break
		}
		if e != extVersionRolling {
			res[truncate(e, 64)] = json.RawMessage("false")
			continue
		}
		mask := VersionRollingMask
		var ms string
		if raw, ok := opts[extVersionRollingMask]; ok && json.Unmarshal(raw, &ms) == nil {
			if m, err := strconv.ParseUint(ms, 16, 32); err == nil {
				mask &= uint32(m)
			}
		}
		c.mu.Lock()
		c.versionMask = mask
		c.mu.Unlock()
		res[extVersionRolling] = json.RawMessage("true")
		res[extVersionRollingMask] = json.RawMessage(`"` + strconv.FormatUint(uint64(mask), 16) + `"`)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return "null", protoErr(CodeOther, "internal error")
	}
	return string(b), nil
}

// writer sends queued responses and, when woken, the current work.
func (c *conn) writer() {
	buf := make([]byte, 0, 4096)
	for {
		select {
		case <-c.done:
			return
		case b := <-c.out:
			if !c.write(b) {
				return
			}
		case <-c.wake:
			// Responses queued before the wake-up go first (subscribe
			// and authorize answers precede the first job).
			for drained := false; !drained; {
				select {
				case b := <-c.out:
					if !c.write(b) {
						return
					}
				default:
					drained = true
				}
			}
			var noticed time.Time
			buf, noticed = c.work(buf[:0])
			if len(buf) > 0 {
				if !c.write(buf) {
					return
				}
				if !noticed.IsZero() {
					c.s.met.notify.Observe(c.s.cfg.Now().Sub(noticed).Seconds())
					if c.s.onNotify != nil {
						c.s.onNotify()
					}
				}
			}
		}
	}
}

func (c *conn) write(b []byte) bool {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		c.close(dropSlow)
		return false
	}
	return true
}

// work appends what the connection needs now: set_difficulty if the
// difficulty changed and mining.notify if the work or the difficulty
// changed. It returns when the work it sends was noticed (zero if it sends
// no new work).
func (c *conn) work(b []byte) ([]byte, time.Time) {
	s := c.s
	ep := s.epoch.Load()
	now := s.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.subscribed || !c.authorized || ep == nil {
		return b, time.Time{}
	}
	if c.sentEpoch != nil {
		if d, changed := c.vd.retarget(now, c.target.diff, s.cfg.MinDifficulty, math.Inf(1)); changed {
			c.want = d
		}
	}
	if c.sentEpoch == nil && !c.suggested && easierThan(ep.tmpl.Target, s.cfg.MinDifficulty) {
		// On a network easier than MinDifficulty (regtest) InitialDifficulty
		// would have been clamped to the network's elsewhere; start at the
		// floor instead, and vardiff raises it toward one share (and
		// block) per ShareInterval.
		c.want = s.cfg.MinDifficulty
	}
	if c.want != c.targetFor.want || ep.tmpl.Bits != c.targetFor.bits {
		c.target = newShareTarget(c.want, ep.tmpl.Target, s.cfg.MinDifficulty)
		c.targetFor.want, c.targetFor.bits = c.want, ep.tmpl.Bits
	}
	newDiff := c.target.diff != c.sentDiff
	newEp := ep != c.sentEpoch
	if !newDiff && !newEp {
		return b, time.Time{}
	}
	clean := c.sentEpoch == nil || c.sentEpoch.tmpl.PrevHash != ep.tmpl.PrevHash
	if c.sentEpoch == nil {
		c.vd.since = now
	}
	sj := ep.job(c.payTo)
	c.jobSeq++
	id := strconv.FormatUint(c.jobSeq, 16)
	if clean {
		clear(c.jobs)
		c.jobOrder = c.jobOrder[:0]
		clear(c.seen)
	}
	c.jobs[id] = &connJob{id: id, shared: sj, target: c.target}
	c.jobOrder = append(c.jobOrder, id)
	if len(c.jobOrder) > maxJobsPerConn {
		delete(c.jobs, c.jobOrder[0])
		c.jobOrder = c.jobOrder[1:]
	}
	if newDiff {
		b = append(b, `{"id":null,"method":"mining.set_difficulty","params":[`...)
		b = append(b, DifficultyJSON(c.target.diff)...)
		b = append(b, "]}\n"...)
		c.sentDiff = c.target.diff
	}
	b = sj.appendNotify(b, id, clean)
	var noticed time.Time
	if newEp {
		noticed = ep.noticed
	}
	c.sentEpoch = ep
	return b, noticed
}

// workerInfo returns the connection's workers for Info.
func (c *conn) workerInfo(now time.Time) []WorkerInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]WorkerInfo, 0, len(c.order))
	for _, name := range c.order {
		w := c.workers[name]
		out = append(out, WorkerInfo{
			Name: name, PayTo: c.payTo, Remote: c.remote, Agent: c.agent, ConnectedSince: c.since,
			Difficulty: c.target.diff, HashesPerSec: w.rate.rate(now),
			Accepted: w.accepted, Rejected: w.rejected, Stale: w.stale, Blocks: w.blocks, LastShare: w.lastShare,
		})
	}
	return out
}

func sortWorkers(ws []WorkerInfo) {
	sort.Slice(ws, func(i, j int) bool {
		if !ws[i].ConnectedSince.Equal(ws[j].ConnectedSince) {
			return ws[i].ConnectedSince.Before(ws[j].ConnectedSince)
		}
		if ws[i].Remote != ws[j].Remote {
			return ws[i].Remote < ws[j].Remote
		}
		return ws[i].Name < ws[j].Name
	})
}

// responseLine encodes a response; result is raw JSON ("null" or "false"
// with an error, as pools answer).
func responseLine(id json.RawMessage, result string, perr *ProtocolError) []byte {
	b := append([]byte(`{"id":`), id...)
	b = append(b, `,"result":`...)
	b = append(b, result...)
	if perr == nil {
		return append(b, ",\"error\":null}\n"...)
	}
	e, _ := perr.MarshalJSON()
	b = append(b, `,"error":`...)
	b = append(b, e...)
	return append(b, "}\n"...)
}

func errorLine(id json.RawMessage, perr *ProtocolError) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	e, _ := perr.MarshalJSON()
	b := append([]byte(`{"id":`), id...)
	b = append(b, `,"result":null,"error":`...)
	b = append(b, e...)
	return append(b, "}\n"...)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

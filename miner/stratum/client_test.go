package stratum_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/quarrychain/quarry/miner/kernel"
	"github.com/quarrychain/quarry/miner/stratum"
)

// testClient is a stratum v1 miner written from the protocol (not from the
// server's helpers): it decodes mining.notify the way cpuminer does and
// mines with the project's kernels.
type testClient struct {
	t      testing.TB
	nc     net.Conn
	msgs   chan stratum.Message
	nextID int

	ex1    []byte
	ex2Len int
	diff   float64
	job    *clientJob
	ex2    uint32
}

// clientJob is a decoded mining.notify.
type clientJob struct {
	id             string
	prevWords      [8]uint32 // le32dec of each prevhash word
	coinb1, coinb2 []byte
	branch         [][]byte
	version        uint32
	nbits, ntime   uint32
	clean          bool
	diff           float64 // difficulty in force when the job arrived
}

// wait bounds every wait for a server message.
const wait = 20 * time.Second

func dial(t testing.TB, addr string) *testClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &testClient{t: t, nc: nc, msgs: make(chan stratum.Message, 1024)}
	t.Cleanup(func() { _ = nc.Close() })
	go func() {
		defer close(c.msgs)
		br := bufio.NewReader(nc)
		for {
			line, err := br.ReadBytes('\n')
			if err != nil {
				return
			}
			var m stratum.Message
			if err := json.Unmarshal(line, &m); err != nil {
				t.Errorf("server sent invalid JSON %q: %v", line, err)
				return
			}
			c.msgs <- m
		}
	}()
	return c
}

func (c *testClient) sendRaw(s string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// call sends a request and returns its response, absorbing notifications
// that arrive first.
func (c *testClient) call(method string, params ...any) stratum.Message {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	b, _ := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	c.sendRaw(string(b) + "\n")
	for {
		m := c.next()
		if m.Method != "" {
			c.absorb(m)
			continue
		}
		if string(m.ID) != strconv.Itoa(id) {
			c.t.Fatalf("response id %s, want %d", m.ID, id)
		}
		return m
	}
}

// next returns the next message, failing the test after wait.
func (c *testClient) next() stratum.Message {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatal("server closed the connection")
		}
		return m
	case <-time.After(wait):
		c.t.Fatal("no message from the server")
	}
	return stratum.Message{}
}

// absorb applies a notification.
func (c *testClient) absorb(m stratum.Message) {
	c.t.Helper()
	switch m.Method {
	case "mining.set_difficulty":
		if err := json.Unmarshal(m.Params[0], &c.diff); err != nil {
			c.t.Fatal(err)
		}
	case "mining.notify":
		c.job = c.decodeNotify(m.Params)
	default:
		c.t.Fatalf("unexpected notification %s", m.Method)
	}
}

func (c *testClient) decodeNotify(p []json.RawMessage) *clientJob {
	c.t.Helper()
	if len(p) != 9 {
		c.t.Fatalf("notify has %d params, want 9", len(p))
	}
	var s [8]string
	var branch []string
	var clean bool
	for i, dst := range []any{&s[0], &s[1], &s[2], &s[3], &branch, &s[5], &s[6], &s[7], &clean} {
		if err := json.Unmarshal(p[i], dst); err != nil {
			c.t.Fatalf("notify param %d: %v", i, err)
		}
	}
	j := &clientJob{id: s[0], clean: clean, diff: c.diff}
	ph := unhex(c.t, s[1])
	for i := range j.prevWords {
		j.prevWords[i] = binary.LittleEndian.Uint32(ph[4*i:])
	}
	j.coinb1, j.coinb2 = unhex(c.t, s[2]), unhex(c.t, s[3])
	for _, b := range branch {
		j.branch = append(j.branch, unhex(c.t, b))
	}
	j.version = binary.BigEndian.Uint32(unhex(c.t, s[5]))
	j.nbits = binary.BigEndian.Uint32(unhex(c.t, s[6]))
	j.ntime = binary.BigEndian.Uint32(unhex(c.t, s[7]))
	return j
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func sha256d(b []byte) []byte {
	h := sha256.Sum256(b)
	h = sha256.Sum256(h[:])
	return h[:]
}

// handshake subscribes and authorizes, and waits for the first job.
func (c *testClient) handshake(user, pass string) {
	c.t.Helper()
	r := c.call("mining.subscribe", "testclient/1.0")
	if r.Error != nil {
		c.t.Fatalf("subscribe: %v", r.Error)
	}
	var res []json.RawMessage
	if err := json.Unmarshal(r.Result, &res); err != nil || len(res) != 3 {
		c.t.Fatalf("subscribe result %s", r.Result)
	}
	var ex1 string
	if err := json.Unmarshal(res[1], &ex1); err != nil {
		c.t.Fatal(err)
	}
	c.ex1 = unhex(c.t, ex1)
	if err := json.Unmarshal(res[2], &c.ex2Len); err != nil {
		c.t.Fatal(err)
	}
	if len(c.ex1)+c.ex2Len != 8 {
		c.t.Fatalf("extranonce1 %d bytes + extranonce2 %d bytes, want 8", len(c.ex1), c.ex2Len)
	}
	if r := c.call("mining.authorize", user, pass); string(r.Result) != "true" {
		c.t.Fatalf("authorize %s: %s %v", user, r.Result, r.Error)
	}
	for c.job == nil {
		c.absorb(c.next())
	}
}

// work is one header to search: the job, the extranonce2 and the header.
type work struct {
	job    *clientJob
	ex2    []byte
	header [80]byte
}

// makeWork builds the header for the next extranonce2, as cpuminer's
// stratum_gen_work does.
func (c *testClient) makeWork() work {
	j := c.job
	c.ex2++
	ex2 := make([]byte, c.ex2Len)
	binary.LittleEndian.PutUint32(ex2, c.ex2)
	coinbase := bytes.Join([][]byte{j.coinb1, c.ex1, ex2, j.coinb2}, nil)
	root := sha256d(coinbase)
	for _, br := range j.branch {
		root = sha256d(append(append([]byte(nil), root...), br...))
	}
	var words [20]uint32
	words[0] = j.version
	for i := 0; i < 8; i++ {
		words[1+i] = j.prevWords[i]
		words[9+i] = binary.BigEndian.Uint32(root[4*i:])
	}
	words[17], words[18] = j.ntime, j.nbits
	w := work{job: j, ex2: ex2}
	for i, v := range words {
		binary.BigEndian.PutUint32(w.header[4*i:], v)
	}
	// words[0], [17], [18] are the big-endian-hex values; the header keeps
	// them little-endian, so swap those three.
	binary.LittleEndian.PutUint32(w.header[0:], j.version)
	binary.LittleEndian.PutUint32(w.header[68:], j.ntime)
	binary.LittleEndian.PutUint32(w.header[72:], j.nbits)
	return w
}

// shareTargetLE is diff1 / d as 32 little-endian bytes.
func shareTargetLE(d float64) [32]byte {
	diff1 := new(big.Int).Lsh(big.NewInt(0xffff), 208)
	f := new(big.Float).SetPrec(320).SetInt(diff1)
	f.Quo(f, new(big.Float).SetPrec(320).SetFloat64(d))
	t, _ := f.Int(nil)
	var out [32]byte
	be := t.Bytes()
	if len(be) > 32 {
		for i := range out {
			out[i] = 0xff
		}
		return out
	}
	for i, b := range be {
		out[len(be)-1-i] = b
	}
	return out
}

// mineShare searches nonces of fresh work until the kernel finds a hash
// below the share target, and returns the submit parameters.
func (c *testClient) mineShare(k kernel.Kernel) []any {
	c.t.Helper()
	for {
		w := c.makeWork()
		p := kernel.Prepare(&kernel.Job{Header: w.header, Target: shareTargetLE(w.job.diff)})
		if n, ok, _ := k.Search(p, 0, 1<<24); ok {
			return []any{"", w.job.id, hex.EncodeToString(w.ex2), fmt.Sprintf("%08x", w.job.ntime), fmt.Sprintf("%08x", n)}
		}
	}
}

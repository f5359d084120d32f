package stratum_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/miner/stratum"
)

// This file replays pooler's cpuminer 2.5.0 (minerd -a sha256d), the
// reference stratum CPU miner, against the server: its work construction
// (stratum_gen_work), its share target (diff_to_target), its share test
// (scanhash_sha256d + fulltest) and its request lines, ported statement
// by statement, so the server is held to what that miner really does.

// cpuNotify is mining.notify as cpuminer keeps it (struct stratum_job).
type cpuNotify struct {
	jobID, prevhash, coinb1, coinb2 string
	merkle                          []string
	version, nbits, ntime           string
	clean                           bool
}

func cpuLE32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func cpuBE32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

func cpuUnhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("hex %q: %v", s, err)
	}
	return b
}

func cpuSHA256d(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// cpuGenWork is stratum_gen_work: the header as cpuminer's 20 data words
// (the words SHA-256 reads, big-endian).
func cpuGenWork(t testing.TB, j cpuNotify, xnonce1, xnonce2 []byte) [20]uint32 {
	var coinbase []byte
	coinbase = append(coinbase, cpuUnhex(t, j.coinb1)...)
	coinbase = append(coinbase, xnonce1...)
	coinbase = append(coinbase, xnonce2...)
	coinbase = append(coinbase, cpuUnhex(t, j.coinb2)...)
	root := cpuSHA256d(coinbase)
	for _, m := range j.merkle {
		root = cpuSHA256d(append(root[:], cpuUnhex(t, m)...))
	}
	var data [20]uint32
	data[0] = cpuLE32(cpuUnhex(t, j.version))
	prev := cpuUnhex(t, j.prevhash)
	for i := 0; i < 8; i++ {
		data[1+i] = cpuLE32(prev[4*i:])
	}
	for i := 0; i < 8; i++ {
		data[9+i] = cpuBE32(root[4*i:])
	}
	data[17] = cpuLE32(cpuUnhex(t, j.ntime))
	data[18] = cpuLE32(cpuUnhex(t, j.nbits))
	return data
}

// cpuHash is sha256d_80_swap: the hash as eight words, hash[7] the most
// significant (fulltest's order).
func cpuHash(data [20]uint32) [8]uint32 {
	var hdr [80]byte
	for i, w := range data {
		binary.BigEndian.PutUint32(hdr[4*i:], w)
	}
	d := cpuSHA256d(hdr[:])
	var h [8]uint32
	for i := range h {
		h[i] = cpuLE32(d[4*i:])
	}
	return h
}

// cpuDiffToTarget is diff_to_target (util.c) for -a sha256d.
func cpuDiffToTarget(diff float64) [8]uint32 {
	var target [8]uint32
	k := 6
	for ; k > 0 && diff > 1.0; k-- {
		diff /= 4294967296.0
	}
	m := uint64(4294901760.0 / diff)
	if m == 0 && k == 6 {
		for i := range target {
			target[i] = 0xffffffff
		}
		return target
	}
	target[k] = uint32(m)
	target[k+1] = uint32(m >> 32)
	return target
}

// cpuFulltest is fulltest: hash <= target, most significant word first.
func cpuFulltest(hash, target [8]uint32) bool {
	for i := 7; i >= 0; i-- {
		if hash[i] != target[i] {
			return hash[i] < target[i]
		}
	}
	return true
}

// cpuDisplay is how cpuminer prints a hash ("Hash: ..." with -D), the
// usual display order of block hashes.
func cpuDisplay(h [8]uint32) string {
	var b [32]byte
	for i := 0; i < 8; i++ {
		binary.BigEndian.PutUint32(b[4*i:], h[7-i])
	}
	return hex.EncodeToString(b[:])
}

// cpuSubmitLine is submit_upstream_work's request: ntime and nonce are the
// data words written little-endian, in hex.
func cpuSubmitLine(user, jobID string, xnonce2 []byte, data [20]uint32) string {
	var ntime, nonce [4]byte
	binary.LittleEndian.PutUint32(ntime[:], data[17])
	binary.LittleEndian.PutUint32(nonce[:], data[19])
	return fmt.Sprintf(`{"method": "mining.submit", "params": ["%s", "%s", "%s", "%s", "%s"], "id":4}`,
		user, jobID, hex.EncodeToString(xnonce2), hex.EncodeToString(ntime[:]), hex.EncodeToString(nonce[:]))
}

// TestCpuminerCapturedShare: the first share a real minerd 2.5.0 found
// against quarryd --network regtest, with the fields it received and sent
// as its -P protocol dump logged them. The port rebuilds the hash minerd
// printed, which is the hash of the block the node accepted from that
// share ("stratum worker found a block" hash=17fad28c...).
func TestCpuminerCapturedShare(t *testing.T) {
	j := cpuNotify{
		jobID:    "1",
		prevhash: "f126b153f0bc5167380915e2df395f78aa6931138f1fd6edb44060d70114cec5",
		coinb1:   "00045952510100000000000000a0bf92056afb0db5e0e90ed7fe73a8c72fe857a500f2052a01000000",
		coinb2:   "00",
		version:  "00000001", nbits: "207fffff", ntime: "6b1526b7", clean: true,
	}
	data := cpuGenWork(t, j, cpuUnhex(t, "d53ebd9a"), cpuUnhex(t, "00000000"))
	data[19] = 0
	h := cpuHash(data)
	const minerd = "17fad28c826f4d94ad94d93e17b448561e9a961d2ed5cb4faa6f8881139e5797"
	if got := cpuDisplay(h); got != minerd {
		t.Fatalf("hash %s, minerd printed %s", got, minerd)
	}
	// The genesis hash the job builds on, in chain order, is the notify's
	// prevhash with each 4-byte word reversed.
	var prev chain.Hash
	for i := 0; i < 8; i++ {
		binary.BigEndian.PutUint32(prev[4*i:], data[1+i])
	}
	if prev != chain.RegtestParams().GenesisHash {
		t.Fatalf("prevhash words decode to %v, want the regtest genesis %v", prev, chain.RegtestParams().GenesisHash)
	}
	want := `{"method": "mining.submit", "params": ["w", "1", "00000000", "6b1526b7", "00000000"], "id":4}`
	if got := cpuSubmitLine("w", "1", cpuUnhex(t, "00000000"), data); got != want {
		t.Fatalf("submit line %s, minerd sent %s", got, want)
	}
}

// cpuSession is the miner's side of one connection, reading lines as
// cpuminer's stratum thread does.
type cpuSession struct {
	t       *testing.T
	nc      net.Conn
	br      *bufio.Reader
	xnonce1 []byte
	diff    float64
	job     *cpuNotify
}

func (s *cpuSession) line() map[string]json.RawMessage {
	s.t.Helper()
	_ = s.nc.SetReadDeadline(time.Now().Add(wait))
	b, err := s.br.ReadBytes('\n')
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("line %q: %v", b, err)
	}
	var method string
	_ = json.Unmarshal(m["method"], &method)
	var params []json.RawMessage
	_ = json.Unmarshal(m["params"], &params)
	switch method {
	case "mining.set_difficulty":
		if err := json.Unmarshal(params[0], &s.diff); err != nil {
			s.t.Fatalf("set_difficulty %s: %v", params[0], err)
		}
	case "mining.notify":
		var j cpuNotify
		str := func(i int) string { var v string; _ = json.Unmarshal(params[i], &v); return v }
		j.jobID, j.prevhash, j.coinb1, j.coinb2 = str(0), str(1), str(2), str(3)
		_ = json.Unmarshal(params[4], &j.merkle)
		j.version, j.nbits, j.ntime = str(5), str(6), str(7)
		_ = json.Unmarshal(params[8], &j.clean)
		if len(j.prevhash) != 64 || len(j.version) != 8 || len(j.nbits) != 8 || len(j.ntime) != 8 {
			s.t.Fatalf("notify cpuminer refuses (Stratum notify: invalid parameters): %s", b)
		}
		s.job = &j
	}
	return m
}

// TestCpuminerMinesRegtest runs cpuminer's session against a regtest
// server with the default configuration: subscribe and authorize as
// minerd sends them, then find shares with cpuminer's own target and test
// and submit them as it does. On regtest the network target is met by
// every other hash; a share difficulty clamped to it (as it was) made
// minerd submit thousands of shares a second, which the submit rate limit
// turned into a backlog of stale shares and minerd into 30 s pauses. The
// share difficulty must not fall below MinDifficulty there, and every
// share is still a block paying the worker.
func TestCpuminerMinesRegtest(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, nil)
	payTo := keyAddr(21)
	user := payTo.Encode(p) + ".rig1"

	s := cpuHandshake(t, e, user)
	netTarget := cpuDiffToTarget(stratum.DifficultyForTarget(mustTarget(t, p.PowLimitBits)))

	const blocks = 3
	xnonce2 := make([]byte, stratum.Extranonce2Size)
	for b := 0; b < blocks; b++ {
		job := *s.job
		target := cpuDiffToTarget(s.diff)
		data := cpuGenWork(t, job, s.xnonce1, xnonce2)
		var found bool
		for n := uint32(0); n < 1<<26; n++ {
			data[19] = n
			if h := cpuHash(data); cpuFulltest(h, target) {
				if !cpuFulltest(h, netTarget) {
					t.Fatalf("share %s does not meet the network target: shares on regtest must be blocks", cpuDisplay(h))
				}
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("no share in 2^26 nonces at difficulty %g", s.diff)
		}
		before := e.c.Height()
		fmt.Fprintln(s.nc, cpuSubmitLine(user, job.jobID, xnonce2, data))
		for {
			m := s.line()
			if string(m["id"]) == "4" {
				if string(m["result"]) != "true" {
					t.Fatalf("share %d: %s %s", b, m["result"], m["error"])
				}
				break
			}
		}
		testkit.WaitFor(t, wait, "block connected", func() bool { return e.c.Height() == before+1 })
		for s.job.jobID == job.jobID || !s.job.clean {
			s.line()
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.blocks) != blocks {
		t.Fatalf("%d blocks submitted, want %d", len(e.blocks), blocks)
	}
	for _, b := range e.blocks {
		if b.Txs[0].To != payTo {
			t.Fatalf("block %v pays %v, want the worker's %v", b.Header.BlockHash(), b.Txs[0].To, payTo)
		}
	}
	info := e.srv.Info()
	if info.SharesAccepted != blocks || info.BlocksFound != blocks || info.SharesRejected != 0 {
		t.Fatalf("server counts %+v", info)
	}
	if !strings.HasPrefix(info.Workers[0].Agent, "cpuminer/") {
		t.Fatalf("agent %q", info.Workers[0].Agent)
	}
}

// cpuHandshake connects, subscribes and authorizes as minerd does and
// returns once the first job arrived.
func cpuHandshake(t *testing.T, e *env, user string) *cpuSession {
	t.Helper()
	nc, err := net.Dial("tcp", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	s := &cpuSession{t: t, nc: nc, br: bufio.NewReader(nc)}
	fmt.Fprint(nc, `{"id": 1, "method": "mining.subscribe", "params": ["cpuminer/2.5.0"]}`+"\n")
	sub := s.line()
	var res []json.RawMessage
	if err := json.Unmarshal(sub["result"], &res); err != nil || len(res) != 3 {
		t.Fatalf("subscribe result %s", sub["result"])
	}
	var ex1 string
	var ex2Size int
	_ = json.Unmarshal(res[1], &ex1)
	_ = json.Unmarshal(res[2], &ex2Size)
	s.xnonce1 = cpuUnhex(t, ex1)
	if ex2Size != stratum.Extranonce2Size {
		t.Fatalf("extranonce2 size %d", ex2Size)
	}
	fmt.Fprintf(nc, `{"id": 2, "method": "mining.authorize", "params": ["%s", "x"]}`+"\n", user)
	for auth := false; !auth || s.job == nil; {
		if m := s.line(); string(m["id"]) == "2" {
			if string(m["result"]) != "true" {
				t.Fatalf("authorize: %s %s", m["result"], m["error"])
			}
			auth = true
		}
	}
	if s.diff < stratum.DefaultMinDifficulty {
		t.Fatalf("regtest share difficulty %g: cpuminer would submit a share every %.1f hashes; want at least MinDifficulty %g",
			s.diff, s.diff*(1<<32), stratum.DefaultMinDifficulty)
	}
	return s
}

func mustTarget(t testing.TB, bits uint32) *big.Int {
	t.Helper()
	tg, err := chain.CompactToBig(bits)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// cpuFindShare scans nonces from start like scanhash_sha256d and returns
// the first that meets the share target.
func cpuFindShare(t *testing.T, data [20]uint32, diff float64, start uint32) [20]uint32 {
	t.Helper()
	target := cpuDiffToTarget(diff)
	for n := start; n < start+1<<26; n++ {
		data[19] = n
		if cpuFulltest(cpuHash(data), target) {
			return data
		}
	}
	t.Fatalf("no share in 2^26 nonces at difficulty %g", diff)
	return data
}

// TestCpuminerShareAfterBlockIsStale: minerd keeps scanning its job and
// submitting until the new job arrives, so on regtest (every share a
// block) a second share of the job that just made a block follows at
// once. It builds on the replaced tip: it must be refused as stale, not
// accepted as a competing block (which the chain keeps on a side branch
// and the server counted as found; seen as 38 "found" for 37 blocks).
func TestCpuminerShareAfterBlockIsStale(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, nil)
	user := keyAddr(22).Encode(p) + ".rig1"
	s := cpuHandshake(t, e, user)
	xnonce2 := make([]byte, stratum.Extranonce2Size)
	data := cpuGenWork(t, *s.job, s.xnonce1, xnonce2)
	first := cpuFindShare(t, data, s.diff, 0)
	second := cpuFindShare(t, data, s.diff, first[19]+1)
	// Both in one write, as minerd's workio thread sends them.
	fmt.Fprint(s.nc, cpuSubmitLine(user, s.job.jobID, xnonce2, first)+"\n"+cpuSubmitLine(user, s.job.jobID, xnonce2, second)+"\n")
	var answers []map[string]json.RawMessage
	for len(answers) < 2 {
		if m := s.line(); string(m["id"]) == "4" {
			answers = append(answers, m)
		}
	}
	if string(answers[0]["result"]) != "true" {
		t.Fatalf("first share: %s %s", answers[0]["result"], answers[0]["error"])
	}
	var perr []any
	if err := json.Unmarshal(answers[1]["error"], &perr); err != nil || len(perr) < 1 || perr[0] != float64(stratum.CodeJobNotFound) {
		t.Fatalf("share on the replaced tip: result %s error %s, want code %d", answers[1]["result"], answers[1]["error"], stratum.CodeJobNotFound)
	}
	info := e.srv.Info()
	if info.BlocksFound != 1 || info.SharesAccepted != 1 || info.SharesStale != 1 || e.c.Height() != 1 {
		t.Fatalf("counts %+v, height %d", info, e.c.Height())
	}
}

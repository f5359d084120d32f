package stratum_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"go.uber.org/goleak"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/chaintest"
	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/miner"
	"github.com/quarrychain/quarry/miner/kernel"
	"github.com/quarrychain/quarry/miner/stratum"
)

// TestMain checks that every server goroutine exits. goleveldb's memory
// pool drainer (the chain's in-memory store) lingers for a second after
// Close by design.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/syndtr/goleveldb/leveldb.(*DB).mpoolDrain"))
}

// env is a chain, the node's miner (as template source) and a running
// stratum server, wired as the node wires them.
type env struct {
	c   *chain.Chain
	m   *miner.Miner
	srv *stratum.Server
	p   *chain.Params

	mu     sync.Mutex
	blocks []*chain.Block // accepted by the Submitter
}

func newEnv(t *testing.T, p *chain.Params, mod func(*stratum.Config)) *env {
	t.Helper()
	return newEnvWithTxs(t, p, nil, mod)
}

// newEnvWithTxs is newEnv with a transaction source for the templates.
func newEnvWithTxs(t *testing.T, p *chain.Params, txs miner.TxSource, mod func(*stratum.Config)) *env {
	t.Helper()
	e := &env{p: p, c: chaintest.NewChain(t, p, time.Now)}
	submit := miner.SubmitterFunc(func(b *chain.Block) error {
		if _, err := e.c.ProcessBlock(b); err != nil {
			return err
		}
		e.mu.Lock()
		e.blocks = append(e.blocks, b)
		e.mu.Unlock()
		return nil
	})
	var err error
	e.m, err = miner.New(miner.Config{Chain: e.c, Txs: txs, Submitter: submit})
	if err != nil {
		t.Fatal(err)
	}
	cfg := stratum.Config{
		ListenAddr: "127.0.0.1:0", Chain: e.c, Templates: e.m, Submitter: submit,
		PollInterval: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	e.srv, err = stratum.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
	})
	select {
	case <-e.srv.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return e
}

func (e *env) addr() string { return e.srv.Addr() }

func keyOf(seed byte) *secp256k1.PrivateKey {
	var b [32]byte
	b[0], b[31] = 0x37, seed
	return secp256k1.PrivKeyFromBytes(b[:])
}

func keyAddr(seed byte) chain.Address {
	return chain.AddressFromPubKey(keyOf(seed).PubKey().SerializeCompressed())
}

// TestEndToEndFindsBlocks: a client written from the protocol mines with
// the project's kernel through the server on a dev chain, with a share
// difficulty below the network's: shares are accepted, some are blocks,
// the blocks connect and pay the worker's address, and every block is
// followed by a clean job on the new tip.
func TestEndToEndFindsBlocks(t *testing.T) {
	p := chain.DevParams()
	e := newEnv(t, p, func(c *stratum.Config) {
		c.InitialDifficulty = 1.0 / (1 << 20) // 16 shares per block at the dev PoW limit
		c.MinDifficulty = 1.0 / (1 << 20)
	})
	payTo := keyAddr(1)
	cl := dial(t, e.addr())
	cl.handshake(payTo.Encode(p)+".rig1", "x")
	if !cl.job.clean {
		t.Fatal("first job must have clean_jobs true")
	}
	k := kernel.Best()
	const wantBlocks = 3
	accepted := 0
	for e.c.Height() < wantBlocks {
		params := cl.mineShare(k)
		params[0] = payTo.Encode(p) + ".rig1"
		height := e.c.Height()
		r := cl.call("mining.submit", params...)
		switch {
		case r.Error == nil:
			accepted++
		case r.Error.Code == stratum.CodeJobNotFound:
			// The tip moved while we mined; take the new job.
		default:
			t.Fatalf("share rejected: %v", r.Error)
		}
		if e.c.Height() > height {
			// A block: the next job must be clean and on the new tip.
			for cl.job.prevWords == (clientJob{}).prevWords || !cl.job.clean || cl.job.nbits == 0 {
				cl.absorb(cl.next())
			}
			testkit.WaitFor(t, wait, "clean job on the new tip", func() bool {
				for {
					select {
					case m := <-cl.msgs:
						cl.absorb(m)
						continue
					default:
					}
					return cl.job.clean && jobParent(cl.job) == e.c.Best().Hash
				}
			})
		}
	}
	e.mu.Lock()
	blocks := append([]*chain.Block(nil), e.blocks...)
	e.mu.Unlock()
	if len(blocks) < wantBlocks {
		t.Fatalf("%d blocks submitted, want %d", len(blocks), wantBlocks)
	}
	for _, b := range blocks {
		if b.Txs[0].To != payTo {
			t.Fatalf("block %s pays %s, want the worker's address", b.Hash(), b.Txs[0].To.Encode(p))
		}
	}
	info := e.srv.Info()
	if info.BlocksFound < wantBlocks || info.SharesAccepted != uint64(accepted) || len(info.Workers) != 1 {
		t.Fatalf("info %+v, accepted %d", info, accepted)
	}
	w := info.Workers[0]
	if w.Name != payTo.Encode(p)+".rig1" || w.PayTo != payTo || w.Blocks < wantBlocks || w.Accepted != uint64(accepted) || w.HashesPerSec <= 0 || w.Agent != "testclient/1.0" {
		t.Fatalf("worker %+v", w)
	}
	if accepted <= wantBlocks {
		t.Logf("only %d shares for %d blocks (share difficulty is 1/16 of the network's)", accepted, wantBlocks)
	}
}

// jobParent decodes the prevhash words of a client job back into a hash.
func jobParent(j *clientJob) chain.Hash {
	var h chain.Hash
	for i, w := range j.prevWords {
		h[4*i], h[4*i+1], h[4*i+2], h[4*i+3] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
	}
	return h
}

// TestRegtestEveryShareIsABlock: regtest's network target (difficulty
// ~4.7e-10, every other hash) is easier than MinDifficulty's, so shares
// start at MinDifficulty instead of being clamped to the network's, and
// every share is a block.
func TestRegtestEveryShareIsABlock(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, nil)
	payTo := keyAddr(2)
	cl := dial(t, e.addr())
	cl.handshake(payTo.Encode(p), "")
	if cl.diff != stratum.DefaultMinDifficulty {
		t.Fatalf("regtest share difficulty %v, want MinDifficulty %v", cl.diff, stratum.DefaultMinDifficulty)
	}
	k := kernel.Best()
	for i := 0; i < 5; i++ {
		params := cl.mineShare(k)
		params[0] = payTo.Encode(p)
		if r := cl.call("mining.submit", params...); r.Error != nil {
			t.Fatalf("share %d: %v", i, r.Error)
		}
		testkit.WaitFor(t, wait, "new job", func() bool {
			for {
				select {
				case m := <-cl.msgs:
					cl.absorb(m)
					continue
				default:
				}
				return jobParent(cl.job) == e.c.Best().Hash
			}
		})
	}
	if h := e.c.Height(); h != 5 {
		t.Fatalf("height %d, want 5", h)
	}
}

// TestShareErrors covers the conventional error codes.
func TestShareErrors(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, nil)
	payTo := keyAddr(3)
	user := payTo.Encode(p) + ".w"

	// 25: submit before subscribe.
	cl := dial(t, e.addr())
	if r := cl.call("mining.submit", user, "1", "00000000", "00000000", "00000000"); r.Error == nil || r.Error.Code != stratum.CodeNotSubscribed {
		t.Fatalf("submit before subscribe: %+v", r.Error)
	}
	cl.handshake(user, "")
	// 24: a worker that did not authorize.
	if r := cl.call("mining.submit", "someone.else", cl.job.id, "00000000", "00000000", "00000000"); r.Error == nil || r.Error.Code != stratum.CodeUnauthorized {
		t.Fatalf("unauthorized worker: %+v", r.Error)
	}
	// 21: unknown job.
	if r := cl.call("mining.submit", user, "nosuchjob", "00000001", "00000000", "00000000"); r.Error == nil || r.Error.Code != stratum.CodeJobNotFound {
		t.Fatalf("unknown job: %+v", r.Error)
	}
	w := cl.makeWork()
	ntime := hex8(w.job.ntime)
	// 20: bad extranonce2 size, bad ntime, bad nonce.
	for _, params := range [][]any{
		{user, w.job.id, "0001", ntime, "00000000"},
		{user, w.job.id, "00000001ff", ntime, "00000000"},
		{user, w.job.id, "zzzzzzzz", ntime, "00000000"},
		{user, w.job.id, "00000001", hex8(p.GenesisBlock.Header.Timestamp), "00000000"}, // not after the median time past
		{user, w.job.id, "00000001", hex8(uint32(time.Now().Add(3 * time.Hour).Unix())), "00000000"},
		{user, w.job.id, "00000001", ntime, "0000"},
		{user, w.job.id, "00000001", ntime, "00000000", "ffffffff"}, // version bits without version rolling
	} {
		if r := cl.call("mining.submit", params...); r.Error == nil || r.Error.Code != stratum.CodeOther {
			t.Fatalf("submit %v: %+v, want code 20", params, r.Error)
		}
	}
	// 23: a hash above the share target (regtest: all but one in 65,536
	// nonces at MinDifficulty), then 22: the same valid share twice.
	var low, good uint32
	var lowFound, goodFound bool
	target := shareTargetLE(cl.diff)
	for n := uint32(0); !lowFound || !goodFound; n++ {
		h := w.header
		h[76], h[77], h[78], h[79] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		ok := leq(kernel.HashHeader(&h), target)
		if ok && !goodFound {
			good, goodFound = n, true
		} else if !ok && !lowFound {
			low, lowFound = n, true
		}
	}
	ex2 := hexBytes(w.ex2)
	if r := cl.call("mining.submit", user, w.job.id, ex2, ntime, hex8(low)); r.Error == nil || r.Error.Code != stratum.CodeLowDifficulty {
		t.Fatalf("low difficulty share: %+v", r.Error)
	}
	before := e.c.Height()
	oldJob := w.job.id
	if r := cl.call("mining.submit", user, w.job.id, ex2, ntime, hex8(good)); r.Error != nil {
		t.Fatalf("good share: %+v", r.Error)
	}
	testkit.WaitFor(t, wait, "block connected", func() bool { return e.c.Height() == before+1 })
	// Once the job on the new tip arrived, the old job is stale (21)
	// before it is a duplicate.
	for cl.job.id == oldJob || jobParent(cl.job) != e.c.Best().Hash {
		cl.absorb(cl.next())
	}
	if r := cl.call("mining.submit", user, oldJob, ex2, ntime, hex8(good)); r.Error == nil || r.Error.Code != stratum.CodeJobNotFound {
		t.Fatalf("stale share: %+v", r.Error)
	}
	info := e.srv.Info()
	if info.SharesAccepted != 1 || info.SharesStale != 2 || info.BlocksFound != 1 || info.SharesRejected < 9 {
		t.Fatalf("counts %+v", info)
	}
}

// TestDuplicateShare: an accepted share submitted again is rejected with
// 22 (on dev with a share difficulty below the network's, so the share is
// not a block and the job stays current); a low-difficulty share stays a
// low-difficulty share however often it comes.
func TestDuplicateShare(t *testing.T) {
	p := chain.DevParams()
	e := newEnv(t, p, func(c *stratum.Config) {
		c.InitialDifficulty, c.MinDifficulty = 1.0/(1<<20), 1.0/(1<<20)
	})
	user := keyAddr(13).Encode(p)
	cl := dial(t, e.addr())
	cl.handshake(user, "")
	w := cl.makeWork()
	share := shareTargetLE(cl.diff)
	network := shareTargetLE(1.0 / (1 << 16)) // the dev PoW limit
	var good, low uint32
	var goodOK, lowOK bool
	for n := uint32(0); !goodOK || !lowOK; n++ {
		h := w.header
		h[76], h[77], h[78], h[79] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		hh := kernel.HashHeader(&h)
		switch {
		case leq(hh, share) && !leq(hh, network) && !goodOK:
			good, goodOK = n, true
		case !leq(hh, share) && !lowOK:
			low, lowOK = n, true
		}
	}
	args := func(n uint32) []any {
		return []any{user, w.job.id, hexBytes(w.ex2), hex8(w.job.ntime), hex8(n)}
	}
	if r := cl.call("mining.submit", args(good)...); r.Error != nil {
		t.Fatalf("share: %v", r.Error)
	}
	if r := cl.call("mining.submit", args(good)...); r.Error == nil || r.Error.Code != stratum.CodeDuplicate {
		t.Fatalf("duplicate share: %+v", r.Error)
	}
	for i := 0; i < 2; i++ {
		if r := cl.call("mining.submit", args(low)...); r.Error == nil || r.Error.Code != stratum.CodeLowDifficulty {
			t.Fatalf("low difficulty share %d: %+v", i, r.Error)
		}
	}
	if info := e.srv.Info(); info.SharesAccepted != 1 || info.SharesRejected != 3 || info.BlocksFound != 0 {
		t.Fatalf("counts %+v", info)
	}
}

func hex8(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b[:])
}

func hexBytes(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// leq compares little-endian 256-bit integers.
func leq(h, t [32]byte) bool {
	for i := 31; i >= 0; i-- {
		if h[i] != t[i] {
			return h[i] < t[i]
		}
	}
	return true
}

// TestAuthorize covers payout names, the password and version rolling.
func TestAuthorize(t *testing.T) {
	p := chain.RegtestParams()
	def := keyAddr(9)
	good := keyAddr(4).Encode(p)
	e := newEnv(t, p, func(c *stratum.Config) { c.Password = "s3cret" })
	cl := dial(t, e.addr())
	cl.call("mining.subscribe")
	for _, c := range []struct{ user, pass string }{
		{good, "wrong"},
		{good[:len(good)-1] + "q", "s3cret"},             // checksum error
		{"rig7", "s3cret"},                               // not an address, no default payout
		{keyAddr(4).Encode(chain.DevParams()), "s3cret"}, // another network's address
	} {
		if r := cl.call("mining.authorize", c.user, c.pass); string(r.Result) != "false" || r.Error == nil || r.Error.Code != stratum.CodeUnauthorized {
			t.Fatalf("authorize %q/%q: %s %+v", c.user, c.pass, r.Result, r.Error)
		}
	}
	if r := cl.call("mining.authorize", good+".a", "s3cret"); string(r.Result) != "true" {
		t.Fatalf("good worker refused: %+v", r.Error)
	}
	// A second payout address on the same connection is refused.
	if r := cl.call("mining.authorize", keyAddr(5).Encode(p), "s3cret"); r.Error == nil {
		t.Fatal("second payout address accepted on one connection")
	}

	// With a default payout, any name is accepted and paid to it.
	e2 := newEnv(t, p, func(c *stratum.Config) { c.PayTo = def })
	cl2 := dial(t, e2.addr())
	// Version rolling (BIP 310) before subscribing, as miners do.
	r := cl2.call("mining.configure", []string{"version-rolling", "minimum-difficulty"}, map[string]any{"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 2})
	var res map[string]json.RawMessage
	if err := json.Unmarshal(r.Result, &res); err != nil || string(res["version-rolling"]) != "true" || string(res["version-rolling.mask"]) != `"1fffe000"` || string(res["minimum-difficulty"]) != "false" {
		t.Fatalf("configure: %s %v", r.Result, err)
	}
	cl2.handshake("lanbox-3", "anything")
	w := cl2.makeWork()
	target := shareTargetLE(cl2.diff)
	const vbits = 0x00006000
	for n := uint32(0); ; n++ {
		h := w.header
		v := w.job.version | vbits
		h[0], h[1], h[2], h[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		h[76], h[77], h[78], h[79] = byte(n), byte(n>>8), byte(n>>16), byte(n>>24)
		if !leq(kernel.HashHeader(&h), target) {
			continue
		}
		r := cl2.call("mining.submit", "lanbox-3", w.job.id, hexBytes(w.ex2), hex8(w.job.ntime), hex8(n), hex8(vbits))
		if r.Error != nil {
			t.Fatalf("version-rolled share: %+v", r.Error)
		}
		break
	}
	e2.mu.Lock()
	defer e2.mu.Unlock()
	if len(e2.blocks) != 1 || e2.blocks[0].Txs[0].To != def || e2.blocks[0].Header.Version != 1|vbits {
		t.Fatalf("blocks %d; want one paying the default address with version %08x", len(e2.blocks), 1|vbits)
	}
}

// TestBadInput: malformed JSON, unknown methods, oversized lines and
// silent connections get a clear error or a disconnect; the server keeps
// serving others.
func TestBadInput(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, func(c *stratum.Config) {
		c.MaxLineBytes = 1024
		c.MaxBadMessages = 3
		c.HandshakeTimeout = 300 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})

	// Malformed JSON: error with a null id, the connection stays usable.
	cl := dial(t, e.addr())
	cl.sendRaw("{not json\n")
	if m := cl.next(); m.Error == nil || m.Error.Code != stratum.CodeOther || string(m.ID) != "null" {
		t.Fatalf("malformed JSON answered %+v", m)
	}
	if r := cl.call("mining.bogus", 1); r.Error == nil || !strings.Contains(r.Error.Message, "unknown method") {
		t.Fatalf("unknown method answered %+v", r)
	}
	if r := cl.call("mining.subscribe"); r.Error != nil {
		t.Fatalf("subscribe after bad lines: %v", r.Error)
	}
	// The third bad message closes the connection.
	cl.sendRaw("[]\n")
	expectClosed(t, cl)

	// Oversized line: an error, then the connection is closed.
	cl = dial(t, e.addr())
	cl.sendRaw(`{"id":1,"method":"mining.subscribe","params":["` + strings.Repeat("a", 4096) + "\"]}\n")
	if m := cl.next(); m.Error == nil || !strings.Contains(m.Error.Message, "exceeds") {
		t.Fatalf("oversized line answered %+v", m)
	}
	expectClosed(t, cl)

	// Half-open: a connection that never completes the handshake, and an
	// authorized one that goes silent, are closed by their timeouts.
	silent := dial(t, e.addr())
	expectClosed(t, silent)
	idle := dial(t, e.addr())
	idle.handshake(keyAddr(6).Encode(p), "")
	expectClosed(t, idle)

	// Binary garbage without newlines up to the limit: closed, no crash.
	raw, err := net.Dial("tcp", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	garbage := make([]byte, 3000)
	for i := range garbage {
		garbage[i] = byte(i*7 + 1)
		if garbage[i] == '\n' {
			garbage[i] = 0
		}
	}
	_, _ = raw.Write(garbage)
	_ = raw.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadAll(raw); err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("garbage connection was not closed")
		}
		// A reset is a close too (the server dropped unread bytes).
	}

	// The server still serves a well-behaved miner.
	ok := dial(t, e.addr())
	ok.handshake(keyAddr(7).Encode(p), "")
}

// expectClosed reads until the server closes the connection.
func expectClosed(t *testing.T, c *testClient) {
	t.Helper()
	for {
		select {
		case _, ok := <-c.msgs:
			if !ok {
				return
			}
		case <-time.After(wait):
			t.Fatal("server did not close the connection")
		}
	}
}

// TestSubmitFloodDoesNotStarveOthers: one connection floods submits as
// fast as it can write them and never reads; it is throttled to
// MaxSubmitRate (its reads wait), and another miner still gets its job
// and its share accepted meanwhile.
func TestSubmitFloodDoesNotStarveOthers(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, func(c *stratum.Config) { c.MaxSubmitRate = 50 })
	user := keyAddr(8).Encode(p)

	flood, err := net.Dial("tcp", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		line := []byte(`{"id":1,"method":"mining.subscribe","params":[]}` + "\n" + `{"id":2,"method":"mining.authorize","params":["` + user + `",""]}` + "\n")
		_, _ = flood.Write(line)
		sub := []byte(`{"id":3,"method":"mining.submit","params":["` + user + `","1","00000000","00000000","00000000"]}` + "\n")
		batch := []byte(strings.Repeat(string(sub), 64))
		for ctx.Err() == nil {
			_ = flood.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			if _, err := flood.Write(batch); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue // throttled: the server is not reading us
				}
				return
			}
		}
	}()

	cl := dial(t, e.addr())
	cl.handshake(keyAddr(10).Encode(p), "")
	params := cl.mineShare(kernel.Best())
	params[0] = keyAddr(10).Encode(p)
	if r := cl.call("mining.submit", params...); r.Error != nil {
		t.Fatalf("share during flood: %v", r.Error)
	}
	cancel()
	wg.Wait()
}

// TestVardiffRaisesDifficulty: a miner that submits shares much faster
// than one per ShareInterval gets a higher difficulty after 8 shares
// (at most 4x per step), sent as set_difficulty before a fresh job; shares
// of the older job are still judged by the difficulty it was sent with.
func TestVardiffRaisesDifficulty(t *testing.T) {
	p := chain.DevParams()
	const start = 1.0 / (1 << 26)
	e := newEnv(t, p, func(c *stratum.Config) {
		c.InitialDifficulty, c.MinDifficulty = start, start
		c.ShareInterval = time.Hour
	})
	user := keyAddr(11).Encode(p)
	cl := dial(t, e.addr())
	cl.handshake(user, "")
	if cl.diff != start {
		t.Fatalf("initial difficulty %v, want %v", cl.diff, start)
	}
	k := kernel.Best()
	for i := 0; i < 8; i++ {
		params := cl.mineShare(k)
		params[0] = user
		if r := cl.call("mining.submit", params...); r.Error != nil && r.Error.Code != stratum.CodeJobNotFound {
			t.Fatalf("share %d: %v", i, r.Error)
		}
	}
	oldJob := cl.job
	testkit.WaitFor(t, wait, "a higher difficulty", func() bool {
		for {
			select {
			case m := <-cl.msgs:
				cl.absorb(m)
				continue
			default:
			}
			return cl.diff > start
		}
	})
	if cl.diff != 4*start {
		t.Fatalf("difficulty %v after 8 fast shares, want one step of 4x (%v)", cl.diff, 4*start)
	}
	for cl.job == oldJob {
		cl.absorb(cl.next())
	}
	if cl.job.diff != 4*start || cl.job.clean && jobParent(cl.job) == jobParent(oldJob) {
		t.Fatalf("job after set_difficulty: diff %v clean %v", cl.job.diff, cl.job.clean)
	}
	info := e.srv.Info()
	if len(info.Workers) != 1 || info.Workers[0].Difficulty != 4*start {
		t.Fatalf("workers %+v", info.Workers)
	}
}

// TestMaxConns: connections beyond MaxConns are closed at once; the
// others keep working.
func TestMaxConns(t *testing.T) {
	p := chain.RegtestParams()
	e := newEnv(t, p, func(c *stratum.Config) { c.MaxConns = 2 })
	a, b := dial(t, e.addr()), dial(t, e.addr())
	a.call("mining.subscribe")
	b.call("mining.subscribe")
	c := dial(t, e.addr())
	expectClosed(t, c)
	a.handshake(keyAddr(12).Encode(p), "")
}

// TestBlockWithTransactions: transactions that reach the template source
// are picked up by the periodic refresh, the job carries their merkle
// branch, and a block mined through stratum with that branch connects
// (the chain re-checks the merkle root) and contains them.
func TestBlockWithTransactions(t *testing.T) {
	p := chain.RegtestParams()
	payer := keyOf(20)
	from := keyAddr(20)
	var c *chain.Chain
	var pending []*chain.Tx
	var mu sync.Mutex
	src := miner.TxSourceFunc(func(parent chain.Hash, maxBytes int) []*chain.Tx {
		mu.Lock()
		defer mu.Unlock()
		var out []*chain.Tx
		if c == nil {
			return nil
		}
		for _, tx := range pending {
			if c.Account(from).Nonce <= tx.Nonce {
				out = append(out, tx)
			}
		}
		return out
	})
	e := newEnvWithTxs(t, p, src, func(cfg *stratum.Config) { cfg.RefreshInterval = 50 * time.Millisecond })
	mu.Lock()
	c = e.c
	mu.Unlock()
	cl := dial(t, e.addr())
	user := from.Encode(p)
	cl.handshake(user, "")
	k := kernel.Best()
	mine := func() {
		t.Helper()
		for {
			params := cl.mineShare(k)
			params[0] = user
			h := e.c.Height()
			r := cl.call("mining.submit", params...)
			if r.Error != nil && r.Error.Code != stratum.CodeJobNotFound {
				t.Fatalf("share: %v", r.Error)
			}
			if e.c.Height() > h {
				return
			}
		}
	}
	mine() // block 1 funds the payer
	mu.Lock()
	for i := 0; i < 3; i++ {
		tx := &chain.Tx{Kind: chain.TxTransfer, ChainID: p.ChainID, Nonce: uint64(i), To: keyAddr(byte(30 + i)), Amount: 1000, Fee: 100}
		tx.Sign(payer)
		pending = append(pending, tx)
	}
	mu.Unlock()
	testkit.WaitFor(t, wait, "a job with the transactions' merkle branch", func() bool {
		for {
			select {
			case m := <-cl.msgs:
				cl.absorb(m)
				continue
			default:
			}
			return len(cl.job.branch) == 2 // 4 leaves: coinbase + 3 transfers
		}
	})
	mine()
	h2, ok := e.c.HashAtHeight(2)
	if !ok {
		t.Fatal("no block at height 2")
	}
	blk, err := e.c.Block(h2)
	if err != nil {
		t.Fatal(err)
	}
	if len(blk.Txs) != 4 || blk.Txs[0].To != from || blk.Txs[0].Amount != p.CalcSubsidy(2)+300 {
		t.Fatalf("block 2 has %d transactions, coinbase %v", len(blk.Txs), blk.Txs[0])
	}
	if acct := e.c.Account(from); acct.Nonce != 3 {
		t.Fatalf("payer nonce %d after block 2, want 3", acct.Nonce)
	}
}

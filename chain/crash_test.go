package chain

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain/leveldbstore"
	"github.com/quarrychain/quarry/chain/memstore"
)

// TestCrashRecovery re-executes the test binary as a child process
// (TestCrashChild) that feeds a deterministic stream of regtest blocks —
// signed transfers, losing side branches and heavier side branches that force
// reorgs — into a chain on a LevelDB directory. The parent kills the child
// with SIGKILL at a random moment, reopens the store in-process and checks:
//
//   - the store opens and chain.New succeeds;
//   - the committed tip record names a block that the reference run fully
//     connected at some point, and the blocks stored are exactly a prefix of
//     the stream that contains every block the child reported as processed;
//   - after New (which finishes an interrupted reorg) the tip is the tip the
//     reference run had after that prefix;
//   - Best().StateDigest equals the digest of a fresh in-memory chain that
//     replays exactly the recovered main chain from genesis to that tip.
//
// It then restarts the child on the same directory; the child skips what it
// already has (ErrDuplicateBlock) and goes on.

const (
	// crashChildEnv tells TestCrashChild it runs as the child of
	// TestCrashRecovery: "<data dir>|<stream file>|<seed>|<limit>".
	crashChildEnv = "QUARRY_CRASH_CHILD"
	// crashCyclesEnv overrides the number of kill cycles (longer soaks).
	crashCyclesEnv = "QUARRY_CRASH_CYCLES"
	// crashLinePrefix marks the child's protocol lines on stdout.
	crashLinePrefix = "quarry-crash: "

	crashDefaultCycles = 50
	crashSeed          = 0x5155415252590001
	crashKeys          = 6 // funded senders in the stream
	crashMaxTxs        = 2 // transfers in half the blocks: 1..crashMaxTxs (race-instrumented ECDSA costs ~5-8 ms)
	crashMaxAdvance    = 3 // blocks the child processes before a kill: 1..crashMaxAdvance
	crashKillSlack     = 2 // blocks past the target after which the kill is sent at once
	// crashStreamAhead is how many stream blocks are generated beyond the
	// stored prefix before a child starts: room for the search of a reorg
	// to aim at and the slack.
	crashStreamAhead  = 2*crashMaxAdvance + crashKillSlack + 8
	crashCycleTimeout = 60 * time.Second
)

// crashNow is the fixed clock of every chain in the crash test.
func crashNow() time.Time { return time.Unix(genesisTime+1<<20, 0) }

// crashStream is a deterministic, unbounded block sequence (generated on
// demand, always in whole episodes, so its blocks do not depend on how far it
// was extended), with what an uninterrupted in-memory reference run made of
// it. Not safe for concurrent use.
type crashStream struct {
	seed   uint64
	gen    *crashGen
	tip    *crashNode // the generator's best tip
	blocks []*Block
	hashes []Hash
	pos    map[Hash]int // stream position of each block
	// refTip[k] and refDigest[k] are the reference tip and state digest after
	// blocks[0:k] were processed (refTip[0] is genesis).
	refTip    []Hash
	refDigest []Hash
	// connected holds every block the reference run connected at some point
	// (genesis included): the only blocks a committed tip record may name.
	connected map[Hash]bool
	reorgs    int
	// reorgAt[i] says block i made the reference run reorg; work[i] is the
	// number of commits processing it took (store, disconnects, connects).
	reorgAt  []bool
	work     []int
	refStore Store
	ref      *Chain
	sub      *Subscription
}

// crashNode is the generator's view of one block: its place in the tree and
// the accounts of the generator's keys after it.
type crashNode struct {
	hash   Hash
	parent *crashNode
	height uint64
	time   uint32
	accts  [crashKeys]Account
}

type crashGen struct {
	p     *Params
	rng   *rand.Rand
	keys  [crashKeys]*secp256k1.PrivateKey
	addrs [crashKeys]Address
	count uint64 // blocks built so far
}

func newCrashGen(p *Params, seed uint64) *crashGen {
	g := &crashGen{p: p, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := range g.keys {
		var kb [32]byte
		for j := 0; j < 32; j += 8 {
			binary.LittleEndian.PutUint64(kb[j:], g.rng.Uint64())
		}
		kb[0] |= 1 // never the zero scalar
		g.keys[i] = secp256k1.PrivKeyFromBytes(kb[:])
		g.addrs[i] = AddressFromPubKey(g.keys[i].PubKey().SerializeCompressed())
	}
	return g
}

// child builds and solves a block on parent; half the blocks carry
// 1..crashMaxTxs signed transfers between the generator's keys (and to fresh
// addresses).
func (g *crashGen) child(parent *crashNode) (*crashNode, *Block) {
	n := &crashNode{parent: parent, height: parent.height + 1, time: parent.time + 1, accts: parent.accts}
	var txs []*Tx
	var fees uint64
	ntx := 0
	if g.rng.IntN(2) == 0 {
		ntx = 1 + g.rng.IntN(crashMaxTxs)
	}
	for range ntx {
		s := g.rng.IntN(crashKeys)
		fee := uint64(100 + g.rng.IntN(900))
		if n.accts[s].Balance <= fee {
			continue
		}
		amount := 1 + g.rng.Uint64N(min(n.accts[s].Balance-fee, 5*Coin))
		r := -1
		var to Address
		if g.rng.IntN(4) == 0 {
			for i := 0; i < AddressSize; i += 4 {
				binary.LittleEndian.PutUint32(to[i:], g.rng.Uint32())
			}
		} else {
			r = (s + 1 + g.rng.IntN(crashKeys-1)) % crashKeys
			to = g.addrs[r]
		}
		tx := &Tx{Kind: TxTransfer, ChainID: g.p.ChainID, Nonce: n.accts[s].Nonce, To: to, Amount: amount, Fee: fee}
		tx.Sign(g.keys[s])
		n.accts[s].Balance -= amount + fee
		n.accts[s].Nonce++
		if r >= 0 {
			n.accts[r].Balance += amount
		}
		fees += fee
		txs = append(txs, tx)
	}
	miner := g.rng.IntN(crashKeys)
	reward := g.p.CalcSubsidy(n.height) + fees
	cb := &Tx{Kind: TxCoinbase, ChainID: g.p.ChainID, Height: n.height, To: g.addrs[miner], Amount: reward}
	// The stream position in the extra-nonce makes every block unique.
	binary.LittleEndian.PutUint64(cb.ExtraNonce[:], g.count)
	g.count++
	n.accts[miner].Balance += reward
	b := &Block{Txs: append([]*Tx{cb}, txs...)}
	root, _ := MerkleRoot(b.TxIDs())
	b.Header = Header{Version: 1, PrevBlock: parent.hash, MerkleRoot: root, Timestamp: n.time, Bits: g.p.PowLimitBits}
	for CheckProofOfWork(b.Header.BlockHash(), b.Header.Bits, g.p.PowLimit) != nil {
		b.Header.Nonce++
	}
	n.hash = b.Hash()
	return n, b
}

// newCrashStream starts an empty stream and its reference chain.
func newCrashStream(t testing.TB, seed uint64) *crashStream {
	t.Helper()
	p := RegtestParams()
	s := &crashStream{
		seed: seed, gen: newCrashGen(p, seed),
		tip:       &crashNode{hash: p.GenesisHash, time: p.GenesisBlock.Header.Timestamp},
		pos:       make(map[Hash]int),
		connected: map[Hash]bool{p.GenesisHash: true},
		refStore:  memstore.New(),
	}
	t.Cleanup(func() { _ = s.refStore.Close() })
	var err error
	if s.ref, err = New(Config{Params: p, Store: s.refStore, Now: crashNow}); err != nil {
		t.Fatal(err)
	}
	s.sub = s.ref.Subscribe(1 << 12)
	t.Cleanup(s.sub.Close)
	s.refTip = append(s.refTip, s.ref.Best().Hash)
	s.refDigest = append(s.refDigest, s.ref.Best().StateDigest)
	return s
}

// extend generates whole episodes until the stream holds at least length
// blocks. An episode is one extension of the best tip or, one time in
// three, a side branch from 1-3 blocks back that either loses (ties at most)
// or is one or two blocks heavier and forces a reorg. A losing branch is
// never extended again, so the best chain is unique except for ties, which
// the first-seen rule settles the same way before and after a restart. Each
// block runs through the reference chain, which must accept it and agree
// with the generator about the tip.
func (s *crashStream) extend(t testing.TB, length int) {
	t.Helper()
	g := s.gen
	for len(s.blocks) < length {
		if s.tip.height >= 4 && g.rng.IntN(3) == 0 {
			depth := 1 + g.rng.IntN(3)
			fork := s.tip
			for range depth {
				fork = fork.parent
			}
			n := 1 + g.rng.IntN(depth) // loses: at most ties
			if g.rng.IntN(3) != 0 {
				n = depth + 1 + g.rng.IntN(2) // wins
			}
			side := fork
			for range n {
				var b *Block
				side, b = g.child(side)
				if side.height > s.tip.height {
					s.tip = side
				}
				s.add(t, b)
			}
			continue
		}
		var b *Block
		s.tip, b = g.child(s.tip)
		s.add(t, b)
	}
}

// add appends b to the stream and processes it on the reference chain.
func (s *crashStream) add(t testing.TB, b *Block) {
	t.Helper()
	i, h := len(s.blocks), b.Hash()
	s.blocks = append(s.blocks, b)
	s.pos[h] = i
	s.hashes = append(s.hashes, h)
	res, err := s.ref.ProcessBlock(b)
	if err != nil || res.Status != StatusConnected && res.Status != StatusSideChain {
		t.Fatalf("reference run: stream block %d: status %v, err %v", i, res.Status, err)
	}
	if res.Reorged {
		s.reorgs++
	}
	s.reorgAt = append(s.reorgAt, res.Reorged)
	work := 1
	best := s.ref.Best()
	if best.Hash != s.tip.hash {
		t.Fatalf("reference run: after stream block %d the tip is %s, the generator expects %s", i, best.Hash, s.tip.hash)
	}
	s.refTip = append(s.refTip, best.Hash)
	s.refDigest = append(s.refDigest, best.StateDigest)
	for {
		select {
		case ev := <-s.sub.Events():
			switch ev.Kind {
			case EventBlockConnected:
				s.connected[ev.Hash] = true
				work++
			case EventBlockDisconnected:
				work++
			}
			continue
		default:
		}
		break
	}
	s.work = append(s.work, work)
	if d := s.sub.Dropped(); d != 0 {
		t.Fatalf("reference run dropped %d events", d)
	}
}

// writeFile stores the stream for the child: magic | seed u64 | count u32 |
// (len u32 | block)*. The child decodes it instead of re-signing every
// transfer on each restart.
func (s *crashStream) writeFile(path string) error {
	buf := []byte("QCS1")
	buf = binary.LittleEndian.AppendUint64(buf, s.seed)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(s.blocks)))
	for _, b := range s.blocks {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(b.SerializeSize()))
		buf = append(buf, b.Bytes()...)
	}
	return os.WriteFile(path, buf, 0o600)
}

func readCrashStream(path string, seed uint64) ([]*Block, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(buf) < 16 || string(buf[:4]) != "QCS1" || binary.LittleEndian.Uint64(buf[4:]) != seed {
		return nil, fmt.Errorf("stream file %s is not for seed %#x", path, seed)
	}
	n := binary.LittleEndian.Uint32(buf[12:])
	buf = buf[16:]
	blocks := make([]*Block, 0, n)
	for range n {
		if len(buf) < 4 || uint64(len(buf)-4) < uint64(binary.LittleEndian.Uint32(buf)) {
			return nil, errors.New("stream file truncated")
		}
		l := 4 + binary.LittleEndian.Uint32(buf)
		b, err := DecodeBlock(buf[4:l])
		if err != nil {
			return nil, err
		}
		blocks, buf = append(blocks, b), buf[l:]
	}
	return blocks, nil
}

// TestCrashChild is the child process of TestCrashRecovery; run on its own
// it skips. It opens the chain on the data dir, prints READY, then processes
// stream blocks [0, limit) in order, skipping blocks the store already has,
// and prints one line per block it processed (one write each, so a line is
// on stdout entirely or not at all). At the end of the stream it prints DONE
// and exits; at a limit short of it, HOLD, and waits to be killed. It exits
// by itself if its stdin closes (the parent is gone).
func TestCrashChild(t *testing.T) {
	spec := os.Getenv(crashChildEnv)
	if spec == "" {
		t.Skip("helper process of TestCrashRecovery")
	}
	parts := strings.Split(spec, "|")
	if len(parts) != 4 {
		t.Fatalf("bad %s=%q", crashChildEnv, spec)
	}
	seed, err := strconv.ParseUint(parts[2], 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	limit, err := strconv.Atoi(parts[3])
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readCrashStream(parts[1], seed)
	if err != nil {
		t.Fatal(err)
	}
	if limit > len(blocks) {
		t.Fatalf("limit %d beyond the %d stream blocks", limit, len(blocks))
	}
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(parentGone)
	}()
	say := func(format string, args ...any) {
		if _, err := os.Stdout.WriteString(crashLinePrefix + fmt.Sprintf(format, args...) + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	store, err := leveldbstore.Open(parts[0])
	if err != nil {
		say("ERR open: %v", err)
		t.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	c, err := New(Config{Params: RegtestParams(), Store: store, Now: crashNow})
	if err != nil {
		say("ERR new: %v", err)
		t.Fatal(err)
	}
	say("READY %d %s", c.Height(), c.Best().Hash)
	for i, b := range blocks[:limit] {
		select {
		case <-parentGone:
			t.Fatal("parent gone")
		default:
		}
		start := time.Now()
		res, err := c.ProcessBlock(b)
		if errors.Is(err, ErrDuplicateBlock) {
			continue
		}
		if err != nil || res.Status != StatusConnected && res.Status != StatusSideChain {
			say("ERR block %d: status %v: %v", i, res.Status, err)
			t.Fatalf("block %d: status %v: %v", i, res.Status, err)
		}
		say("B %d %s %d", i, c.Best().Hash, time.Since(start).Microseconds())
	}
	if limit < len(blocks) {
		say("HOLD")
		<-parentGone
		return
	}
	say("DONE %s", c.Best().Hash)
}

// crashChild is one running child process.
type crashChild struct {
	cmd     *exec.Cmd
	lines   chan string // protocol lines; closed at EOF
	stderr  bytes.Buffer
	started time.Time
	once    sync.Once
	waitErr error
}

// startCrashChild runs TestCrashChild on stream blocks [0, limit).
func startCrashChild(t *testing.T, dataDir, streamPath string, seed uint64, limit int) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%s|%#x|%d", crashChildEnv, dataDir, streamPath, seed, limit))
	ch := &crashChild{cmd: cmd, lines: make(chan string, 64)}
	cmd.Stderr = &ch.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Never written: it only closes when the parent goes away.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	ch.started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A failing test never leaves a child running.
	t.Cleanup(func() {
		ch.kill()
		_ = ch.reap()
	})
	go func() {
		defer close(ch.lines)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // EOF; a fragment without newline is not a line
			}
			if rest, ok := strings.CutPrefix(line, crashLinePrefix); ok {
				ch.lines <- strings.TrimSuffix(rest, "\n")
			}
		}
	}()
	return ch
}

// kill sends SIGKILL to the child; harmless if it has exited.
func (ch *crashChild) kill() { _ = ch.cmd.Process.Kill() }

// reap discards any lines not yet read, waits for the child to exit and
// returns its exit error. Idempotent.
func (ch *crashChild) reap() error {
	ch.once.Do(func() {
		for range ch.lines {
		}
		ch.waitErr = ch.cmd.Wait()
	})
	return ch.waitErr
}

// checkStderr fails the test if the child reported a data race or a panic
// before it died: a killed child never reaches the exit code that would say so.
func (ch *crashChild) checkStderr(t *testing.T) {
	t.Helper()
	if e := ch.stderr.String(); strings.Contains(e, "WARNING: DATA RACE") || strings.Contains(e, "panic:") {
		t.Fatalf("child failed before the kill:\n%s", e)
	}
}

// crashRun is the parent's bookkeeping across cycles.
type crashRun struct {
	t          *testing.T
	s          *crashStream
	dataDir    string
	streamPath string
	rng        *rand.Rand

	// next is the stream block the child must report next: the first one not
	// stored at its start, then in order. Every block below it is durable.
	next         int
	finalHeight  uint64
	commitTime   time.Duration // moving average of the child's time per store commit
	startupTime  time.Duration // moving average of start-to-READY
	startupKills int
	idleKills    int // kills of a child waiting at its limit
	// Kills after which New had to move the tip: the last block was stored
	// but its activation not begun (storedOnly), or the kill interrupted a
	// reorg between its disconnects and connects (midReorg).
	storedOnly, midReorg int

	replay                          *Chain // see replayDigest
	replayStore                     Store
	replaysFromGenesis              int
	genTime, verifyTime, replayTime time.Duration
}

// handle checks one protocol line of the child and returns whether it
// reported a processed block, or true for done when the child reached its
// limit (HOLD) or the end of the stream (DONE).
func (r *crashRun) handle(ch *crashChild, line string) (block, done bool) {
	t := r.t
	f := strings.Fields(line)
	switch {
	case len(f) == 3 && f[0] == "READY":
		d := time.Since(ch.started)
		if r.startupTime == 0 {
			r.startupTime = d
		}
		r.startupTime = (3*r.startupTime + d) / 4
		return false, false
	case len(f) == 4 && f[0] == "B":
		i, err := strconv.Atoi(f[1])
		if err != nil || i != r.next {
			t.Fatalf("child: %q: expected a report of stream block %d (the first one not stored, then in order)", line, r.next)
		}
		r.next++
		if want := r.s.refTip[i+1].String(); f[2] != want {
			t.Fatalf("child: tip after stream block %d is %s, reference %s", i, f[2], want)
		}
		us, _ := strconv.Atoi(f[3])
		d := time.Duration(us) * time.Microsecond / time.Duration(r.s.work[i])
		if r.commitTime == 0 {
			r.commitTime = d
		}
		r.commitTime = (7*r.commitTime + d) / 8
		return true, false
	case len(f) == 2 && f[0] == "DONE", len(f) == 1 && f[0] == "HOLD":
		return false, true
	}
	t.Fatalf("child: %q; stderr:\n%s", line, ch.stderr.String())
	return false, false
}

// cycle starts the child, lets it process some blocks (or kills it during
// startup), kills it at a random short delay and verifies the store. Half
// the cycles aim the kill at the next block that triggers a reorg, so
// reorgs are interrupted in their disconnect and connect phases. The child
// gets a limit a little past the kill point, so however the two processes
// are scheduled a cycle consumes a bounded part of the stream; a child that
// reaches it waits to be killed.
func (r *crashRun) cycle(n int) {
	t := r.t
	r.prepareStream()
	// The child skips the stored prefix and reports blocks from r.next on.
	first := r.next
	target := 1 + r.rng.IntN(crashMaxAdvance) // blocks to report before the kill timer starts
	if r.rng.IntN(2) == 0 {
		for j := first; j < first+2*crashMaxAdvance && j < len(r.s.blocks); j++ {
			if r.s.reorgAt[j] {
				target = j - first
				break
			}
		}
	}
	ch := startCrashChild(t, r.dataDir, r.streamPath, r.s.seed, min(first+target+crashKillSlack+1, len(r.s.blocks)))
	deadline := time.NewTimer(crashCycleTimeout)
	defer deadline.Stop()
	var killAt <-chan time.Time
	armed := func() {
		// The kill lands at a random point of the next block's processing
		// (one commit to store it, one per block a reorg moves) or just
		// after it: a random moment, not a synchronisation.
		work := int64(2)
		if j := first + target; j < len(r.s.work) {
			work = max(work, int64(r.s.work[j]))
		}
		killAt = time.After(time.Duration(r.rng.Int64N(work*int64(r.commitTime)*5/4 + 1)))
	}
	if r.startupTime > 0 && r.rng.IntN(8) == 0 {
		// Kill while the child opens the store and New finishes any
		// interrupted reorg.
		r.startupKills++
		killAt = time.After(time.Duration(r.rng.Int64N(int64(r.startupTime) + 1)))
	}
	got := 0
wait:
	for {
		select {
		case line, ok := <-ch.lines:
			if !ok {
				t.Fatalf("cycle %d: child exited before it was killed (%v); stderr:\n%s", n, ch.reap(), ch.stderr.String())
			}
			block, hold := r.handle(ch, line)
			if hold {
				r.idleKills++
				break wait // at its limit: kill it idle
			}
			if block {
				got++
			}
			if got == target && killAt == nil {
				armed()
			}
			if got >= target+crashKillSlack {
				// Cheap blocks outran the delay: kill now, which bounds
				// how much stream a cycle consumes.
				break wait
			}
		case <-killAt:
			break wait
		case <-deadline.C:
			t.Fatalf("cycle %d: child made no progress within %v; stderr:\n%s", n, crashCycleTimeout, ch.stderr.String())
		}
	}
	ch.kill()
	// Lines the child wrote before it died report durable blocks too.
	for line := range ch.lines {
		r.handle(ch, line)
	}
	if err := ch.reap(); err == nil {
		t.Fatalf("cycle %d: child exited normally before the kill", n)
	}
	ch.checkStderr(t)
	r.verify(n)
}

// prepareStream extends the stream to crashStreamAhead blocks past the
// stored prefix and rewrites the child's stream file (no child runs now).
func (r *crashRun) prepareStream() {
	if len(r.s.blocks) >= r.next+crashStreamAhead {
		return
	}
	started := time.Now()
	r.s.extend(r.t, r.next+2*crashStreamAhead)
	r.genTime += time.Since(started)
	if err := r.s.writeFile(r.streamPath); err != nil {
		r.t.Fatal(err)
	}
}

// verify reopens the store in-process and checks it against the reference.
func (r *crashRun) verify(n int) {
	t := r.t
	s := r.s
	started := time.Now()
	defer func() { r.verifyTime += time.Since(started) }()
	store, err := leveldbstore.Open(r.dataDir)
	if err != nil {
		t.Fatalf("cycle %d: store does not open after kill: %v", n, err)
	}
	defer func() { _ = store.Close() }()
	rec, err := store.Get([]byte(keyTip))
	if err != nil || len(rec) < HashSize {
		t.Fatalf("cycle %d: tip record: %v", n, err)
	}
	var committed Hash
	copy(committed[:], rec)
	if !s.connected[committed] {
		t.Fatalf("cycle %d: committed tip %s was never fully connected by the reference run", n, committed)
	}
	c, err := New(Config{Params: RegtestParams(), Store: store, Now: crashNow})
	if err != nil {
		t.Fatalf("cycle %d: chain.New after kill: %v", n, err)
	}
	// The blocks stored must be a prefix of the stream holding at least
	// every block a child reported.
	k := 0
	for k < len(s.hashes) && c.HaveBlock(s.hashes[k]) {
		k++
	}
	for i := k; i < len(s.hashes); i++ {
		if c.HaveBlock(s.hashes[i]) {
			t.Fatalf("cycle %d: stream block %d stored but block %d is not", n, i, k)
		}
	}
	if k < r.next {
		t.Fatalf("cycle %d: %d stream blocks stored, but the child reported %d processed", n, k, r.next)
	}
	best := c.Best()
	if best.Hash != s.refTip[k] {
		t.Fatalf("cycle %d: tip %s (height %d) after recovery with %d stream blocks stored; reference tip %s", n, best.Hash, best.Height, k, s.refTip[k])
	}
	if !s.connected[best.Hash] {
		t.Fatalf("cycle %d: tip %s was never fully connected by the reference run", n, best.Hash)
	}
	switch {
	case committed == best.Hash:
	case k > 0 && committed == s.refTip[k-1]:
		r.storedOnly++ // the last block was stored, its activation not begun
	default:
		r.midReorg++ // the tip record names an intermediate tip of a reorg
	}
	want := r.replayDigest(t, c)
	if best.StateDigest != want || best.StateDigest != s.refDigest[k] {
		t.Fatalf("cycle %d: state digest %s at tip %s; fresh replay %s, reference run %s", n, best.StateDigest, best.Hash, want, s.refDigest[k])
	}
	r.next = k
	r.finalHeight = best.Height
}

// replayDigest returns the state digest of an in-memory chain that has
// processed exactly c's main chain, genesis to tip, in order, and no other
// block. Blocks come from the regenerated stream, not from the store under
// test. The replay chain is kept between cycles and extended while its tip
// stays on c's main chain (it has then seen exactly the block sequence a
// chain started from scratch would see); when a reorg has moved c's main
// chain off the replay's tip, a fresh chain replays from genesis.
func (r *crashRun) replayDigest(t *testing.T, c *Chain) Hash {
	t.Helper()
	started := time.Now()
	defer func() { r.replayTime += time.Since(started) }()
	tip := c.Best()
	if r.replay != nil {
		rt := r.replay.Best()
		if h, ok := c.HashAtHeight(rt.Height); !ok || h != rt.Hash || rt.Height > tip.Height {
			r.closeReplay()
		}
	}
	if r.replay == nil {
		r.replayStore = memstore.New()
		fresh, err := New(Config{Params: RegtestParams(), Store: r.replayStore, Now: crashNow})
		if err != nil {
			t.Fatal(err)
		}
		r.replay = fresh
		r.replaysFromGenesis++
	}
	for h := r.replay.Height() + 1; h <= tip.Height; h++ {
		hash, ok := c.HashAtHeight(h)
		i, known := r.s.pos[hash]
		if !ok || !known {
			t.Fatalf("main chain block at height %d (%s) is not in the stream", h, hash)
		}
		if res, err := r.replay.ProcessBlock(r.s.blocks[i]); err != nil || res.Status != StatusConnected {
			t.Fatalf("replay of height %d: status %v, err %v", h, res.Status, err)
		}
	}
	if r.replay.Best().Hash != tip.Hash {
		t.Fatalf("replay ends at %s, not %s", r.replay.Best().Hash, tip.Hash)
	}
	return r.replay.Best().StateDigest
}

func (r *crashRun) closeReplay() {
	if r.replayStore != nil {
		_ = r.replayStore.Close()
	}
	r.replay, r.replayStore = nil, nil
}

// TestCrashRecovery: see the top of this file. QUARRY_CRASH_CYCLES
// overrides the default 50 kill cycles.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("running as the crash child")
	}
	cycles := crashDefaultCycles
	if v := os.Getenv(crashCyclesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive integer", crashCyclesEnv, v)
		}
		cycles = n
	}
	start := time.Now()
	s := newCrashStream(t, crashSeed)
	dir := t.TempDir()
	r := &crashRun{
		t: t, s: s,
		dataDir:    filepath.Join(dir, "chaindata"),
		streamPath: filepath.Join(dir, "stream.bin"),
		rng:        rand.New(rand.NewPCG(crashSeed, 2)),
	}
	t.Cleanup(r.closeReplay)
	for n := range cycles {
		r.cycle(n)
	}
	killedStored := r.next
	// A last child runs the rest of the stream to its end.
	r.prepareStream()
	ch := startCrashChild(t, r.dataDir, r.streamPath, s.seed, len(s.blocks))
	timeout := time.NewTimer(5 * crashCycleTimeout)
	defer timeout.Stop()
	for done := false; !done; {
		select {
		case line, ok := <-ch.lines:
			if !ok {
				t.Fatalf("final child exited without DONE (%v); stderr:\n%s", ch.reap(), ch.stderr.String())
			}
			_, done = r.handle(ch, line)
		case <-timeout.C:
			t.Fatalf("final child did not finish within %v", 5*crashCycleTimeout)
		}
	}
	if err := ch.reap(); err != nil {
		t.Fatalf("final child: %v; stderr:\n%s", err, ch.stderr.String())
	}
	ch.checkStderr(t)
	r.verify(cycles)
	if r.next != len(s.blocks) {
		t.Fatalf("final run: %d of %d stream blocks stored", r.next, len(s.blocks))
	}
	t.Logf("%d kill cycles (%d during startup, %d idle at the limit; New completed %d interrupted reorgs and connected %d stored blocks), zero mismatches; "+
		"stream %d blocks (%d stored before the final run), %d reorgs, final height %d; child startup ~%v, commit ~%v; "+
		"stream generation %v, verification %v of which replays %v (%d from genesis); total %v",
		cycles, r.startupKills, r.idleKills, r.midReorg, r.storedOnly, len(s.blocks), killedStored, s.reorgs, r.finalHeight, r.startupTime, r.commitTime,
		r.genTime, r.verifyTime, r.replayTime, r.replaysFromGenesis, time.Since(start))
}

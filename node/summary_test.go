package node

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// fakeStatus is a statusSource the test steers.
type fakeStatus struct {
	height, best uint64
	peers        []peer.ID
	mining       bool
	hps          float64
	txs, bytes   int
}

func (f *fakeStatus) Height() uint64                 { return f.height }
func (f *fakeStatus) Peers() ([]peer.ID, uint64)     { return f.peers, f.best }
func (f *fakeStatus) Mining() (bool, float64)        { return f.mining, f.hps }
func (f *fakeStatus) Mempool() (count int, size int) { return f.txs, f.bytes }

// logLines returns the records written since the last call, one per line,
// without the time attribute.
type logCapture struct{ buf bytes.Buffer }

func (c *logCapture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&c.buf, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{}
			}
			return a
		},
	}))
}

func (c *logCapture) take() []string {
	s := strings.TrimSpace(c.buf.String())
	c.buf.Reset()
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func testPeerID(t *testing.T, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	bootID  = "12D3KooWGRUVh8N2ZbXXsHJGjrJJy9r6mM3jjXWtgm3w4WWRyoWV"
	otherID = "12D3KooWHHzSeKaY8xuZVzkLbKFfvNgPPeKhFBGrMbNzbm5akpqu"
)

func TestStatusSummary(t *testing.T) {
	var logs logCapture
	src := &fakeStatus{height: 100, peers: []peer.ID{testPeerID(t, otherID)}, best: 100, mining: true, hps: 12345, txs: 3, bytes: 450}
	start := time.Unix(1_800_000_000, 0)
	r := newStatusReporter(src, logs.logger(), time.Minute, nil, start)

	// Nothing before the interval has passed.
	r.tick(start.Add(30 * time.Second))
	if got := logs.take(); got != nil {
		t.Fatalf("before the interval: %q", got)
	}
	for range 6 {
		r.connected()
	}
	src.height = 106
	src.best = 106
	r.tick(start.Add(time.Minute))
	want := `level=INFO msg=status height=106 peers=1 hashrate="12.3 kH/s" mempool_txs=3 mempool_bytes=450 new_blocks=6`
	if got := logs.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("summary:\n got %q\nwant %q", got, want)
	}

	// Far behind the best peer: a syncing line with progress and ETA
	// (3000 blocks left at 10 blocks/s is 5 minutes), and no per-block lines.
	src.mining = false
	src.best = 4106
	for range 600 {
		r.connected()
	}
	src.height = 1106
	r.tick(start.Add(2 * time.Minute))
	want = `level=INFO msg=syncing height=1106 peer_height=4106 progress=26.9% blocks_per_second=10.0 eta=5m0s peers=1 mempool_txs=3`
	if got := logs.take(); len(got) != 1 || got[0] != want {
		t.Fatalf("syncing:\n got %q\nwant %q", got, want)
	}
	if !r.quiet() {
		t.Fatal("per-block lines not suppressed while syncing")
	}
	// Caught up: one line at once, then the plain summary.
	src.height = 4106
	r.tick(start.Add(2*time.Minute + 5*time.Second))
	if got := logs.take(); len(got) != 1 || got[0] != "level=INFO msg=\"caught up with peers\" height=4106 peers=1" || r.quiet() {
		t.Fatalf("caught up: %q (quiet %v)", got, r.quiet())
	}
	r.tick(start.Add(3*time.Minute + 5*time.Second))
	if got := logs.take(); len(got) != 1 || !strings.HasPrefix(got[0], "level=INFO msg=status height=4106 peers=1 hashrate=off ") {
		t.Fatalf("after catching up: %q", got)
	}

	// A negative interval turns the summary off.
	off := newStatusReporter(src, logs.logger(), (&resolved{Config: Config{LogSummaryInterval: -1}}).summaryInterval(), nil, start)
	off.tick(start.Add(time.Hour))
	if got := logs.take(); got != nil {
		t.Fatalf("summary off: %q", got)
	}
	if d := (&resolved{}).summaryInterval(); d != DefaultSummaryInterval {
		t.Fatalf("default interval %v", d)
	}
}

func TestBootnodeWarning(t *testing.T) {
	var logs logCapture
	src := &fakeStatus{height: 1}
	start := time.Unix(1_800_000_000, 0)
	boot := "/ip4/127.0.0.1/tcp/1/p2p/" + bootID
	r := newStatusReporter(src, logs.logger(), 0, []string{boot}, start)

	// Within the first dial round: no warning yet.
	r.tick(start.Add(5 * time.Second))
	if got := logs.take(); got != nil {
		t.Fatalf("during the first round: %q", got)
	}
	// After it, with another peer but no bootnode: one warning, not repeated.
	src.peers = []peer.ID{testPeerID(t, otherID)}
	r.tick(start.Add(bootnodeGrace))
	got := logs.take()
	if len(got) != 1 || !strings.HasPrefix(got[0], "level=WARN msg=\"cannot reach any bootnode: ") ||
		!strings.Contains(got[0], "bootnodes="+bootID) || !strings.Contains(got[0], "peers=1") {
		t.Fatalf("warning: %q", got)
	}
	r.tick(start.Add(bootnodeGrace + 5*time.Second))
	if got := logs.take(); got != nil {
		t.Fatalf("warning repeated: %q", got)
	}
	// The bootnode connects: said once; it goes away again: warned again.
	src.peers = append(src.peers, testPeerID(t, bootID))
	r.tick(start.Add(bootnodeGrace + 10*time.Second))
	if got := logs.take(); len(got) != 1 || got[0] != "level=INFO msg=\"bootnode reached\" peers=2" {
		t.Fatalf("reached: %q", got)
	}
	src.peers = nil
	r.tick(start.Add(bootnodeGrace + 15*time.Second))
	if got := logs.take(); len(got) != 1 || !strings.Contains(got[0], "cannot reach any bootnode") {
		t.Fatalf("lost again: %q", got)
	}
	// Without bootnodes there is nothing to warn about.
	quiet := newStatusReporter(src, logs.logger(), 0, nil, start)
	quiet.tick(start.Add(time.Hour))
	if got := logs.take(); got != nil {
		t.Fatalf("no bootnodes: %q", got)
	}
}

func TestFormatHashRate(t *testing.T) {
	for hps, want := range map[float64]string{0: "0 H/s", 950: "950 H/s", 12345: "12.3 kH/s", 2.5e6: "2.5 MH/s", 7e12: "7.0 TH/s", 9e15: "9000.0 TH/s"} {
		if got := formatHashRate(hps); got != want {
			t.Errorf("formatHashRate(%v) = %q, want %q", hps, got, want)
		}
	}
}

package p2p

import (
	"bytes"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/quarrychain/quarry/chain"
)

func counterValue(tb testing.TB, c prometheus.Counter) float64 {
	tb.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestFrames(t *testing.T) {
	var buf bytes.Buffer
	if err := writeFrame(&buf, msgNotFound, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	typ, payload, err := readFrame(bytes.NewReader(buf.Bytes()), 4)
	if err != nil || typ != msgNotFound || string(payload) != "abc" {
		t.Fatalf("got %d %q %v", typ, payload, err)
	}
	if _, _, err := readFrame(bytes.NewReader(buf.Bytes()), 3); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("cap: %v", err)
	}
	if _, _, err := readFrame(bytes.NewReader([]byte{0, 0, 0, 0}), 3); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty frame: %v", err)
	}
	if _, _, err := readFrame(bytes.NewReader(buf.Bytes()[:5]), 10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
	if _, _, err := readFrame(bytes.NewReader(nil), 10); !errors.Is(err, io.EOF) {
		t.Fatalf("clean end: %v", err)
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	p := chain.RegtestParams()
	st := Status{Version: 1, Genesis: p.GenesisHash, Tip: chain.DoubleSHA256([]byte("t")), Height: 42, ChainWork: big.NewInt(123456)}
	got, err := decodeStatus(encodeStatus(st))
	if err != nil || got.Genesis != st.Genesis || got.Tip != st.Tip || got.Height != 42 || got.ChainWork.Cmp(st.ChainWork) != 0 {
		t.Fatalf("status %+v %v", got, err)
	}
	zero, err := decodeStatus(encodeStatus(Status{}))
	if err != nil || zero.ChainWork.Sign() != 0 {
		t.Fatalf("zero status %v", err)
	}
	bad := encodeStatus(st)
	bad[76]++ // work length
	if _, err := decodeStatus(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad work length: %v", err)
	}
	nonMinimal := append(encodeStatus(Status{})[:76], 2, 0, 1)
	if _, err := decodeStatus(nonMinimal); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-minimal work: %v", err)
	}

	gh := getHeaders{Locator: []chain.Hash{st.Tip, p.GenesisHash}, Stop: st.Tip, Max: 2000}
	gotGH, err := decodeGetHeaders(encodeGetHeaders(gh))
	if err != nil || len(gotGH.Locator) != 2 || gotGH.Locator[1] != p.GenesisHash || gotGH.Stop != st.Tip || gotGH.Max != 2000 {
		t.Fatalf("getheaders %+v %v", gotGH, err)
	}
	for _, g := range []getHeaders{{Max: 1}, {Locator: gh.Locator, Max: 0}, {Locator: gh.Locator, Max: 2001}} {
		if _, err := decodeGetHeaders(encodeGetHeaders(g)); err == nil {
			t.Errorf("accepted %+v", g)
		}
	}
	hdrs := []chain.Header{p.GenesisBlock.Header, p.GenesisBlock.Header}
	gotH, err := decodeHeaders(encodeHeaders(hdrs))
	if err != nil || len(gotH) != 2 || gotH[1] != hdrs[1] {
		t.Fatalf("headers %v", err)
	}
	if _, err := decodeHeaders(encodeHeaders(hdrs)[:100]); err == nil {
		t.Fatal("truncated headers accepted")
	}
	hs := []chain.Hash{st.Tip, p.GenesisHash}
	gotB, err := decodeGetBlocks(encodeHashes(hs))
	if err != nil || len(gotB) != 2 || gotB[0] != st.Tip {
		t.Fatalf("getblocks %v", err)
	}
	if _, err := decodeGetBlocks(encodeHashes(make([]chain.Hash, MaxBlocksPerRequest+1))); err == nil {
		t.Fatal("too many hashes accepted")
	}
	if _, err := decodeGetBlocks(encodeHashes(nil)); err == nil {
		t.Fatal("empty getblocks accepted")
	}
	if frame := 1 + len(encodeHeaders(make([]chain.Header, MaxHeadersPerReply))); frame != maxHeadersFrame {
		t.Fatalf("a full headers reply is %d bytes, cap %d", frame, maxHeadersFrame)
	}
	if frame := 1 + len(encodeGetHeaders(getHeaders{Locator: make([]chain.Hash, maxLocator), Max: 1})); frame > maxRequestFrame {
		t.Fatalf("a full getheaders is %d bytes, cap %d", frame, maxRequestFrame)
	}
}

// FuzzWireDecoders feeds arbitrary bytes to every decoder of untrusted
// sync-protocol input: none may panic, and whatever decodes re-encodes to
// the same bytes (the encoding is canonical).
func FuzzWireDecoders(f *testing.F) {
	p := chain.RegtestParams()
	f.Add(encodeStatus(Status{Version: 1, Genesis: p.GenesisHash, Height: 7, ChainWork: big.NewInt(99)}))
	f.Add(encodeGetHeaders(getHeaders{Locator: []chain.Hash{p.GenesisHash}, Max: 10}))
	f.Add(encodeHeaders([]chain.Header{p.GenesisBlock.Header}))
	f.Add(encodeHashes([]chain.Hash{p.GenesisHash}))
	f.Add([]byte{0, 0, 0, 2, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := decodeStatus(b); err == nil && !bytes.Equal(encodeStatus(st), b) {
			t.Fatalf("status not canonical: %x", b)
		}
		if gh, err := decodeGetHeaders(b); err == nil && !bytes.Equal(encodeGetHeaders(gh), b) {
			t.Fatalf("getheaders not canonical: %x", b)
		}
		if hs, err := decodeHeaders(b); err == nil && !bytes.Equal(encodeHeaders(hs), b) {
			t.Fatalf("headers not canonical: %x", b)
		}
		if hs, err := decodeGetBlocks(b); err == nil && !bytes.Equal(encodeHashes(hs), b) {
			t.Fatalf("getblocks not canonical: %x", b)
		}
		_, _ = decodeNotFound(b)
		r := bytes.NewReader(b)
		for {
			if _, _, err := readFrame(r, 1<<16); err != nil {
				break
			}
		}
	})
}

func TestGater(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	g := newGater(func() time.Time { return now }, nil)
	k, _, _ := crypto.GenerateEd25519Key(nil)
	id, _ := peer.IDFromPrivateKey(k)
	if !g.allowed(id) || !g.InterceptPeerDial(id) {
		t.Fatal("fresh peer refused")
	}
	if !g.ban(id, time.Minute, "x") || g.ban(id, time.Second, "y") {
		t.Fatal("ban should be fresh once")
	}
	if g.InterceptPeerDial(id) || g.InterceptSecured(0, id, nil) || g.InterceptAddrDial(id, nil) {
		t.Fatal("banned peer allowed")
	}
	if b := g.listBans(); len(b) != 1 || !b[0].Until.Equal(now.Add(time.Minute)) {
		t.Fatalf("a shorter ban must not shorten the old one: %+v", b)
	}
	now = now.Add(time.Minute)
	if !g.allowed(id) || len(g.listBans()) != 0 {
		t.Fatal("ban did not expire")
	}
	g.partition([]peer.ID{id})
	if g.allowed(id) || !g.isPartitioned(id) {
		t.Fatal("partitioned peer allowed")
	}
	if healed := g.heal(); len(healed) != 1 || !g.allowed(id) {
		t.Fatal("heal")
	}
	g.setActive(false)
	if g.InterceptAccept(nil) || g.allowed(id) {
		t.Fatal("inactive gater allowed a connection")
	}
	g.setActive(true)
	if !g.InterceptAccept(nil) {
		t.Fatal("active gater refused")
	}
}

func TestBackoff(t *testing.T) {
	lo, hi := time.Second, 10*time.Second
	want := []time.Duration{0, 1, 2, 4, 8, 10, 10}
	for f, w := range want {
		if got := backoff(f, lo, hi); got != w*time.Second {
			t.Errorf("backoff(%d) = %v, want %v", f, got, w*time.Second)
		}
	}
}

func TestClassifyBlockErr(t *testing.T) {
	cases := map[error]blockClass{
		nil: blockOK,
		&chain.RuleError{Kind: chain.ErrDuplicateBlock}:  blockDuplicate,
		&chain.RuleError{Kind: chain.ErrUnknownParent}:   blockUnknownParent,
		&chain.RuleError{Kind: chain.ErrTimeTooNew}:      blockTransient,
		&chain.RuleError{Kind: chain.ErrKnownInvalid}:    blockTransient,
		&chain.RuleError{Kind: chain.ErrInvalidAncestor}: blockTransient,
		&chain.RuleError{Kind: chain.ErrBadMerkleRoot}:   blockInvalid,
		&chain.RuleError{Kind: chain.ErrBadSignature}:    blockInvalid,
		&chain.RuleError{Kind: chain.ErrHighHash}:        blockInvalid,
		errors.New("disk full"):                          blockTransient,
	}
	for err, want := range cases {
		if got := classifyBlockErr(err); got != want {
			t.Errorf("classify(%v) = %d, want %d", err, got, want)
		}
	}
}

func TestListenAddrs(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:7733": "/ip4/127.0.0.1/tcp/7733 /ip4/127.0.0.1/udp/7733/quic-v1",
		":7733":          "/ip4/0.0.0.0/tcp/7733 /ip4/0.0.0.0/udp/7733/quic-v1",
		"[::1]:0":        "/ip6/::1/tcp/0 /ip6/::1/udp/0/quic-v1",
	} {
		got, err := listenAddrs(in)
		if err != nil || got[0].String()+" "+got[1].String() != want {
			t.Errorf("listenAddrs(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "1.2.3.4", "host:1", "1.2.3.4:99999"} {
		if _, err := listenAddrs(bad); !errors.Is(err, ErrBadConfig) {
			t.Errorf("listenAddrs(%q): %v", bad, err)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.gossipReceived.WithLabelValues(topicBlocks, resultAccept).Inc()
	m.gossipPublished.WithLabelValues(topicBlocks, resultOK).Inc()
	m.syncRequests.WithLabelValues(kindHeaders, resultOK).Inc()
	m.served.WithLabelValues(kindBlocks, resultOK).Inc()
	m.syncs.WithLabelValues(resultOK).Inc()
	m.penalties.WithLabelValues(reasonMalformed).Inc()
	m.dials.WithLabelValues(resultOK).Inc()
	m.refused.WithLabelValues(refusedBanned).Inc()
	problems, err := testutil.GatherAndLint(reg)
	if err != nil || len(problems) != 0 {
		t.Fatalf("lint: %v %+v", err, problems)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "quarry_p2p_") {
			t.Errorf("metric %s outside quarry_p2p_", mf.GetName())
		}
	}
	if _, err := newMetrics(reg); err == nil {
		t.Fatal("double registration not reported")
	}
}

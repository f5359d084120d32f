package stratum

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner"
)

// fakeChain is a ChainView whose tip the benchmark moves.
type fakeChain struct {
	p   *chain.Params
	tip atomic.Pointer[chain.Snapshot]
}

func (f *fakeChain) Params() *chain.Params { return f.p }
func (f *fakeChain) Best() chain.Snapshot  { return *f.tip.Load() }

func (f *fakeChain) setTip(i int, bits uint32) {
	s := chain.Snapshot{Hash: chain.DoubleSHA256([]byte(fmt.Sprint("tip", i))), Height: uint64(100 + i),
		MedianTime: time.Now().Unix() - 600, NextBits: bits}
	f.tip.Store(&s)
}

// fakeTemplates builds templates on the fake tip with a few transactions'
// worth of branch.
type fakeTemplates struct{ c *fakeChain }

func (f fakeTemplates) BuildTemplateFor(now time.Time, payTo chain.Address) (*miner.Template, error) {
	return miner.NewTemplate(miner.TemplateSpec{Params: f.c.p, Tip: f.c.Best(), PayTo: payTo, Now: now})
}

func benchServer(tb testing.TB, bits uint32, mod func(*Config)) (*Server, *fakeChain) {
	tb.Helper()
	fc := &fakeChain{p: chain.MainParams()}
	fc.setTip(0, bits)
	cfg := Config{
		ListenAddr: "127.0.0.1:0", Chain: fc, Templates: fakeTemplates{fc},
		Submitter:    miner.SubmitterFunc(func(*chain.Block) error { return nil }),
		PollInterval: time.Hour, RefreshInterval: time.Hour,
		MaxConns: 4096, MaxSubmitRate: 1e12,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s, fc
}

// BenchmarkShareValidation measures one mining.submit line end to end on
// one goroutine: JSON decoding, job lookup, parameter checks, the
// coinbase hash and merkle path, the header hash, the duplicate set, the
// target comparison, accounting and the response line. Every share is
// accepted (share difficulty at the floor) and none is a block (main
// network target). shares/s is per wall second of one goroutine;
// shares/cpu-s divides by the CPU time the process actually received
// (garbage collection included), which is the per-core figure on a shared
// machine.
func BenchmarkShareValidation(b *testing.B) {
	for _, branch := range []int{0, 10} {
		b.Run(fmt.Sprintf("branch=%d", branch), func(b *testing.B) {
			s, _ := benchServer(b, 0x1d00ffff, func(c *Config) { c.MinDifficulty = 1e-12; c.InitialDifficulty = 1e-12 })
			t, err := s.cfg.Templates.BuildTemplateFor(time.Now(), placeholderPayTo)
			if err != nil {
				b.Fatal(err)
			}
			t.Branch = make([]chain.Hash, branch) // a block of ~2^branch transactions
			s.epoch.Store(&epoch{seq: 1, tmpl: t, clean: true, noticed: time.Now()})
			a, bconn := net.Pipe()
			defer a.Close()
			defer bconn.Close()
			c := s.newConn(a)
			c.subscribed, c.authorized, c.payTo = true, true, placeholderPayTo
			c.workers["w"] = &workerStats{name: "w", rate: rateWindow{start: time.Now()}}
			if buf, _ := c.work(nil); len(buf) == 0 {
				b.Fatal("no job")
			}
			var jobID string
			for id := range c.jobs {
				jobID = id
			}
			ntime := Uint32Hex(t.Block.Header.Timestamp)
			lines := make([][]byte, 4096)
			for i := range lines {
				lines[i] = []byte(fmt.Sprintf(`{"id":%d,"method":"mining.submit","params":["w","%s","%08x","%s","%08x"]}`, i, jobID, i/256, ntime, i))
			}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPUTime()
			for i := 0; i < b.N; i++ {
				if i%len(lines) == 0 && i > 0 {
					clear(c.seen) // a fresh tip: the same lines are new shares again
				}
				var req Request
				if err := json.Unmarshal(lines[i%len(lines)], &req); err != nil {
					b.Fatal(err)
				}
				resp, _, drop := c.handle(ctx, &req)
				if drop != "" || !bytes.Contains(resp, []byte(`"result":true`)) {
					b.Fatalf("share %d: %s", i, resp)
				}
			}
			cpu := processCPUTime() - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "shares/s")
			if cpu0 >= 0 && cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "shares/cpu-s")
			}
		})
	}
}

// BenchmarkNotifyFanout measures the time from a new tip (TipChanged) to
// the arrival of its mining.notify (clean_jobs true) at each of 1,000
// TCP connections, over loopback. It reports the median and 99th
// percentile over all connections and tips; every connection pays the
// same address ("same") or its own ("distinct": one job derivation per
// connection).
func BenchmarkNotifyFanout(b *testing.B) {
	for _, distinct := range []bool{false, true} {
		name := "same-address"
		if distinct {
			name = "distinct-addresses"
		}
		b.Run(name, func(b *testing.B) { benchFanout(b, 1000, distinct) })
	}
	b.Run("server-side", func(b *testing.B) { benchFanoutServer(b, 1000) })
	b.Run("server-side-100", func(b *testing.B) { benchFanoutServer(b, 100) })
}

// benchFanoutServer measures the server's part alone: the clients never
// read (the socket buffers hold every job of the run), and the latency of
// a connection is from TipChanged to the return of the write of its
// notify. all-ms is the median over tips of the time until the last of
// the 1,000 connections was written.
func benchFanoutServer(b *testing.B, n int) {
	if b.N > 50 {
		b.Skip("the unread socket buffers hold about 50 jobs; run with -benchtime 20x")
	}
	s, fc := benchServer(b, 0x1d00ffff, func(c *Config) { c.PayTo = chain.Address{0: 9} })
	var start atomic.Int64
	var count atomic.Int64
	lat := make([]time.Duration, (b.N+1)*n)
	all := make(chan struct{}, 1)
	s.onNotify = func() {
		k := count.Add(1)
		lat[k-1] = time.Duration(time.Now().UnixNano() - start.Load())
		if k%int64(n) == 0 {
			all <- struct{}{}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-s.Ready()
	start.Store(time.Now().UnixNano())
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer nc.Close()
		conns[i] = nc
		if _, err := fmt.Fprint(nc, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"any\",\"\"]}\n"); err != nil {
			b.Fatal(err)
		}
	}
	waitAll := func(what string) {
		select {
		case <-all:
		case <-time.After(30 * time.Second):
			b.Fatalf("%s: only %d notifies written", what, count.Load())
		}
	}
	waitAll("first jobs")
	var tips []time.Duration
	b.ResetTimer()
	cpu0 := processCPUTime()
	for i := 1; i <= b.N; i++ {
		fc.setTip(i, 0x1d00ffff)
		t0 := time.Now()
		start.Store(t0.UnixNano())
		s.TipChanged()
		waitAll(fmt.Sprint("tip ", i))
		tips = append(tips, time.Since(t0))
	}
	b.StopTimer()
	if cpu := processCPUTime() - cpu0; cpu0 >= 0 && cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/tip")
	}
	per := append([]time.Duration(nil), lat[n:count.Load()]...)
	sort.Slice(per, func(i, j int) bool { return per[i] < per[j] })
	sort.Slice(tips, func(i, j int) bool { return tips[i] < tips[j] })
	if len(per) > 0 {
		b.ReportMetric(float64(per[len(per)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(per[len(per)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(tips[len(tips)/2].Microseconds())/1000, "all-ms")
	}
}

func benchFanout(b *testing.B, n int, distinct bool) {
	s, fc := benchServer(b, 0x1d00ffff, func(c *Config) { c.PayTo = chain.Address{0: 9} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-s.Ready()

	var mu sync.Mutex
	var lat []time.Duration
	var start atomic.Int64 // UnixNano of the current TipChanged
	got := make(chan struct{}, n)
	var wg sync.WaitGroup
	conns := make([]net.Conn, n)
	for i := range conns {
		nc, err := net.Dial("tcp", s.Addr())
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = nc
		user := "anyname"
		var payTo chain.Address
		if distinct {
			payTo[0], payTo[1] = byte(i), byte(i>>8)
			payTo[19] = 7
			user = payTo.Encode(fc.p)
		}
		if _, err := fmt.Fprintf(nc, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[%q,\"\"]}\n", user); err != nil {
			b.Fatal(err)
		}
		ready := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(nc)
			first := true
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if !bytes.Contains(line, []byte(`"method":"mining.notify"`)) {
					continue
				}
				if first {
					first = false
					close(ready)
					continue
				}
				if bytes.HasSuffix(line, []byte("true]}\n")) {
					d := time.Duration(time.Now().UnixNano() - start.Load())
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
					got <- struct{}{}
				}
			}
		}()
		<-ready
	}
	b.ResetTimer()
	cpu0 := processCPUTime()
	for i := 1; i <= b.N; i++ {
		fc.setTip(i, 0x1d00ffff)
		start.Store(time.Now().UnixNano())
		s.TipChanged()
		for k := 0; k < n; k++ {
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				b.Fatalf("tip %d: only %d of %d connections got the job", i, k, n)
			}
		}
	}
	b.StopTimer()
	if cpu := processCPUTime() - cpu0; cpu0 >= 0 && cpu > 0 {
		// Both ends run in this process: the server's writes and the
		// clients' reads (about half each).
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/tip")
	}
	for _, nc := range conns {
		_ = nc.Close()
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
}

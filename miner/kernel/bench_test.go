package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"
)

// BenchmarkKernel measures each available kernel; one op = one Search of
// 64 Ki nonces with an impossible target. "/1" is one goroutine; "/par"
// runs GOMAXPROCS goroutines on disjoint ranges (nonces/s is the total).
func BenchmarkKernel(b *testing.B) {
	job := genesisJob()
	job.Target = [32]byte{}
	p := Prepare(&job)
	for _, k := range Available() {
		b.Run(k.Name()+"/1", func(b *testing.B) {
			nonce := uint32(0)
			for b.Loop() {
				k.Search(p, nonce, benchChunk)
				nonce += benchChunk
			}
			b.ReportMetric(float64(b.N)*benchChunk/b.Elapsed().Seconds(), "nonces/s")
		})
		b.Run(k.Name()+"/par", func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				nonce := uint32(time.Now().UnixNano())
				for pb.Next() {
					k.Search(p, nonce, benchChunk)
					nonce += benchChunk
				}
			})
			b.ReportMetric(float64(b.N)*benchChunk/b.Elapsed().Seconds(), "nonces/s")
		})
	}
}

// BenchmarkStdlibCompression measures crypto/sha256's compression rate the
// way RunBench does: 4 KiB Writes (64 blocks) into one hash.
func BenchmarkStdlibCompression(b *testing.B) {
	var buf [4096]byte
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		h.Write(buf[:])
	}
	b.ReportMetric(float64(b.N)*float64(len(buf)/64)/b.Elapsed().Seconds(), "compressions/s")
}

func TestRunBench(t *testing.T) {
	rep, err := RunBench(context.Background(), BenchConfig{Duration: 20 * time.Millisecond, MaxThreads: 2, Kernels: []string{"generic"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.CompressionsPerSec <= 0 || rep.BoundPerCore != rep.CompressionsPerSec/2 || len(rep.Results) != 2 {
		t.Fatalf("bad report %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Kernel != "generic" || r.NoncesPerSec <= 0 || r.PerCore <= 0 || r.RatioToBound <= 0 {
			t.Fatalf("bad result %+v", r)
		}
	}
	var buf bytes.Buffer
	rep.WriteText(&buf)
	if !strings.Contains(buf.String(), "generic") {
		t.Fatalf("table lacks the kernel:\n%s", buf.String())
	}
	if _, err := RunBench(context.Background(), BenchConfig{Kernels: []string{"nope"}}, nil); err == nil {
		t.Fatal("unknown kernel accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := RunBench(ctx, BenchConfig{Duration: time.Second}, nil); err == nil {
		t.Fatal("cancelled context not reported")
	}
}

// TestMeasure runs the full RunBench and prints the table. It is opt-in:
//
//	QUARRY_KERNEL_BENCH=3s go test -run TestMeasure -v ./miner/kernel/
func TestMeasure(t *testing.T) {
	ds := os.Getenv("QUARRY_KERNEL_BENCH")
	if ds == "" {
		t.Skip("set QUARRY_KERNEL_BENCH=<duration> to measure")
	}
	d, err := time.ParseDuration(ds)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunBench(context.Background(), BenchConfig{Duration: d}, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	rep.WriteText(&buf)
	t.Log("\n" + buf.String())
}

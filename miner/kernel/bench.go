package kernel

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// BenchConfig configures RunBench.
type BenchConfig struct {
	Duration   time.Duration // per measurement; 0 means 3s
	MaxThreads int           // 0 means runtime.GOMAXPROCS(0)
	Kernels    []string      // empty = all available
}

// BenchResult is one kernel at one thread count.
type BenchResult struct {
	Kernel       string  `json:"kernel"`
	Threads      int     `json:"threads"`
	NoncesPerSec float64 `json:"nonces_per_sec"`
	PerCore      float64 `json:"per_core"`
	Scaling      float64 `json:"scaling"`        // vs 1 thread of the same kernel
	RatioToBound float64 `json:"ratio_to_bound"` // PerCore / BoundPerCore
	// CPUPerCore is nonces per second of CPU time the worker threads
	// actually received (0 where thread CPU time is unavailable); on a
	// machine shared with other work it is the per-core speed that
	// PerCore would show on an idle one. CPURatioToBound compares it with
	// the stdlib rate measured the same way.
	CPUPerCore      float64 `json:"cpu_per_core"`
	CPURatioToBound float64 `json:"cpu_ratio_to_bound"`
}

// BenchReport is the outcome of RunBench.
type BenchReport struct {
	CPU       string `json:"cpu"`
	GoVersion string `json:"go_version"`
	// CompressionsPerSec is the stdlib (crypto/sha256) SHA-256 compression
	// rate on one core, measured in this run by writing 4 KiB buffers (64
	// blocks per Write call) into one sha256.New() hash in a tight loop.
	CompressionsPerSec float64 `json:"compressions_per_sec"`
	// BoundPerCore = CompressionsPerSec / 2: the rate of a design that
	// hashes one nonce at a time (two compressions per nonce with a
	// midstate) on the stdlib's block function.
	BoundPerCore float64 `json:"bound_per_core"`
	// CompressionsPerCPUSec is the same stdlib rate per second of thread
	// CPU time (0 if unavailable).
	CompressionsPerCPUSec float64       `json:"compressions_per_cpu_sec"`
	Results               []BenchResult `json:"results"`
}

// benchChunk is how many nonces a bench worker searches per Search call
// (the miner's batch size between new-work checks).
const benchChunk = 1 << 16

// paddedCounter keeps each worker's count on its own cache line.
type paddedCounter struct {
	n   uint64
	cpu time.Duration
	_   [48]byte
}

// RunBench measures the stdlib compression rate and then each selected
// kernel on 1..MaxThreads threads. Each thread searches its own disjoint
// nonce range (thread t starts at t<<28) of the genesis header with an
// all-zero target, which no hash meets in practice (a hit would be
// ignored and the search would go on), counting its tried nonces in its
// own cache-line-padded counter. progress, if not nil, receives a line per
// measurement.
func RunBench(ctx context.Context, cfg BenchConfig, progress func(string)) (BenchReport, error) {
	if cfg.Duration <= 0 {
		cfg.Duration = 3 * time.Second
	}
	if cfg.MaxThreads <= 0 {
		cfg.MaxThreads = runtime.GOMAXPROCS(0)
	}
	if progress == nil {
		progress = func(string) {}
	}
	var kernels []Kernel
	if len(cfg.Kernels) == 0 {
		kernels = Available()
	} else {
		for _, name := range cfg.Kernels {
			k, ok := ByName(name)
			if !ok {
				return BenchReport{}, fmt.Errorf("kernel %q not available on this CPU (have %s)", name, kernelNames())
			}
			kernels = append(kernels, k)
		}
	}
	rep := BenchReport{CPU: cpuName(), GoVersion: runtime.Version()}

	cps, cpuCps, err := measureCompressions(ctx, cfg.Duration)
	if err != nil {
		return rep, err
	}
	rep.CompressionsPerSec = cps
	rep.BoundPerCore = cps / 2
	rep.CompressionsPerCPUSec = cpuCps
	progress(fmt.Sprintf("stdlib SHA-256: %.2f M compressions/s per core (%.2f per CPU-second); bound %.2f M nonces/s per core", cps/1e6, cpuCps/1e6, cps/2e6))

	job := genesisJob()
	job.Target = [32]byte{}
	p := Prepare(&job)
	for _, k := range kernels {
		var one float64
		for th := 1; th <= cfg.MaxThreads; th++ {
			rate, cpuRate, err := measureKernel(ctx, k, p, th, cfg.Duration)
			if err != nil {
				return rep, err
			}
			if th == 1 {
				one = rate
			}
			r := BenchResult{Kernel: k.Name(), Threads: th, NoncesPerSec: rate, PerCore: rate / float64(th)}
			if one > 0 {
				r.Scaling = rate / one
			}
			if rep.BoundPerCore > 0 {
				r.RatioToBound = r.PerCore / rep.BoundPerCore
			}
			r.CPUPerCore = cpuRate
			if rep.CompressionsPerCPUSec > 0 {
				r.CPURatioToBound = cpuRate / (rep.CompressionsPerCPUSec / 2)
			}
			rep.Results = append(rep.Results, r)
			progress(fmt.Sprintf("%-8s %d thread(s): %.2f M nonces/s (%.2f per core, %.2fx bound)", k.Name(), th, rate/1e6, r.PerCore/1e6, r.RatioToBound))
		}
	}
	return rep, nil
}

func kernelNames() string {
	var names []string
	for _, k := range Available() {
		names = append(names, k.Name())
	}
	return strings.Join(names, ", ")
}

// measureCompressions returns crypto/sha256 compressions per second on one
// core, per wall-clock second and per second of thread CPU time: 4 KiB
// Writes (64 blocks each) into one hash for about d.
func measureCompressions(ctx context.Context, d time.Duration) (float64, float64, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var buf [4096]byte
	h := sha256.New()
	blocks := 0
	cpu0 := threadCPUTime()
	start := time.Now()
	deadline := start.Add(d)
	for i := 0; ; i++ {
		for k := 0; k < 16; k++ {
			h.Write(buf[:])
		}
		blocks += 16 * len(buf) / 64
		if now := time.Now(); now.After(deadline) {
			h.Sum(buf[:0])
			var perCPU float64
			if cpu1 := threadCPUTime(); cpu0 >= 0 && cpu1 > cpu0 {
				perCPU = float64(blocks) / (cpu1 - cpu0).Seconds()
			}
			return float64(blocks) / now.Sub(start).Seconds(), perCPU, nil
		}
		if i%64 == 0 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
	}
}

// measureKernel runs k on `threads` goroutines (each locked to an OS
// thread) for about d and returns total nonces per wall-clock second and
// nonces per second of the workers' summed thread CPU time (0 if
// unavailable).
func measureKernel(ctx context.Context, k Kernel, p *Prepared, threads int, d time.Duration) (float64, float64, error) {
	counters := make([]paddedCounter, threads)
	var ready, done sync.WaitGroup
	startCh := make(chan struct{})
	var deadline time.Time
	ready.Add(threads)
	done.Add(threads)
	for t := 0; t < threads; t++ {
		go func(t int) {
			defer done.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := &counters[t]
			nonce := uint32(t) << 28
			ready.Done()
			<-startCh
			cpu0 := threadCPUTime()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				_, _, tried := k.Search(p, nonce, benchChunk)
				c.n += tried
				nonce += uint32(tried)
			}
			if cpu1 := threadCPUTime(); cpu0 >= 0 && cpu1 > cpu0 {
				c.cpu = cpu1 - cpu0
			} else {
				c.cpu = -1
			}
		}(t)
	}
	ready.Wait()
	start := time.Now()
	deadline = start.Add(d)
	close(startCh)
	done.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return 0, 0, err
	}
	var total uint64
	var cpu time.Duration
	for i := range counters {
		total += counters[i].n
		if counters[i].cpu < 0 || cpu < 0 {
			cpu = -1
		} else {
			cpu += counters[i].cpu
		}
	}
	var perCPU float64
	if cpu > 0 {
		perCPU = float64(total) / cpu.Seconds()
	}
	return float64(total) / elapsed.Seconds(), perCPU, nil
}

// cpuName returns the CPU model (Linux /proc/cpuinfo) or the GOARCH.
func cpuName() string {
	name := runtime.GOARCH
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				name = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs, kernels: %s", name, runtime.NumCPU(), kernelNames())
}

// WriteText writes the report as a readable table.
func (r BenchReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "CPU:        %s\n", r.CPU)
	fmt.Fprintf(w, "Go:         %s\n", r.GoVersion)
	fmt.Fprintf(w, "stdlib:     %.2f M SHA-256 compressions/s per core\n", r.CompressionsPerSec/1e6)
	fmt.Fprintf(w, "bound:      %.2f M nonces/s per core (one nonce at a time = compressions/2)\n", r.BoundPerCore/1e6)
	fmt.Fprintf(w, "per CPU-s:  %.2f M compressions per second of thread CPU time (bound %.2f)\n\n", r.CompressionsPerCPUSec/1e6, r.CompressionsPerCPUSec/2e6)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kernel\tthreads\tM nonces/s\tper core\tscaling\tx bound\tper CPU-s\tx bound (CPU)\t")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2fx\t%.2f\t%.2f\t%.2f\t\n", res.Kernel, res.Threads, res.NoncesPerSec/1e6, res.PerCore/1e6, res.Scaling, res.RatioToBound, res.CPUPerCore/1e6, res.CPURatioToBound)
	}
	_ = tw.Flush() // a report on a terminal: a failed write has nowhere to go
}

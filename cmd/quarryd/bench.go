package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/quarrychain/quarry/miner/kernel"
)

// runBench implements `quarryd bench`: every available kernel on 1..N
// threads, next to the single-stream bound measured in the same run.
func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quarryd bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 5*time.Second, "measuring time per kernel and thread count")
	threads := fs.Int("threads", runtime.NumCPU(), "maximum number of threads")
	kernels := fs.String("kernels", "", "comma-separated kernels to run (default: all this CPU supports)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of a table")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: quarryd bench [flags]\n\nMeasures each SHA-256d kernel on 1..N threads and the single-stream bound\n(stdlib SHA-256 compressions per second / 2) in the same run.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *duration <= 0 || *threads <= 0 {
		fmt.Fprintln(stderr, "quarryd bench: --duration and --threads must be positive")
		return 2
	}
	cfg := kernel.BenchConfig{Duration: *duration, MaxThreads: *threads}
	if *kernels != "" {
		cfg.Kernels = strings.Split(*kernels, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	progress := func(s string) { fmt.Fprintln(stderr, s) }
	rep, err := kernel.RunBench(ctx, cfg, progress)
	if err != nil {
		fmt.Fprintf(stderr, "quarryd bench: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "quarryd bench: %v\n", err)
			return 1
		}
		return 0
	}
	rep.WriteText(stdout)
	return 0
}

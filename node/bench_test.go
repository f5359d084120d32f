package node

import (
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit"
)

// BenchmarkRPCWhileMining reports the latency of getblockcount over loopback
// RPC on a dev node that mines on every core, next to the same node idle in
// the same run: the number the issue asks for ("stays responsive").
//
//	go test -run XXX -bench RPCWhileMining -benchtime 2000x ./node/
func BenchmarkRPCWhileMining(b *testing.B) {
	// quarryd runs with one P more than there are cores (see ReserveRPCProc).
	defer runtime.GOMAXPROCS(ReserveRPCProc())
	for _, mining := range []bool{false, true} {
		name := "idle"
		if mining {
			name = "mining-all-cores"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Config{
				Network: "dev", DataDir: b.TempDir(), P2PListen: "127.0.0.1:0", NoMDNS: true,
				RPCListen: "127.0.0.1:0", Mine: mining, MinerThreads: runtime.NumCPU(),
				Logger: discardLogger(),
			}
			n, _ := startNode(b, cfg)
			ctx := testkit.Context(b, time.Minute)
			cl := rpcClient(b, n) // one client: the loop times the call alone
			lat := make([]time.Duration, 0, b.N)
			start := n.Chain().Height()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				var h uint64
				if err := cl.Call(ctx, "getblockcount", nil, &h); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(n.Chain().Height()-start), "blocks-found")
		})
	}
}

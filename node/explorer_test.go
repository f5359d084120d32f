package node

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit/browser"
)

// startExplorerNode starts a regtest node without a metrics listener and
// returns it and the address of its explorer page.
func startExplorerNode(t testing.TB) (*Node, string) {
	t.Helper()
	cfg := testConfig(t)
	cfg.MetricsListen = ""
	n, _ := startNode(t, cfg)
	return n, "http://" + n.RPCAddr() + "/explorer/"
}

// TestExplorerInBrowser opens the node's explorer page in headless Chromium
// and checks from the DOM that it shows blocks, chain tips and peers, that a
// newly mined block appears without a reload, and that paging works.
func TestExplorerInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped with -short")
	}
	page := browser.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	a, url := startExplorerNode(t)
	b, _ := startExplorerNode(t)
	bID := addNode(ctx, t, a, b)
	var addr string
	rpcMust(ctx, t, a, "getnewaddress", &addr)
	var hashes []string
	rpcMust(ctx, t, a, "generatetoaddress", &hashes, 25, addr)

	const wait = 30 * time.Second
	page.Open(url)
	page.WaitJS(wait, "the explorer loaded", `window.quarryExplorer && window.quarryExplorer.ready`)
	page.WaitJS(wait, "height 25", `document.getElementById("height").textContent === "25"`)
	page.WaitJS(wait, "20 block rows", `document.querySelectorAll("#blocks tbody tr").length === 20`)
	page.WaitJS(wait, "the tip as the first row", fmt.Sprintf(`document.querySelector("#blocks tbody tr").dataset.hash === %q`, hashes[len(hashes)-1]))
	page.WaitJS(wait, "an active chain tip", `document.querySelector("#tips tbody tr[data-status=active]") !== null`)
	page.WaitJS(wait, "the peer", fmt.Sprintf(`document.querySelector("#peers tbody tr[data-peer='%s']") !== null`, bID))
	page.WaitJS(wait, "the network name", `document.getElementById("network").textContent === "regtest"`)

	// A block mined now appears at the top without a reload.
	rpcMust(ctx, t, a, "generatetoaddress", &hashes, 1, addr)
	page.WaitJS(wait, "the new block", fmt.Sprintf(`document.querySelector("#blocks tbody tr").dataset.hash === %q`, hashes[0]))
	page.SaveScreenshot(os.Getenv("QUARRY_SCREENSHOTS"), "explorer.png")

	// Paging back shows older heights and stops following the tip; newer
	// returns to the tip.
	page.Click("#older")
	page.WaitJS(wait, "older blocks", `document.querySelector("#blocks tbody tr").dataset.height === "19"`)
	page.Click("#newer")
	page.WaitJS(wait, "the tip again", `document.querySelector("#blocks tbody tr").dataset.height === "26"`)
}

// BenchmarkExplorerBlockLatency measures how long a new block takes to
// appear on the explorer page in headless Chromium on loopback: from just
// before generatetoaddress (so an upper bound on connect -> row drawn)
// until the page drew the block's row. Reports p50 and p99.
//
//	go test -run XXX -bench ExplorerBlockLatency -benchtime 200x ./node/
func BenchmarkExplorerBlockLatency(b *testing.B) {
	page := browser.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	a, url := startExplorerNode(b)
	var addr string
	rpcMust(ctx, b, a, "getnewaddress", &addr)
	page.Open(url)
	page.WaitJS(30*time.Second, "the explorer loaded", `window.quarryExplorer && window.quarryExplorer.ready`)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		var hashes []string
		rpcMust(ctx, b, a, "generatetoaddress", &hashes, 1, addr)
		drawn, err := browser.Await[float64](page, 30*time.Second, fmt.Sprintf(`window.quarryExplorer.drawn(%q)`, hashes[0]))
		if err != nil {
			b.Fatalf("block %s never drawn: %v", hashes[0], err)
		}
		lat = append(lat, time.UnixMilli(int64(drawn)).Sub(start))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

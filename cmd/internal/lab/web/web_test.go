package web_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/chain/testkit/browser"
	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/cmd/internal/lab/labtest"
	"github.com/quarrychain/quarry/cmd/internal/lab/web"
)

// TestLabPageInBrowser runs a 4-node regtest lab, serves the lab page and
// drives it in headless Chromium: one tip while the nodes agree; split 2|2
// with the page's control, each side mines, and two branches appear with
// the right nodes on each; heal with the page's control, one branch wins
// and the other is drawn as lost. It saves a screenshot of each state when
// QUARRY_SCREENSHOTS names a directory.
func TestLabPageInBrowser(t *testing.T) {
	bin := labtest.Build(t, "quarryd")
	page := browser.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l := labtest.StartLab(t, ctx, bin, lab.UpOptions{N: 4, Seed: "web", Network: "regtest"})
	if _, err := l.Generate(ctx, 0, 5); err != nil {
		t.Fatal(err)
	}
	labtest.Step(t, ctx, "agree on 5 blocks", 30*time.Second, func(ctx context.Context) error {
		_, err := l.WaitAgreement(ctx)
		return err
	})

	srv, err := web.New(web.Config{Dir: l.Dir, Bin: bin, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunReady(t, srv.Run, srv.Ready(), 10*time.Second)
	shots := os.Getenv("QUARRY_SCREENSHOTS")
	const wait = 30 * time.Second

	page.Open("http://" + srv.Addr() + "/")
	page.WaitJS(wait, "one branch", `document.getElementById("branches").textContent === "1"`)
	page.WaitJS(wait, "every node on one tip", `document.querySelector('text.tips[data-tips="node0 node1 node2 node3"]') !== null`)
	page.WaitJS(wait, "four node rows", `document.querySelectorAll("#nodes tbody tr").length === 4`)
	page.WaitJS(wait, "the network", `document.getElementById("network").textContent === "regtest"`)
	page.SaveScreenshot(shots, "lab-1-agree.png")

	// Split with the page's control, then let each side mine.
	if _, err := browser.Eval[bool](page, `document.getElementById("groups").value = "0,1 2,3"; document.querySelector("#partition-form button[type=submit]").click(); true`); err != nil {
		t.Fatal(err)
	}
	page.WaitJS(wait, "the partition done", `document.getElementById("action-result").dataset.done === "partition"`)
	if msg, _ := browser.Eval[string](page, `document.getElementById("action-result").textContent`); !strings.HasPrefix(msg, "partitioned") {
		t.Fatalf("partition control answered %q", msg)
	}
	if _, err := l.Generate(ctx, 0, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Generate(ctx, 2, 2); err != nil {
		t.Fatal(err)
	}
	page.WaitJS(wait, "two branches", `document.getElementById("branches").textContent === "2"`)
	page.WaitJS(wait, "side {0,1} on its tip", `document.querySelector('text.tips[data-tips="node0 node1"]') !== null`)
	page.WaitJS(wait, "side {2,3} on its tip", `document.querySelector('text.tips[data-tips="node2 node3"]') !== null`)
	page.WaitJS(wait, "the sides in different lanes, both live", `(() => {
		const a = document.querySelector('text.tips[data-tips="node0 node1"]');
		const b = document.querySelector('text.tips[data-tips="node2 node3"]');
		const ra = document.querySelector('rect.block[data-hash="' + a.dataset.hash + '"]');
		const rb = document.querySelector('rect.block[data-hash="' + b.dataset.hash + '"]');
		return a.dataset.lane !== b.dataset.lane && ra.dataset.active === "true" && rb.dataset.active === "true";
	})()`)
	page.WaitJS(wait, "the fork marked while split", `document.getElementById("fork-mark") !== null`)
	page.WaitJS(wait, "the split in the summary", `document.getElementById("summary").textContent.includes("{0,1} | {2,3}")`)
	page.SaveScreenshot(shots, "lab-2-split.png")

	// Heal with the page's control: side {0,1} has more work and wins.
	page.Click("#heal")
	page.WaitJS(2*wait, "the heal done", `document.getElementById("action-result").dataset.done === "heal"`)
	if msg, _ := browser.Eval[string](page, `document.getElementById("action-result").textContent`); !strings.HasPrefix(msg, "healed") {
		t.Fatalf("heal control answered %q", msg)
	}
	page.WaitJS(wait, "one branch again", `document.getElementById("branches").textContent === "1"`)
	page.WaitJS(wait, "every node on the winning tip", `document.querySelector('text.tips[data-tips="node0 node1 node2 node3"]') !== null`)
	page.WaitJS(wait, "the losing branch greyed", `(() => {
		const lost = document.querySelectorAll('rect.block[data-active="false"]');
		const win = document.querySelector('text.tips[data-tips="node0 node1 node2 node3"]');
		return lost.length === 2 && [...lost].every((r) => r.dataset.lane !== win.dataset.lane);
	})()`)
	page.WaitJS(wait, "the fork point marked", `document.getElementById("fork-mark") !== null && document.getElementById("fork-mark").dataset.hash !== ""`)
	page.WaitJS(wait, "the heal report", `document.getElementById("report").textContent.includes("WON")`)
	page.WaitJS(wait, "the reorgs listed", `document.querySelectorAll("#reorgs li").length >= 2`)
	page.SaveScreenshot(shots, "lab-3-healed.png")

	fork, _ := browser.Eval[string](page, `document.getElementById("fork-mark").dataset.hash`)
	l2, err := lab.OpenLab(l.Dir, bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h := l2.State.Heal; h == nil || h.Fork.String() != fork {
		t.Errorf("page marks fork %s, the lab recorded %v", fork, h)
	}
}

// TestLabPageShowsLinks: the page of a shaped line of three nodes lists
// its two links with their conditions and strikes out the one that is
// cut.
func TestLabPageShowsLinks(t *testing.T) {
	bin := labtest.Build(t, "quarryd")
	page := browser.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l := labtest.StartLab(t, ctx, bin, lab.UpOptions{N: 3, Seed: "web-links", Network: "regtest", Topology: "line", LinkDelay: 20 * time.Millisecond})
	srv, err := web.New(web.Config{Dir: l.Dir, Bin: bin, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	testkit.RunReady(t, srv.Run, srv.Ready(), 10*time.Second)
	const wait = 30 * time.Second
	page.Open("http://" + srv.Addr() + "/")
	page.WaitJS(wait, "the links listed", `!document.getElementById("links-line").hidden && document.querySelectorAll("#links .link").length === 2`)
	page.WaitJS(wait, "the topology named", `document.getElementById("topology").textContent === "line"`)
	page.WaitJS(wait, "the conditions shown", `document.getElementById("links").textContent.includes("1-2 20ms")`)
	down := true
	if _, err := l.SetLink(ctx, 1, 2, lab.LinkChange{Down: &down}); err != nil {
		t.Fatal(err)
	}
	page.WaitJS(wait, "the graph drawn", `document.querySelectorAll("#graph line.graph-link.shaped").length === 2 && document.querySelectorAll("#graph circle.graph-node").length === 3`)
	page.WaitJS(wait, "the cut link struck out", `(() => {
		const cut = document.querySelectorAll("#links .link-down");
		return cut.length === 1 && cut[0].textContent.startsWith("1-2 down");
	})()`)
	page.WaitJS(wait, "the cut link dashed in the graph", `document.querySelector('#graph line.graph-link.down[data-link="1-2"]') !== null`)
	page.SaveScreenshot(os.Getenv("QUARRY_SCREENSHOTS"), "lab-links.png")
}

// BenchmarkLabPageBlockLatency measures how long a block takes to appear
// on the lab page in headless Chromium: from just before generatetoaddress
// on a regtest node (an upper bound on connect -> box drawn) until the
// page drew the block's box. Reports p50 and p99.
//
//	go test -run XXX -bench LabPageBlockLatency -benchtime 200x ./cmd/internal/lab/web/
func BenchmarkLabPageBlockLatency(b *testing.B) {
	bin := labtest.Build(b, "quarryd")
	page := browser.Start(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l := labtest.StartLab(b, ctx, bin, lab.UpOptions{N: 2, Seed: "bench", Network: "regtest"})
	srv, err := web.New(web.Config{Dir: l.Dir, Bin: bin, Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	testkit.RunReady(b, srv.Run, srv.Ready(), 10*time.Second)
	page.Open("http://" + srv.Addr() + "/")
	page.WaitJS(30*time.Second, "the first snapshot", `window.quarryLab.snapshots > 0`)
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		hashes, err := l.Generate(ctx, 0, 1)
		if err != nil {
			b.Fatal(err)
		}
		drawn, err := browser.Await[float64](page, 30*time.Second, fmt.Sprintf(`window.quarryLab.drawn(%q)`, hashes[0].String()))
		if err != nil {
			b.Fatalf("block %s never drawn: %v", hashes[0], err)
		}
		lat = append(lat, time.UnixMilli(int64(drawn)).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	b.ReportMetric(float64(q(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(q(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

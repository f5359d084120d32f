// Package browser drives headless Chromium from tests: it starts Debian's
// chromium with the flags a closed network needs, waits for conditions in
// the page, and takes screenshots. It lives under chain/testkit so that any
// package's tests may import it (chain is the bottom of the dependency
// direction); no binary imports it.
//
// Tests skip when no Chromium is installed, unless QUARRY_BROWSER_TESTS=1
// (which CI sets after installing chromium), where a missing browser fails
// the test instead of hiding it.
package browser

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is one browser tab of a test. It is not safe for concurrent use.
type Page struct {
	t   testing.TB
	ctx context.Context // the tab's chromedp context (no deadline: it owns the browser)
}

// Start launches headless Chromium for the test and returns a tab. The
// browser is stopped when the test ends.
func Start(t testing.TB) *Page {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("QUARRY_BROWSER_TESTS") == "1" {
			t.Fatal("QUARRY_BROWSER_TESTS=1 but no chromium on PATH (apt-get install chromium)")
		}
		t.Skip("no chromium on PATH: install Debian's chromium to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// The machine has no network beyond loopback: keep Chromium from
		// trying to reach Google's services at every start.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium %s: %v", path, err)
	}
	return &Page{t: t, ctx: ctx}
}

// Do runs actions with a deadline of d.
func (p *Page) Do(d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// Open navigates to url.
func (p *Page) Open(url string) {
	p.t.Helper()
	p.Do(30*time.Second, chromedp.Navigate(url))
}

// Click clicks the first element matching the CSS selector.
func (p *Page) Click(css string) {
	p.t.Helper()
	p.Do(10*time.Second, chromedp.Click(chromedp.CSS(css)))
}

// Eval evaluates a JavaScript expression and decodes its value into T.
func Eval[T any](p *Page, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// Await evaluates a JavaScript expression that yields a promise, waits up to
// timeout for it to settle, and decodes its value into T.
func Await[T any](p *Page, timeout time.Duration, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(p.ctx, timeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
}

// WaitJS waits up to timeout until the JavaScript expression is true; what
// names the condition in the failure message.
func (p *Page) WaitJS(timeout time.Duration, what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := Eval[bool](p, expr)
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			p.t.Fatalf("page never showed %s within %v (%s; last error %v)", what, timeout, expr, lastErr)
		}
		<-tick.C
	}
}

// Screenshot returns a PNG of the whole page.
func (p *Page) Screenshot() []byte {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	return png
}

// SaveScreenshot writes a PNG of the page to dir/name when dir is not
// empty (tests pass os.Getenv("QUARRY_SCREENSHOTS")).
func (p *Page) SaveScreenshot(dir, name string) {
	p.t.Helper()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/"+name, p.Screenshot(), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

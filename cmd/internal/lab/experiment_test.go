package lab

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestWilson(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		// Reference values of the Wilson score interval (z = 1.96).
		{0, 20, 0, 0.1611},
		{4, 24, 0.0668, 0.3585},
		{50, 100, 0.4038, 0.5962},
		{10, 10, 0.7225, 1},
	} {
		lo, hi := Wilson(tc.k, tc.n)
		if math.Abs(lo-tc.lo) > 1e-4 || math.Abs(hi-tc.hi) > 1e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
	}
	if lo, hi := Wilson(0, 0); lo != 0 || hi != 1 {
		t.Errorf("Wilson(0, 0) = [%v, %v]", lo, hi)
	}
}

func TestPrintAndPlotStaleRate(t *testing.T) {
	pts := []StalePoint{
		{Delay: 0, BlockTime: time.Second, MeanInterval: time.Second, Nodes: 4, Mined: 20, Main: 20},
		{Delay: 200 * time.Millisecond, BlockTime: time.Second, MeanInterval: 1200 * time.Millisecond, Nodes: 4, Mined: 24, Main: 20, Stale: 4, Rate: 4.0 / 24, Lo: 0.0668, Hi: 0.3585, Theory: 0.15, Inside: true},
	}
	var b bytes.Buffer
	PrintStaleRate(&b, pts)
	for _, want := range []string{"200ms", "16.67%", "Decker and Wattenhofer", "Wilson"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "plot.png")
	if err := PlotStaleRate(pts, path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 1000 {
		t.Fatalf("plot: %v %v", st, err)
	}
}

package lab

import (
	"fmt"
	"image/color"
	"math"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// PlotStaleRate draws the stale-rate measurements (points with their 95%
// Wilson intervals) and the model 1 - e^(-d/T) (a line, T the mean of
// the measured intervals) with its (N-1)/N form (dashed) on one chart and saves it to path (.png, .svg
// or .pdf by extension).
func PlotStaleRate(pts []StalePoint, path string) error {
	if len(pts) == 0 {
		return fmt.Errorf("no measurements to plot")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Stale blocks vs link delay (%d nodes, full mesh, block time %s)", pts[0].Nodes, pts[0].BlockTime)
	p.X.Label.Text = "one-way link delay d (ms)"
	p.Y.Label.Text = "stale rate (fraction of mined blocks)"
	p.Add(plotter.NewGrid())

	var meanT time.Duration
	maxD := 0.0
	ep := errPoints{}
	for _, pt := range pts {
		meanT += pt.MeanInterval
		x := float64(pt.Delay) / float64(time.Millisecond)
		maxD = math.Max(maxD, x)
		ep.XYs = append(ep.XYs, plotter.XY{X: x, Y: pt.Rate})
		ep.YErrors = append(ep.YErrors, struct{ Low, High float64 }{pt.Rate - pt.Lo, pt.Hi - pt.Rate})
	}
	meanT /= time.Duration(len(pts))
	T := meanT.Seconds()
	// The textbook curve, and the (N-1)/N form: a miner never races its
	// own block, so with N equal miners only (N-1)/N of the hash rate can
	// find a competitor.
	nf := float64(pts[0].Nodes)
	var curve, curveN plotter.XYs
	for i := 0; i <= 100; i++ {
		d := maxD * 1.1 * float64(i) / 100
		curve = append(curve, plotter.XY{X: d, Y: 1 - math.Exp(-d/1000/T)})
		curveN = append(curveN, plotter.XY{X: d, Y: 1 - math.Exp(-(nf-1)/nf*d/1000/T)})
	}
	line, err := plotter.NewLine(curve)
	if err != nil {
		return err
	}
	line.Color = color.RGBA{R: 200, A: 255}
	line.Width = vg.Points(1.5)
	lineN, err := plotter.NewLine(curveN)
	if err != nil {
		return err
	}
	lineN.Color = color.RGBA{G: 140, A: 255}
	lineN.Width = vg.Points(1.5)
	lineN.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
	scatter, err := plotter.NewScatter(ep.XYs)
	if err != nil {
		return err
	}
	scatter.Color = color.RGBA{B: 200, A: 255}
	scatter.Radius = vg.Points(3)
	bars, err := plotter.NewYErrorBars(ep)
	if err != nil {
		return err
	}
	bars.Color = scatter.Color
	p.Add(line, lineN, scatter, bars)
	p.Legend.Add(fmt.Sprintf("theory 1 - e^(-d/T), T = %s", meanT.Round(time.Millisecond)), line)
	p.Legend.Add(fmt.Sprintf("theory(N) 1 - e^(-(N-1)d/(NT)), N = %d", pts[0].Nodes), lineN)
	p.Legend.Add("measured, 95% Wilson CI", scatter)
	p.Legend.Top, p.Legend.Left = true, true
	p.Y.Min = 0
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

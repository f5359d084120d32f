package lab

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/quarrychain/quarry/node/adversary"
)

// errPoints are measured values with asymmetric error bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// PlotSelfish writes the selfish experiment's figure to path (PNG, SVG or
// PDF by extension): the measured revenue share with its intervals, Eyal
// and Sirer's curve for gamma 0 and for the mean measured gamma, and the
// honest line R = alpha.
func PlotSelfish(path string, pts []SelfishPoint) error {
	p := plot.New()
	p.Title.Text = "Selfish mining: revenue share vs hash share"
	p.X.Label.Text = "selfish hash share alpha"
	p.Y.Label.Text = "share of main-chain blocks"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 0.5, 0, 1
	var gsum float64
	for _, q := range pts {
		gsum += q.Gamma
	}
	gmean := 0.0
	if len(pts) > 0 {
		gmean = gsum / float64(len(pts))
	}
	curve := func(g float64) *plotter.Function {
		f := plotter.NewFunction(func(a float64) float64 { return adversary.SelfishRevenue(a, g) })
		f.Samples = 200
		return f
	}
	honest := plotter.NewFunction(func(a float64) float64 { return a })
	honest.Dashes = []vg.Length{vg.Points(4), vg.Points(4)}
	c0 := curve(0)
	c0.Color = plotutil.Color(0)
	cg := curve(gmean)
	cg.Color = plotutil.Color(2)
	cg.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(honest, c0, cg)
	p.Legend.Add("honest: R = alpha", honest)
	p.Legend.Add("Eyal-Sirer, gamma = 0", c0)
	p.Legend.Add(fmt.Sprintf("Eyal-Sirer, gamma = %.2f (measured mean)", gmean), cg)
	if len(pts) > 0 {
		ep := errPoints{XYs: make(plotter.XYs, len(pts)), YErrors: make(plotter.YErrors, len(pts))}
		for i, q := range pts {
			ep.XYs[i].X, ep.XYs[i].Y = q.Alpha, q.Share
			ep.YErrors[i].Low, ep.YErrors[i].High = q.Share-q.Lo, q.Hi-q.Share
		}
		sc, err := plotter.NewScatter(ep)
		if err != nil {
			return err
		}
		sc.Color = plotutil.Color(1)
		bars, err := plotter.NewYErrorBars(ep)
		if err != nil {
			return err
		}
		bars.Color = plotutil.Color(1)
		p.Add(sc, bars)
		p.Legend.Add("measured (95% CI over replicate labs)", sc)
	}
	p.Legend.Top, p.Legend.Left = true, true
	return p.Save(6*vg.Inch, 4.5*vg.Inch, path)
}

// PlotXY writes a simple line figure: one series per name, x and y
// values, for the other experiments.
func PlotXY(path, title, xlabel, ylabel string, series map[string]plotter.XYs, order []string) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xlabel, ylabel
	for i, name := range order {
		l, s, err := plotter.NewLinePoints(series[name])
		if err != nil {
			return err
		}
		l.Color, s.Color = plotutil.Color(i), plotutil.Color(i)
		s.Shape = plotutil.Shape(i)
		p.Add(l, s)
		p.Legend.Add(name, l, s)
	}
	p.Legend.Top = true
	return p.Save(6*vg.Inch, 4.5*vg.Inch, path)
}

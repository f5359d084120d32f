package adversary

import (
	"math"
	"testing"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.7f, want %.7f", what, got, want)
	}
}

// TestDoubleSpendProbabilityWhitepaper checks the table of section 11 of
// the Bitcoin whitepaper (its values are printed to 7 decimals).
func TestDoubleSpendProbabilityWhitepaper(t *testing.T) {
	for _, c := range []struct {
		q    float64
		z    int
		want float64
	}{
		{0.1, 0, 1}, {0.1, 1, 0.2045873}, {0.1, 2, 0.0509779}, {0.1, 3, 0.0131722},
		{0.1, 4, 0.0034552}, {0.1, 5, 0.0009137}, {0.1, 10, 0.0000012},
		{0.3, 0, 1}, {0.3, 5, 0.1773523}, {0.3, 10, 0.0416605}, {0.3, 50, 0.0000006},
	} {
		near(t, "P(q,z)", DoubleSpendProbability(c.q, c.z), c.want, 5e-8)
	}
	if DoubleSpendProbability(0.5, 10) != 1 {
		t.Error("q = p must succeed")
	}
}

// TestSelfishRevenue checks Eyal and Sirer's closed form at the points the
// paper states: revenue equals alpha exactly at the threshold (1/3 for
// gamma 0, 1/4 for gamma 1/2), is below it under, above it over; and the
// curve's values at gamma = 0.
func TestSelfishRevenue(t *testing.T) {
	near(t, "threshold(0)", SelfishThreshold(0), 1.0/3, 1e-12)
	near(t, "threshold(1/2)", SelfishThreshold(0.5), 0.25, 1e-12)
	near(t, "threshold(1)", SelfishThreshold(1), 0, 1e-12)
	for _, g := range []float64{0, 0.25, 0.5} {
		a := SelfishThreshold(g)
		near(t, "R(threshold)", SelfishRevenue(a, g), a, 1e-12)
		if SelfishRevenue(a-0.05, g) >= a-0.05 || SelfishRevenue(a+0.05, g) <= a+0.05 {
			t.Errorf("gamma %v: revenue does not cross alpha at the threshold", g)
		}
	}
	// Hand-computed from equation (8).
	near(t, "R(0.4, 0)", SelfishRevenue(0.4, 0), 0.1664/0.344, 1e-12)
	near(t, "R(0.45, 0)", SelfishRevenue(0.45, 0), 0.1539/0.236125, 1e-12)
	// gamma = 1 pays any pool more than its share.
	if SelfishRevenue(0.1, 1) <= 0.1 {
		t.Error("gamma 1: no gain")
	}
}

// TestWilson checks published intervals (Newcombe 1998, Table I, method 3:
// 81/263 -> 0.2553-0.3662; 15/148 -> 0.0624-0.1605; 0/20 -> 0-0.1611;
// 1/29 -> 0.0061-0.1718).
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		x, n   int
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605}, {0, 20, 0, 0.1611}, {1, 29, 0.0061, 0.1718},
	} {
		lo, hi := Wilson(c.x, c.n, 1.959964)
		near(t, "lo", lo, c.lo, 6e-5)
		near(t, "hi", hi, c.hi, 6e-5)
	}
	if lo, hi := Wilson(0, 0, 1.96); lo != 0 || hi != 1 {
		t.Error("n = 0")
	}
}

// TestDoubleSpendExact checks hand-computed values: z = 0 always succeeds;
// z = 1 succeeds with 2q (the attacker's block first, q, or the honest
// block first and a catch-up of one, p * q/p); z = 2 with
// 1 − p²(1−r²) − 2p²q(1−r), r = q/p.
func TestDoubleSpendExact(t *testing.T) {
	for _, q := range []float64{0.1, 0.3} {
		near(t, "exact z=0", DoubleSpendExact(q, 0), 1, 1e-12)
		near(t, "exact z=1", DoubleSpendExact(q, 1), 2*q, 1e-12)
		p, r := 1-q, q/(1-q)
		near(t, "exact z=2", DoubleSpendExact(q, 2), 1-p*p*(1-r*r)-2*p*p*q*(1-r), 1e-12)
	}
	// The Poisson approximation is close for small q.
	near(t, "exact vs whitepaper q=0.1 z=1", DoubleSpendExact(0.1, 1), DoubleSpendProbability(0.1, 1), 0.01)
}

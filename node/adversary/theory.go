package adversary

import "math"

// SelfishRevenue is the relative revenue of a selfish pool with hash share
// alpha when a share gamma of the honest miners mine on the pool's block
// during a race, equation (8) of Eyal and Sirer (2014):
//
//	R = [α(1−α)²(4α + γ(1−2α)) − α³] / [1 − α(1 + (2−α)α)]
//
// It is valid for 0 <= alpha < 1/2.
func SelfishRevenue(alpha, gamma float64) float64 {
	a, g := alpha, gamma
	return (a*(1-a)*(1-a)*(4*a+g*(1-2*a)) - a*a*a) / (1 - a*(1+(2-a)*a))
}

// SelfishThreshold is the smallest hash share for which selfish mining
// pays more than honest mining, (1−γ)/(3−2γ) (Eyal and Sirer, Observation
// 1): 1/3 for γ = 0, 1/4 for γ = 1/2, 0 for γ = 1.
func SelfishThreshold(gamma float64) float64 { return (1 - gamma) / (3 - 2*gamma) }

// DoubleSpendProbability is the probability that an attacker with hash
// share q ever catches up from z blocks behind when the merchant waited z
// confirmations, section 11 of the Bitcoin whitepaper:
//
//	P = 1 − Σ_{k=0..z} (λ^k e^{−λ} / k!) (1 − (q/p)^{z−k}),  λ = z q/p
//
// with p = 1 − q; it is 1 when q >= p.
func DoubleSpendProbability(q float64, z int) float64 {
	p := 1 - q
	if q >= p {
		return 1
	}
	lambda := float64(z) * q / p
	sum := 1.0
	poisson := math.Exp(-lambda)
	for k := 0; k <= z; k++ {
		if k > 0 {
			poisson *= lambda / float64(k)
		}
		sum -= poisson * (1 - math.Pow(q/p, float64(z-k)))
	}
	return sum
}

// Wilson returns the Wilson score interval of a proportion: successes out
// of n trials at the normal quantile zq (1.96 for 95%). n = 0 gives [0, 1].
func Wilson(successes, n int, zq float64) (lo, hi float64) {
	if n <= 0 {
		return 0, 1
	}
	nf := float64(n)
	p := float64(successes) / nf
	z2 := zq * zq
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := zq / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return max(0, center-half), min(1, center+half)
}

// DoubleSpendExact is the probability of the same race without the
// whitepaper's Poisson approximation: the attacker's progress while the
// honest chain finds z blocks is negative binomial,
//
//	P = 1 − Σ_{k=0..z−1} C(k+z−1, k) p^z q^k (1 − (q/p)^{z−k}),
//
// with a tie counted as a catch-up, as in the whitepaper. It is the law a
// block-by-block simulation of the race converges to.
func DoubleSpendExact(q float64, z int) float64 {
	p := 1 - q
	if q >= p {
		return 1
	}
	sum := 1.0
	binom := 1.0 // C(k+z-1, k)
	for k := 0; k < z; k++ {
		if k > 0 {
			binom = binom * float64(k+z-1) / float64(k)
		}
		sum -= binom * math.Pow(p, float64(z)) * math.Pow(q, float64(k)) * (1 - math.Pow(q/p, float64(z-k)))
	}
	return sum
}

package mempool

import "math/bits"

// Fee rates are compared exactly as fractions fee/size with 128-bit
// products; feeRate's float is for display only.

// rateLess reports whether a pays a lower fee rate than b.
func rateLess(a, b *entry) bool { return rateCmp(a.fee, a.size, b.fee, b.size) < 0 }

// rateCmp compares feeA/sizeA with feeB/sizeB: -1, 0 or +1.
func rateCmp(feeA uint64, sizeA int, feeB uint64, sizeB int) int {
	ah, al := bits.Mul64(feeA, uint64(sizeB))
	bh, bl := bits.Mul64(feeB, uint64(sizeA))
	switch {
	case ah < bh || ah == bh && al < bl:
		return -1
	case ah == bh && al == bl:
		return 0
	}
	return 1
}

// feeRate returns fee/size as a float (display and metrics only).
func feeRate(fee uint64, size int) float64 {
	if size <= 0 {
		return 0
	}
	return float64(fee) / float64(size)
}

// minFee returns rate*size, saturating.
func minFee(rate uint64, size int) uint64 {
	hi, lo := bits.Mul64(rate, uint64(size))
	if hi != 0 {
		return ^uint64(0)
	}
	return lo
}

// mulDivCeil returns ceil(a*b/c), saturating; c must be > 0.
func mulDivCeil(a, b, c uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	if hi >= c {
		return ^uint64(0)
	}
	q, r := bits.Div64(hi, lo, c)
	if r != 0 {
		if q == ^uint64(0) {
			return q
		}
		q++
	}
	return q
}

// satAdd returns a+b, saturating at the maximum uint64.
func satAdd(a, b uint64) uint64 {
	s, carry := bits.Add64(a, b, 0)
	if carry != 0 {
		return ^uint64(0)
	}
	return s
}

// spendOf returns e's amount plus fee, or 0 for nil.
func spendOf(e *entry) uint64 {
	if e == nil {
		return 0
	}
	return e.spend
}

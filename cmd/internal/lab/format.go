package lab

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// Formatting of hashes, work, rates, coins and durations for the lab's
// tables and reports.

// fmtWork renders an amount of work (expected hashes) with an SI prefix.
func fmtWork(w *big.Int) string {
	f, _ := new(big.Float).SetInt(w).Float64()
	return si(f, "")
}

// FormatRate renders a hash rate with an SI prefix ("700 kH/s"; "off"
// for 0).
func FormatRate(r float64) string {
	if r <= 0 {
		return "off"
	}
	return si(r, "H/s")
}

func si(f float64, unit string) string {
	prefixes := []string{"", "k", "M", "G", "T", "P", "E"}
	i := 0
	for f >= 1000 && i < len(prefixes)-1 {
		f /= 1000
		i++
	}
	sep := ""
	if unit != "" {
		sep = " "
	}
	return fmt.Sprintf("%.3g%s%s%s", f, sep, prefixes[i], unit)
}

// FormatCoins renders base units as coins ("1.00000000").
func FormatCoins(units uint64) string { return rpcjson.AmountFromUnits(units).String() }

// workDiff returns a-b for hex chain works.
func workDiff(a, b string) *big.Int { return new(big.Int).Sub(parseWork(a), parseWork(b)) }

// short abbreviates a hash for tables: the first 8 digits after the
// leading zeros of the proof of work, so that different blocks differ.
func short(h chain.Hash) string {
	s := h.String()
	i := 0
	for i < len(s)-12 && s[i] == '0' {
		i++
	}
	return s[i : i+8]
}

// shortID abbreviates a peer ID.
func shortID(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}

// parseWork parses a hex chain work.
func parseWork(s string) *big.Int {
	w, ok := new(big.Int).SetString(s, 16)
	if !ok {
		return new(big.Int)
	}
	return w
}

// GroupName renders a group of nodes as {0,1}.
func GroupName(g []int) string {
	parts := make([]string, len(g))
	for i, n := range g {
		parts[i] = fmt.Sprint(n)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// sideName is "A", "B", ...
func sideName(k int) string {
	if k < 0 {
		return "?"
	}
	return string(rune('A' + k))
}

// FormatDuration rounds a measured duration for printing: to the
// millisecond above a second, to 10 µs above a millisecond, to the
// microsecond below.
func FormatDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// Percentile returns the q-quantile (nearest rank) of ds (0 if empty).
func Percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	k := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

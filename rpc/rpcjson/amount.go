package rpcjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/quarrychain/quarry/chain"
)

// Amount is a signed number of base units (1 coin = chain.Coin = 10^8 base
// units). It marshals as a JSON number in coins with exactly eight decimals
// ("50.00000000"), like Bitcoin Core's ValueFromAmount, and unmarshals from a
// JSON number or string in coins with at most eight decimals (exponents
// allowed, "1e-8"), exactly, without going through float64.
type Amount int64

// Coins returns a as a float64 number of coins, for display only.
func (a Amount) Coins() float64 { return float64(a) / chain.Coin }

// String returns the eight-decimal coin form, e.g. "-0.00000001".
func (a Amount) String() string { return string(a.appendText(nil)) }

func (a Amount) appendText(b []byte) []byte {
	u := uint64(a)
	if a < 0 {
		b = append(b, '-')
		u = uint64(-(a + 1)) + 1 // also right for math.MinInt64
	}
	b = strconv.AppendUint(b, u/chain.Coin, 10)
	b = append(b, '.')
	frac := strconv.AppendUint(nil, u%chain.Coin, 10)
	for i := len(frac); i < 8; i++ {
		b = append(b, '0')
	}
	return append(b, frac...)
}

// MarshalJSON writes a as a JSON number with eight decimals.
func (a Amount) MarshalJSON() ([]byte, error) { return a.appendText(nil), nil }

// ErrInvalidAmount is returned for text that is not a decimal number with at
// most eight decimals; ErrAmountRange for a value outside int64 base units.
var (
	//lint:ignore ST1005 the text is Bitcoin Core's, which clients match on
	ErrInvalidAmount = errors.New("Invalid amount")
	ErrAmountRange   = errors.New("Amount out of range")
)

// UnmarshalJSON reads a JSON number or a JSON string holding one.
func (a *Amount) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) >= 2 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return ErrInvalidAmount
		}
		b = []byte(s)
	}
	v, err := ParseAmount(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAmount parses a decimal coin value ("1.5", "0.00000001", "2e-3")
// exactly. More than eight decimals is ErrInvalidAmount; a value that does
// not fit in int64 base units is ErrAmountRange.
func ParseAmount(s string) (Amount, error) {
	if s == "" || len(s) > 64 {
		return 0, ErrInvalidAmount
	}
	// big.Rat accepts forms JSON does not (fractions "1/2", hex); reject them.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E') {
			return 0, ErrInvalidAmount
		}
	}
	// Bound the exponent before big.Rat expands it (1e999999999 would
	// allocate gigabytes).
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return 0, ErrInvalidAmount
		}
		if exp > 40 {
			return 0, ErrAmountRange
		}
		if exp < -40 {
			return 0, ErrInvalidAmount
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, ErrInvalidAmount
	}
	r.Mul(r, new(big.Rat).SetInt64(chain.Coin))
	if !r.IsInt() {
		return 0, ErrInvalidAmount
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() == math.MinInt64 {
		return 0, ErrAmountRange
	}
	return Amount(n.Int64()), nil
}

// AmountFromUnits converts an unsigned base-unit count, saturating at the
// largest Amount.
func AmountFromUnits(u uint64) Amount {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return Amount(u)
}

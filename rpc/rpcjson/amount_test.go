package rpcjson

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestAmountMarshal(t *testing.T) {
	for a, want := range map[Amount]string{
		0: "0.00000000", 1: "0.00000001", 100_000_000: "1.00000000", 5_000_000_000: "50.00000000",
		-1: "-0.00000001", -150_000_000: "-1.50000000", math.MaxInt64: "92233720368.54775807",
		math.MinInt64: "-92233720368.54775808",
	} {
		b, _ := json.Marshal(a)
		if string(b) != want {
			t.Errorf("%d -> %s, want %s", int64(a), b, want)
		}
	}
}

func TestAmountParse(t *testing.T) {
	good := map[string]Amount{
		"1": 100_000_000, "0.1": 10_000_000, "0.00000001": 1, "1e-8": 1, "2E3": 200_000_000_000,
		"-0.5": -50_000_000, "50.00000000": 5_000_000_000, "0": 0, `"1.5"`: 150_000_000,
	}
	for in, want := range good {
		var a Amount
		if err := json.Unmarshal([]byte(in), &a); err != nil || a != want {
			t.Errorf("%s -> %d %v, want %d", in, int64(a), err, int64(want))
		}
	}
	bad := map[string]error{
		"0.000000001": ErrInvalidAmount, "1/2": ErrInvalidAmount, "0x10": ErrInvalidAmount, `"abc"`: ErrInvalidAmount,
		"1e400": ErrAmountRange, "1e999999999": ErrAmountRange, "1e-99999999": ErrInvalidAmount, "1e+": ErrInvalidAmount, "92233720368.54775808": ErrAmountRange, "true": ErrInvalidAmount,
	}
	for in, want := range bad {
		var a Amount
		if err := a.UnmarshalJSON([]byte(in)); !errors.Is(err, want) {
			t.Errorf("%s: err %v, want %v", in, err, want)
		}
	}
}

func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1", "0.1", "1e-8", "-5", "1e400", "92233720368.54775807", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAmount(s)
		if err != nil {
			return
		}
		b, _ := a.MarshalJSON()
		back, err := ParseAmount(string(b))
		if err != nil || back != a {
			t.Fatalf("%q -> %d -> %s -> %d %v", s, int64(a), b, int64(back), err)
		}
	})
}

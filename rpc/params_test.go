package rpc

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// TestMethodParamsMatchTable keeps rpcjson.MethodParams (used by
// quarryctl to type its arguments) in step with the method table.
func TestMethodParamsMatchTable(t *testing.T) {
	table, _ := buildMethods()
	for name, m := range table {
		specs, ok := rpcjson.MethodParams(name)
		if !ok {
			t.Errorf("rpcjson.MethodParams lacks %s", name)
			continue
		}
		if len(specs) != len(m.args) {
			t.Errorf("%s: %d params in rpcjson, %d in the table", name, len(specs), len(m.args))
			continue
		}
		for i, a := range m.args {
			if specs[i].Name != a.name || specs[i].String != (a.typ == "string") {
				t.Errorf("%s param %d: rpcjson %+v, table %s (%s)", name, i, specs[i], a.name, a.typ)
			}
		}
	}
}

func TestParseRequestFirstKeyWins(t *testing.T) {
	req, err := parseRequest([]byte(`{"method":"a","method":"b","id":1,"id":2,"params":[1]}`))
	if err != nil || req.method != "a" || string(req.id) != "1" || string(req.params) != "[1]" {
		t.Fatalf("got %+v %v", req, err)
	}
	req, err = parseRequest([]byte(`{"\u006dethod":"getblockcount"}`))
	if err != nil || req.method != "getblockcount" {
		t.Fatalf("escaped key: %+v %v", req, err)
	}
}

func TestArrayElements(t *testing.T) {
	for in, want := range map[string]int{`[]`: 0, ` [ 1 , "a,]" , {"x":[1,2]} , null ] `: 4, `[[],[[]]]`: 2} {
		got, ok := arrayElements([]byte(in))
		if !ok || len(got) != want {
			t.Errorf("%s: %d %v, want %d", in, len(got), ok, want)
		}
	}
	if _, ok := arrayElements([]byte(`{}`)); ok {
		t.Error("object accepted as array")
	}
}

func TestDifficulty(t *testing.T) {
	for bits, want := range map[uint32]float64{0x1d00ffff: 1, 0x1b0404cb: 16307.420938523983, 0x207fffff: 4.6565423739069247e-10, 0x1d000000: 0} {
		if got := difficulty(bits); got != want {
			t.Errorf("difficulty(%08x) = %v, want %v", bits, got, want)
		}
	}
}

// FuzzScan checks the envelope scanner against encoding/json on valid
// input: the same members (first occurrence of a key) and the same array
// elements.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,{"c":"]}"}],"d":"\"}"}`, `[1,"a",{"x":[]},null,true]`, `{"a":1,"a":2}`, ` { "k" : "v" } `, `{"\u0061":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		// encoding/json folds invalid UTF-8 in keys to U+FFFD, merging keys
		// the scanner keeps apart; such keys never name an envelope field.
		if !json.Valid(raw) || !utf8.Valid(raw) {
			return
		}
		switch jsonKind(raw) {
		case '{':
			var want map[string]json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			got := map[string]json.RawMessage{}
			ok := objectMembers(raw, func(k string, v []byte) {
				if _, dup := got[k]; !dup {
					got[k] = v
				}
			})
			if !ok || len(got) != len(want) {
				t.Fatalf("%q: scanner %v %d members, json %d", s, ok, len(got), len(want))
			}
			for k, v := range got {
				if !json.Valid(v) {
					t.Fatalf("%q: member %q value %q not a JSON value", s, k, v)
				}
			}
		case '[':
			var want []json.RawMessage
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			got, ok := arrayElements(raw)
			if !ok || len(got) != len(want) {
				t.Fatalf("%q: scanner %v %d elements, json %d", s, ok, len(got), len(want))
			}
			for i := range got {
				if string(got[i]) != string(bytes.TrimSpace(want[i])) {
					t.Fatalf("%q: element %d %q vs %q", s, i, got[i], want[i])
				}
			}
		}
	})
}

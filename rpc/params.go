package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// arg describes one parameter of a method: its name (for named
// parameters and help), JSON type (for help), whether it is required, its
// default (help text only) and a one-line description.
type arg struct {
	name     string
	typ      string // "string", "numeric", "boolean", "array", "object", "amount", "hex"
	required bool
	def      string
	desc     string
}

// method is one entry of the method table.
type method struct {
	name     string
	category string
	sub      subsystem
	args     []arg
	summary  string // first paragraph of the help
	result   string // "Result:" section of the help
	examples []string
	run      func(c *call) (json.RawMessage, error)
}

// required returns the number of leading required arguments.
func (m *method) required() int {
	n := 0
	for _, a := range m.args {
		if !a.required {
			break
		}
		n++
	}
	return n
}

// call is one method invocation: the bound positional parameters (named
// ones already mapped, missing ones nil) and the request's context.
type call struct {
	ctx    context.Context
	s      *Server
	m      *method
	params []json.RawMessage
	// liftWriteDeadline removes the HTTP write deadline of the request
	// for long waits; nil outside HTTP.
	liftWriteDeadline func()
}

// bind maps a request's params (array or object) onto the method's
// argument list, with Core's rules: too many or too few positional
// arguments answer the usage text as RPC_MISC_ERROR; an unknown named
// parameter is RPC_INVALID_PARAMETER.
func (m *method) bind(raw json.RawMessage) ([]json.RawMessage, *Error) {
	if jsonKind(raw) == '{' {
		var named map[string]json.RawMessage
		if err := json.Unmarshal(raw, &named); err != nil {
			return nil, newErr(rpcjson.CodeInvalidRequest, "Params must be an array or object")
		}
		names := make([]string, 0, len(named))
		for k := range named {
			names = append(names, k)
		}
		sort.Strings(names) // deterministic error for several unknown names
		out := []json.RawMessage{}
		for _, k := range names {
			i := m.argIndex(k)
			if i < 0 {
				return nil, newErr(rpcjson.CodeInvalidParameter, "Unknown named parameter %s", k)
			}
			for len(out) <= i {
				out = append(out, nil)
			}
			out[i] = named[k]
		}
		return out, nil
	}
	pos, ok := arrayElements(raw)
	if !ok {
		return nil, newErr(rpcjson.CodeInvalidRequest, "Params must be an array or object")
	}
	if len(pos) > len(m.args) || len(pos) < m.required() {
		return nil, newErr(rpcjson.CodeMiscError, "%s", m.helpText())
	}
	return pos, nil
}

func (m *method) argIndex(name string) int {
	for i, a := range m.args {
		if a.name == name {
			return i
		}
	}
	return -1
}

// raw returns parameter i, nil if absent or null.
func (c *call) raw(i int) json.RawMessage {
	if i >= len(c.params) || isNull(c.params[i]) {
		return nil
	}
	return c.params[i]
}

func (c *call) has(i int) bool { return c.raw(i) != nil }

func (c *call) name(i int) string { return c.m.args[i].name }

// missing is the error for an absent required parameter.
func (c *call) missing(i int) error {
	return errorf(rpcjson.CodeInvalidParameter, "Missing required parameter: %s", c.name(i))
}

func typeErr(v json.RawMessage, want string) error {
	return errorf(rpcjson.CodeTypeError, "JSON value of type %s is not of expected type %s", jsonTypeName(v), want)
}

// str returns a string parameter; def if absent.
func (c *call) str(i int, def string) (string, error) {
	v := c.raw(i)
	if v == nil {
		return def, nil
	}
	var s string
	if jsonKind(v) != '"' || !unquote(v, &s) {
		return "", typeErr(v, "string")
	}
	return s, nil
}

// reqStr returns a required string parameter.
func (c *call) reqStr(i int) (string, error) {
	if !c.has(i) {
		return "", c.missing(i)
	}
	return c.str(i, "")
}

// integer returns an integer parameter in [min, max]; def if absent.
func (c *call) integer(i int, def, min, max int64) (int64, error) {
	v := c.raw(i)
	if v == nil {
		return def, nil
	}
	k := jsonKind(v)
	if k != '-' && (k < '0' || k > '9') {
		return 0, typeErr(v, "number")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(v)), 10, 64)
	if err != nil {
		// Core's getInt accepts only integral numbers.
		return 0, errorf(rpcjson.CodeTypeError, "JSON integer out of range or not an integer: %s", truncate(string(v), 40))
	}
	if n < min || n > max {
		return 0, errorf(rpcjson.CodeInvalidParameter, "%s out of range: %d (allowed %d to %d)", c.name(i), n, min, max)
	}
	return n, nil
}

// reqInteger returns a required integer parameter.
func (c *call) reqInteger(i int, min, max int64) (int64, error) {
	if !c.has(i) {
		return 0, c.missing(i)
	}
	return c.integer(i, 0, min, max)
}

// boolean returns a boolean parameter; def if absent. Like Core's verbose
// flags it also accepts a number (0 is false).
func (c *call) boolean(i int, def bool) (bool, error) {
	v := c.raw(i)
	if v == nil {
		return def, nil
	}
	switch jsonKind(v) {
	case 't':
		return true, nil
	case 'f':
		return false, nil
	case '"', '[', '{':
		return false, typeErr(v, "bool")
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(string(v)), 64)
	if err != nil {
		return false, typeErr(v, "bool")
	}
	return f != 0, nil
}

// hash parses a required hash parameter with Core's ParseHashV messages.
func (c *call) hash(i int) (chain.Hash, error) {
	s, err := c.reqStr(i)
	if err != nil {
		return chain.Hash{}, err
	}
	return parseHashArg(c.name(i), s)
}

func parseHashArg(name, s string) (chain.Hash, error) {
	if len(s) != 2*chain.HashSize {
		return chain.Hash{}, errorf(rpcjson.CodeInvalidParameter, "%s must be of length %d (not %d, for '%s')", name, 2*chain.HashSize, len(s), truncate(s, 80))
	}
	h, err := chain.ParseHash(s)
	if err != nil {
		return chain.Hash{}, errorf(rpcjson.CodeInvalidParameter, "%s must be hexadecimal string (not '%s')", name, truncate(s, 80))
	}
	return h, nil
}

// address parses a required address parameter of this network.
func (c *call) address(i int) (chain.Address, error) {
	s, err := c.reqStr(i)
	if err != nil {
		return chain.Address{}, err
	}
	a, err := chain.DecodeAddress(s, c.s.params)
	if err != nil {
		return chain.Address{}, errorf(rpcjson.CodeInvalidAddressOrKey, "Invalid address: %s", err.Error())
	}
	return a, nil
}

// amount parses a coin amount (number or string) in base units; def if
// absent. Negative values are "Amount out of range", like Core.
func (c *call) amount(i int, def uint64) (uint64, error) {
	v := c.raw(i)
	if v == nil {
		return def, nil
	}
	if k := jsonKind(v); k != '"' && k != '-' && (k < '0' || k > '9') {
		return 0, typeErr(v, "number")
	}
	var a rpcjson.Amount
	if err := a.UnmarshalJSON(v); err != nil {
		return 0, errorf(rpcjson.CodeTypeError, "%s", err.Error())
	}
	if a < 0 {
		return 0, errorf(rpcjson.CodeTypeError, "%s", rpcjson.ErrAmountRange.Error())
	}
	return uint64(a), nil
}

// strings parses an array-of-strings parameter; nil if absent.
func (c *call) strings(i int) ([]string, error) {
	v := c.raw(i)
	if v == nil {
		return nil, nil
	}
	var out []string
	if jsonKind(v) != '[' || json.Unmarshal(v, &out) != nil {
		return nil, typeErr(v, "array")
	}
	return out, nil
}

// marshal encodes a method's typed result, without HTML escaping (help
// texts contain '>' and '<').
func marshal[T any](v T) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, errorf(rpcjson.CodeInternalError, "encode result: %s", err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

// seconds converts a time to Unix seconds, 0 for the zero time.
func seconds(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

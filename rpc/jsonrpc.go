package rpc

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// version is the JSON-RPC dialect of one request.
type version int

const (
	// v1 is Bitcoin Core's legacy dialect (no "jsonrpc" field, or "1.0"):
	// replies always carry "result", "error" and (if the request had one)
	// "id", and errors become HTTP errors.
	v1 version = iota
	// v2 is JSON-RPC 2.0: replies carry "jsonrpc":"2.0" and exactly one of
	// "result" and "error"; errors are HTTP 200; no id means notification.
	v2
)

// request is one parsed request object.
type request struct {
	ver    version
	hasID  bool
	id     json.RawMessage
	method string
	params json.RawMessage // a JSON array or object
}

// isNotification reports whether no reply may be sent (JSON-RPC 2.0
// request without an id; a 1.0 request without id is still answered).
func (r *request) isNotification() bool { return r.ver == v2 && !r.hasID }

var (
	nullJSON       = json.RawMessage("null")
	emptyArrayJSON = json.RawMessage("[]")
)

// jsonKind returns the first significant byte of a JSON value ('{', '[',
// '"', 't', 'f', 'n' or a number's first character), 0 if empty.
func jsonKind(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// jsonTypeName is Core's (UniValue's) name of a JSON value's type.
func jsonTypeName(b []byte) string {
	switch jsonKind(b) {
	case 0, 'n':
		return "null"
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	}
	return "number"
}

func isNull(b json.RawMessage) bool {
	k := jsonKind(b)
	return k == 0 || k == 'n'
}

// parseRequest parses one request object with the checks, order and
// messages of Core's JSONRPCRequest::parse. On error, the returned request
// carries the id and version read so far, for the error reply.
func parseRequest(raw json.RawMessage) (request, *Error) {
	req := request{ver: v1, hasID: true, id: nullJSON}
	// Like Core's find_value, the first occurrence of a key counts.
	var id, jsonrpc, method, params json.RawMessage
	var hasID, hasVer, hasMethod, hasParams bool
	ok := objectMembers(raw, func(k string, v []byte) {
		switch {
		case k == "id" && !hasID:
			id, hasID = v, true
		case k == "jsonrpc" && !hasVer:
			jsonrpc, hasVer = v, true
		case k == "method" && !hasMethod:
			method, hasMethod = v, true
		case k == "params" && !hasParams:
			params, hasParams = v, true
		}
	})
	if !ok {
		return req, newErr(rpcjson.CodeInvalidRequest, "Invalid Request object")
	}
	req.id, req.hasID = id, hasID
	if hasVer && !isNull(jsonrpc) {
		var s string
		if jsonKind(jsonrpc) != '"' || !unquote(jsonrpc, &s) {
			return req, newErr(rpcjson.CodeInvalidRequest, "jsonrpc field must be a string")
		}
		switch s {
		case "1.0":
		case "2.0":
			req.ver = v2
		default:
			return req, newErr(rpcjson.CodeInvalidRequest, "JSON-RPC version not supported")
		}
	}
	if !hasMethod || isNull(method) {
		return req, newErr(rpcjson.CodeInvalidRequest, "Missing method")
	}
	if jsonKind(method) != '"' || !unquote(method, &req.method) {
		return req, newErr(rpcjson.CodeInvalidRequest, "Method must be a string")
	}
	switch jsonKind(params) {
	case '[', '{':
		req.params = params
	case 0, 'n':
		req.params = emptyArrayJSON
	default:
		return req, newErr(rpcjson.CodeInvalidRequest, "Params must be an array or object")
	}
	return req, nil
}

// appendReply appends the reply object (Core's JSONRPCReplyObj).
func appendReply(b []byte, ver version, hasID bool, id, result json.RawMessage, rerr *Error) []byte {
	if ver == v2 {
		b = append(b, `{"jsonrpc":"2.0",`...)
		if rerr != nil {
			b = append(b, `"error":`...)
			b = appendError(b, rerr)
		} else {
			b = append(b, `"result":`...)
			b = appendRaw(b, result)
		}
	} else {
		b = append(b, `{"result":`...)
		if rerr != nil {
			b = append(b, `null,"error":`...)
			b = appendError(b, rerr)
		} else {
			b = appendRaw(b, result)
			b = append(b, `,"error":null`...)
		}
	}
	if hasID {
		b = append(b, `,"id":`...)
		b = appendRaw(b, id)
	}
	return append(b, '}')
}

func appendRaw(b []byte, v json.RawMessage) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	return append(b, v...)
}

func appendError(b []byte, e *Error) []byte {
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(e.Code), 10)
	b = append(b, `,"message":`...)
	msg, err := marshal(e.Message)
	if err != nil { // cannot happen for a string
		msg = []byte(`""`)
	}
	b = append(b, msg...)
	return append(b, '}')
}

// httpStatusFor is Core's JSONErrorReply status for a legacy (1.x) error:
// 400 for an invalid request, 404 for an unknown method, 500 otherwise.
func httpStatusFor(e *Error) int {
	switch e.Code {
	case rpcjson.CodeInvalidRequest:
		return 400
	case rpcjson.CodeMethodNotFound:
		return 404
	}
	return 500
}

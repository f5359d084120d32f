package stratum

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// ErrorKind identifies a class of server failure (configuration, lifecycle).
// A kind is an error, so callers match it with errors.Is.
type ErrorKind string

// Error implements error so that a kind can be the target of errors.Is.
func (k ErrorKind) Error() string { return string(k) }

// Error kinds returned by this package.
const (
	// ErrBadConfig: the Config cannot be used (missing dependency, a
	// non-loopback listen address without AllowRemote, negative limits).
	ErrBadConfig ErrorKind = "invalid stratum configuration"
	// ErrAlreadyRunning: Run was called twice.
	ErrAlreadyRunning ErrorKind = "stratum server is already running"
	// ErrListen: the listener could not be opened.
	ErrListen ErrorKind = "stratum listener failed"
)

// Error is a failure of a kind with a description and an optional cause.
// It is immutable and safe for concurrent use; errors.Is matches its Kind
// and its cause.
type Error struct {
	Kind        ErrorKind
	Description string
	Err         error
}

// Error returns the description, followed by the cause if there is one.
func (e *Error) Error() string {
	if e.Err != nil {
		return e.Description + ": " + e.Err.Error()
	}
	return e.Description
}

// Unwrap returns the kind and the cause, so errors.Is matches either.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func newErr(kind ErrorKind, format string, args ...any) error {
	return &Error{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

func wrapErr(kind ErrorKind, cause error, format string, args ...any) error {
	return &Error{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...), Err: cause}
}

// Code is a stratum error code, as pools answer them in the error triple
// [code, message, null].
type Code int

// The conventional stratum v1 error codes.
const (
	// CodeOther: any other failure (malformed request, bad ntime, bad
	// extranonce2 size, unknown method, rate limit).
	CodeOther Code = 20
	// CodeJobNotFound: the job is unknown or stale (its tip was replaced).
	CodeJobNotFound Code = 21
	// CodeDuplicate: the same share was submitted before.
	CodeDuplicate Code = 22
	// CodeLowDifficulty: the share's hash is above the share target.
	CodeLowDifficulty Code = 23
	// CodeUnauthorized: the worker is not authorized on this connection,
	// or authorization was refused.
	CodeUnauthorized Code = 24
	// CodeNotSubscribed: mining.subscribe has not been called.
	CodeNotSubscribed Code = 25
)

// ProtocolError is the error of one stratum request: a Code and a
// human-readable message. It encodes as the triple [code, message, null].
// It is immutable and safe for concurrent use.
type ProtocolError struct {
	Code    Code
	Message string
}

// Error returns "code: message".
func (e *ProtocolError) Error() string { return strconv.Itoa(int(e.Code)) + ": " + e.Message }

// MarshalJSON encodes the error triple.
func (e *ProtocolError) MarshalJSON() ([]byte, error) {
	msg, err := json.Marshal(e.Message)
	if err != nil {
		return nil, err
	}
	b := append([]byte{'['}, strconv.Itoa(int(e.Code))...)
	b = append(b, ',')
	b = append(b, msg...)
	return append(b, ",null]"...), nil
}

// UnmarshalJSON decodes the triple (clients in tests read it back).
func (e *ProtocolError) UnmarshalJSON(b []byte) error {
	var t []json.RawMessage
	if err := json.Unmarshal(b, &t); err != nil || len(t) < 2 {
		return fmt.Errorf("stratum error %s: want [code, message, traceback]", b)
	}
	if err := json.Unmarshal(t[0], &e.Code); err != nil {
		return err
	}
	return json.Unmarshal(t[1], &e.Message)
}

func protoErr(code Code, format string, args ...any) *ProtocolError {
	return &ProtocolError{Code: code, Message: fmt.Sprintf(format, args...)}
}

package p2p

import (
	"errors"
	"strings"
	"testing"
)

// TestErrorFormat checks the error rule shared by every errors.go of the
// module: Error() is the description, then ": " and the cause's text when
// there is a cause, which the description never repeats; errors.Is matches
// the kind and the cause.
func TestErrorFormat(t *testing.T) {
	cause := errors.New("connection refused")
	plain := newErr(ErrBadPeerAddr, "%q", "x")
	if got, want := plain.Error(), `invalid peer address: "x"`; got != want {
		t.Errorf("without cause: %q, want %q", got, want)
	}
	wrapped := wrapErr(ErrBadConfig, cause, "listening on %s", "127.0.0.1:1")
	if got, want := wrapped.Error(), "invalid p2p configuration: listening on 127.0.0.1:1: connection refused"; got != want {
		t.Errorf("with cause: %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(wrapped, &e) || strings.Contains(e.Description, cause.Error()) {
		t.Errorf("description %q repeats the cause", e.Description)
	}
	if !errors.Is(wrapped, ErrBadConfig) || !errors.Is(wrapped, cause) {
		t.Error("errors.Is does not match the kind and the cause")
	}
}

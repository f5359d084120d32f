package miner

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
	cause := errors.New("hash above target")
	if got, want := newErr(ErrBadConfig, "no chain").Error(), "invalid miner configuration: no chain"; got != want {
		t.Errorf("without cause: %q, want %q", got, want)
	}
	wrapped := wrapErr(ErrBlockRejected, cause, "block %d", 7)
	if got, want := wrapped.Error(), "mined block was rejected: block 7: hash above target"; got != want {
		t.Errorf("with cause: %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(wrapped, &e) || strings.Contains(e.Description, cause.Error()) {
		t.Errorf("description %q repeats the cause", e.Description)
	}
	if !errors.Is(wrapped, ErrBlockRejected) || !errors.Is(wrapped, cause) {
		t.Error("errors.Is does not match the kind and the cause")
	}
}

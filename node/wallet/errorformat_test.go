package wallet

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
	cause := errors.New("unexpected end of JSON input")
	if got, want := errorf(ErrBadAmount, "amount %q is empty", "").Error(), `amount "" is empty`; got != want {
		t.Errorf("without cause: %q, want %q", got, want)
	}
	wrapped := wrapf(ErrCorrupt, cause, "wallet file %s is not valid", "w.json")
	if got, want := wrapped.Error(), "wallet file w.json is not valid: unexpected end of JSON input"; got != want {
		t.Errorf("with cause: %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(wrapped, &e) || strings.Contains(e.Description, cause.Error()) {
		t.Errorf("description %q repeats the cause", e.Description)
	}
	if !errors.Is(wrapped, ErrCorrupt) || !errors.Is(wrapped, cause) {
		t.Error("errors.Is does not match the kind and the cause")
	}
}

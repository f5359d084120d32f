package chain

import (
	"errors"
	"testing"
)

// TestErrorFormat checks the error rule shared by every errors.go of the
// module as it applies to RuleError, which has no cause: Error() is the
// description, which starts with the kind, and errors.Is matches the kind.
func TestErrorFormat(t *testing.T) {
	err := ruleErr(ErrBadNonce, "nonce %d, want %d", 3, 2)
	if got, want := err.Error(), "transaction nonce is not the sender's next nonce: nonce 3, want 2"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrBadNonce) || KindOf(err) != ErrBadNonce {
		t.Error("errors.Is/KindOf do not match the kind")
	}
}

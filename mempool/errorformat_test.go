package mempool

import (
	"errors"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// TestErrorFormat checks the error rule shared by every errors.go of the
// module: Error() is the description, then ": " and the cause's text when
// there is a cause, which the description never repeats; errors.Is matches
// the kind and the cause.
func TestErrorFormat(t *testing.T) {
	if got, want := rejectf(ErrNonceGap, "nonce %d", 9).Error(), "nonce-gap: nonce 9"; got != want {
		t.Errorf("without cause: %q, want %q", got, want)
	}
	cause := &chain.RuleError{Kind: chain.ErrBadSignature, Description: "invalid transaction signature: r out of range"}
	wrapped := invalid(cause)
	if got, want := wrapped.Error(), "invalid transaction: invalid transaction signature: r out of range"; got != want {
		t.Errorf("with cause: %q, want %q", got, want)
	}
	var e *RuleError
	if !errors.As(wrapped, &e) || strings.Contains(e.Description, cause.Error()) {
		t.Errorf("description %q repeats the cause", e.Description)
	}
	if !errors.Is(wrapped, ErrInvalid) || !errors.Is(wrapped, chain.ErrBadSignature) {
		t.Error("errors.Is does not match the kind and the cause")
	}
}

package chain

import (
	"errors"
	"fmt"
)

// ErrorKind identifies a class of consensus-rule violation. Kinds are
// comparable with errors.Is against a *RuleError (or any error wrapping one):
//
//	if errors.Is(err, chain.ErrBadMerkleRoot) { ... }
type ErrorKind string

// Error implements error so that a kind can be the target of errors.Is.
func (k ErrorKind) Error() string { return string(k) }

// Rule error kinds. The comment after each says what it means for the block
// hash: "header" kinds are a property of the header (the hash is marked
// invalid once the block has a known parent), "body" kinds of a body the
// merkle root commits to (marked when found while connecting; found by the
// context-free CheckBlockSanity the block is simply refused, as that verdict
// is cheap to repeat), "mutated" kinds mean the body does not match its
// header (never marked: the honest block with the same hash must still be
// accepted), and "transient" kinds may pass later (never marked).
const (
	// Encoding.
	ErrMalformed ErrorKind = "malformed encoding" // mutated

	// Header rules.
	ErrBadBits         ErrorKind = "invalid compact target"                                    // header
	ErrHighHash        ErrorKind = "hash above target"                                         // header
	ErrUnexpectedBits  ErrorKind = "unexpected difficulty bits"                                // header
	ErrTimeTooOld      ErrorKind = "time not after median time past"                           // header
	ErrTimeTooNew      ErrorKind = "time too far in the future"                                // transient
	ErrBadVersion      ErrorKind = "unsupported block version"                                 // header
	ErrCheckpoint      ErrorKind = "block does not match genesis"                              // header
	ErrUnknownParent   ErrorKind = "parent block unknown"                                      // transient
	ErrLowWork         ErrorKind = "unrequested block on a branch with less work than the tip" // transient
	ErrInvalidAncestor ErrorKind = "block descends from invalid block"                         // header

	// Body rules the merkle root commits to.
	ErrNoTransactions    ErrorKind = "block has no transactions"                 // body
	ErrFirstNotCoinbase  ErrorKind = "first transaction is not a coinbase"       // body
	ErrMultipleCoinbases ErrorKind = "more than one coinbase"                    // body
	ErrBadCoinbaseHeight ErrorKind = "coinbase height does not match block"      // body
	ErrBadCoinbaseValue  ErrorKind = "coinbase pays more than subsidy plus fees" // body
	ErrBlockTooBig       ErrorKind = "block exceeds maximum size"                // body
	ErrDuplicateTx       ErrorKind = "duplicate transaction in block"            // body
	ErrBadMerkleRoot     ErrorKind = "merkle root mismatch"                      // mutated
	ErrMutatedMerkle     ErrorKind = "merkle tree is mutated (CVE-2012-2459)"    // mutated

	// Transaction rules.
	ErrWrongChainID    ErrorKind = "transaction for another chain"
	ErrBadSignature    ErrorKind = "invalid transaction signature"
	ErrHighS           ErrorKind = "signature S value is not low"
	ErrBadPubKey       ErrorKind = "invalid public key"
	ErrBadNonce        ErrorKind = "transaction nonce is not the sender's next nonce"
	ErrInsufficientBal ErrorKind = "sender balance does not cover amount plus fee"
	ErrAmountOverflow  ErrorKind = "amount overflow"
	ErrZeroAmount      ErrorKind = "transaction amount is zero"
	ErrMemoTooLong     ErrorKind = "memo too long"
	ErrTxTooBig        ErrorKind = "transaction too large"
	ErrSelfTransfer    ErrorKind = "transaction pays its own sender"
	ErrUnexpectedCoinb ErrorKind = "coinbase outside first position"

	// Engine.
	ErrDuplicateBlock ErrorKind = "block already known"
	ErrKnownInvalid   ErrorKind = "block is known to be invalid"
	ErrNotFound       ErrorKind = "not found"
	// ErrCorruptData: a stored block's data failed its integrity check
	// (store checksum, decoding, header hash or merkle root). It is damage
	// to this node's copy, not a property of the block: never marked, and
	// the block can be fetched again and stored with RepairBlock.
	ErrCorruptData ErrorKind = "stored block data corrupt"
)

// RuleError is a consensus-rule violation: a Kind for programmatic matching
// and a human-readable Description. It is immutable and safe for concurrent use.
type RuleError struct {
	Kind        ErrorKind
	Description string
}

// Error returns the description.
func (e *RuleError) Error() string { return e.Description }

// Unwrap returns the kind, so errors.Is(err, kind) matches.
func (e *RuleError) Unwrap() error { return e.Kind }

// ruleErr builds a *RuleError with a formatted description prefixed by the kind.
func ruleErr(kind ErrorKind, format string, args ...any) error {
	return &RuleError{Kind: kind, Description: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

// KindOf returns the ErrorKind wrapped by err, or "" if err carries none.
func KindOf(err error) ErrorKind {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Kind
	}
	var k ErrorKind
	if errors.As(err, &k) {
		return k
	}
	return ""
}

// marksInvalid reports whether a failure of this kind is a property of the
// block hash (header, or a body the merkle root commits to) so that the hash
// may be recorded as invalid. Mutations and transient failures never mark.
func marksInvalid(k ErrorKind) bool {
	switch k {
	case ErrMalformed, ErrBadMerkleRoot, ErrMutatedMerkle, ErrTimeTooNew,
		ErrUnknownParent, ErrLowWork, ErrDuplicateBlock, ErrNotFound, ErrCorruptData, "":
		return false
	}
	return true
}

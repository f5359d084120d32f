package chain

import (
	"encoding/binary"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// TxKind distinguishes the two transaction forms.
type TxKind uint8

const (
	// TxCoinbase is the first transaction of every block: it mints the
	// subsidy plus fees to the miner and carries the height and extra-nonce.
	TxCoinbase TxKind = 0
	// TxTransfer moves Amount from the signer's account to To and pays Fee.
	TxTransfer TxKind = 1
)

// Transaction size limits.
const (
	MaxMemoSize     = 80
	PubKeySize      = 33
	SignatureSize   = 64
	ExtraNonceSize  = 8
	transferFixed   = 1 + 4 + 8 + AddressSize + 8 + 8 + PubKeySize + SignatureSize // 146 + memo length field + memo
	coinbaseFixed   = 1 + 4 + 8 + AddressSize + 8 + ExtraNonceSize                 // 49 + memo length field + memo
	MaxTxSize       = transferFixed + 1 + MaxMemoSize
	MinTxSize       = coinbaseFixed + 1
	coinbaseENonceO = 1 + 4 + 8 + AddressSize + 8 // offset of the extra-nonce in a serialized coinbase
)

// sigHashTag domain-separates transaction signatures from every other use of
// the same keys. The signed message also commits to the chain ID.
const sigHashTag = "quarry/tx-sighash/v1\x00"

// Tx is a transaction in the account model. Which fields are meaningful
// depends on Kind:
//
//	transfer: ChainID, Nonce, To, Amount, Fee, Memo, PubKey, Sig
//	coinbase: ChainID, Height, To, Amount, ExtraNonce, Memo
//
// Serialized layouts (integers little-endian, memo length as CompactSize):
//
//	transfer: 0x01 | chain_id u32 | nonce u64 | to [20] | amount u64 | fee u64 | memo_len | memo | pubkey [33] | sig [64]
//	coinbase: 0x00 | chain_id u32 | height u64 | to [20] | amount u64 | extra_nonce [8] | memo_len | memo
//
// The coinbase extra-nonce is contiguous, with everything before (coinb1) and
// after (coinb2) fixed for a template. A Tx must not be mutated after it has
// been handed to the chain or mempool; reads are then safe for concurrent use.
type Tx struct {
	Kind       TxKind
	ChainID    uint32
	Nonce      uint64
	Height     uint64
	To         Address
	Amount     uint64
	Fee        uint64
	ExtraNonce [ExtraNonceSize]byte
	Memo       []byte
	PubKey     [PubKeySize]byte
	Sig        [SignatureSize]byte
}

// IsCoinbase reports whether tx is a coinbase.
func (tx *Tx) IsCoinbase() bool { return tx.Kind == TxCoinbase }

// SerializeSize returns the length of the canonical encoding.
func (tx *Tx) SerializeSize() int {
	m := len(tx.Memo)
	if tx.Kind == TxCoinbase {
		return coinbaseFixed + compactSizeLen(uint64(m)) + m
	}
	return transferFixed + compactSizeLen(uint64(m)) + m
}

// AppendTo appends the canonical encoding of tx to b.
func (tx *Tx) AppendTo(b []byte) []byte {
	b = tx.appendUnsigned(b)
	if tx.Kind == TxTransfer {
		b = append(b, tx.Sig[:]...)
	}
	return b
}

// appendUnsigned appends everything but the signature.
func (tx *Tx) appendUnsigned(b []byte) []byte {
	b = append(b, byte(tx.Kind))
	b = binary.LittleEndian.AppendUint32(b, tx.ChainID)
	if tx.Kind == TxCoinbase {
		b = binary.LittleEndian.AppendUint64(b, tx.Height)
		b = append(b, tx.To[:]...)
		b = binary.LittleEndian.AppendUint64(b, tx.Amount)
		b = append(b, tx.ExtraNonce[:]...)
		b = appendCompactSize(b, uint64(len(tx.Memo)))
		return append(b, tx.Memo...)
	}
	b = binary.LittleEndian.AppendUint64(b, tx.Nonce)
	b = append(b, tx.To[:]...)
	b = binary.LittleEndian.AppendUint64(b, tx.Amount)
	b = binary.LittleEndian.AppendUint64(b, tx.Fee)
	b = appendCompactSize(b, uint64(len(tx.Memo)))
	b = append(b, tx.Memo...)
	return append(b, tx.PubKey[:]...)
}

// Bytes returns the canonical encoding of tx.
func (tx *Tx) Bytes() []byte { return tx.AppendTo(make([]byte, 0, tx.SerializeSize())) }

// TxID returns SHA-256d of the canonical encoding.
func (tx *Tx) TxID() Hash { return DoubleSHA256(tx.Bytes()) }

// SigHash returns the domain-separated hash a transfer's signature covers:
// SHA-256d(tag || unsigned encoding), where the encoding includes the chain
// ID and the public key.
func (tx *Tx) SigHash() Hash {
	b := make([]byte, 0, len(sigHashTag)+tx.SerializeSize())
	b = append(b, sigHashTag...)
	return DoubleSHA256(tx.appendUnsigned(b))
}

// From returns the sender address of a transfer (derived from PubKey).
func (tx *Tx) From() Address { return AddressFromPubKey(tx.PubKey[:]) }

// CoinbaseParts splits a serialized coinbase around its extra-nonce: the
// bytes before it (stratum's coinb1) and after it (coinb2).
func (tx *Tx) CoinbaseParts() (coinb1, coinb2 []byte) {
	b := tx.Bytes()
	return b[:coinbaseENonceO], b[coinbaseENonceO+ExtraNonceSize:]
}

// Sign sets PubKey from key and signs the transfer. Signatures are RFC 6979
// deterministic and low-S.
func (tx *Tx) Sign(key *secp256k1.PrivateKey) {
	copy(tx.PubKey[:], key.PubKey().SerializeCompressed())
	h := tx.SigHash()
	sig := ecdsa.Sign(key, h[:])
	r, s := sig.R(), sig.S()
	r.PutBytesUnchecked(tx.Sig[:32])
	s.PutBytesUnchecked(tx.Sig[32:])
}

// VerifySignature checks the transfer's signature: a valid compressed public
// key, r and s in [1, n-1], s <= n/2 (low-S), and a valid ECDSA signature over
// SigHash. It is pure and safe for concurrent use.
func (tx *Tx) VerifySignature() error {
	pub, err := secp256k1.ParsePubKey(tx.PubKey[:])
	if err != nil || tx.PubKey[0] != 0x02 && tx.PubKey[0] != 0x03 {
		return ruleErr(ErrBadPubKey, "tx %s: public key is not a valid compressed secp256k1 point", tx.TxID())
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(tx.Sig[:32]) || r.IsZero() || s.SetByteSlice(tx.Sig[32:]) || s.IsZero() {
		return ruleErr(ErrBadSignature, "tx %s: signature scalar out of range", tx.TxID())
	}
	if s.IsOverHalfOrder() {
		return ruleErr(ErrHighS, "tx %s: signature S is above half the group order", tx.TxID())
	}
	h := tx.SigHash()
	if !ecdsa.NewSignature(&r, &s).Verify(h[:], pub) {
		return ruleErr(ErrBadSignature, "tx %s: signature does not verify", tx.TxID())
	}
	return nil
}

// CheckSanity applies the context-free rules of a transaction: kind, chain
// ID, size, memo length, non-zero amount, amount+fee overflow and no
// self-transfer. It does not verify the signature (see VerifySignature).
func (tx *Tx) CheckSanity(p *Params) error {
	if tx.ChainID != p.ChainID {
		return ruleErr(ErrWrongChainID, "tx chain id %d, network %s uses %d", tx.ChainID, p.Name, p.ChainID)
	}
	if len(tx.Memo) > MaxMemoSize {
		return ruleErr(ErrMemoTooLong, "memo is %d bytes, limit %d", len(tx.Memo), MaxMemoSize)
	}
	switch tx.Kind {
	case TxCoinbase:
		return nil
	case TxTransfer:
	default:
		return ruleErr(ErrMalformed, "unknown transaction kind %d", tx.Kind)
	}
	if tx.Amount == 0 {
		return ruleErr(ErrZeroAmount, "tx %s transfers nothing", tx.TxID())
	}
	if tx.Amount+tx.Fee < tx.Amount {
		return ruleErr(ErrAmountOverflow, "tx %s: amount %d + fee %d overflows", tx.TxID(), tx.Amount, tx.Fee)
	}
	if tx.To == tx.From() {
		return ruleErr(ErrSelfTransfer, "tx %s pays its own sender", tx.TxID())
	}
	return nil
}

// DecodeTx decodes exactly one canonical transaction from b.
func DecodeTx(b []byte) (*Tx, error) {
	if len(b) > MaxTxSize {
		return nil, ruleErr(ErrTxTooBig, "transaction is %d bytes, limit %d", len(b), MaxTxSize)
	}
	r := &reader{b: b}
	tx := decodeTx(r)
	r.end()
	if r.err != nil {
		return nil, r.err
	}
	return tx, nil
}

func decodeTx(r *reader) *Tx {
	tx := &Tx{Kind: TxKind(r.u8())}
	if r.err != nil {
		return nil
	}
	switch tx.Kind {
	case TxCoinbase, TxTransfer:
	default:
		r.fail("unknown transaction kind %d", tx.Kind)
		return nil
	}
	tx.ChainID = r.u32()
	if tx.Kind == TxCoinbase {
		tx.Height = r.u64()
		r.bytesInto(tx.To[:])
		tx.Amount = r.u64()
		r.bytesInto(tx.ExtraNonce[:])
		tx.Memo = readMemo(r)
		return tx
	}
	tx.Nonce = r.u64()
	r.bytesInto(tx.To[:])
	tx.Amount = r.u64()
	tx.Fee = r.u64()
	tx.Memo = readMemo(r)
	r.bytesInto(tx.PubKey[:])
	r.bytesInto(tx.Sig[:])
	return tx
}

func readMemo(r *reader) []byte {
	n := r.compactSize(MaxMemoSize, "memo")
	if n == 0 || r.err != nil {
		return nil
	}
	s := r.take(int(n))
	if s == nil {
		return nil
	}
	return append([]byte(nil), s...)
}

// String returns a short description for logs.
func (tx *Tx) String() string {
	if tx.IsCoinbase() {
		return fmt.Sprintf("coinbase(height=%d amount=%d)", tx.Height, tx.Amount)
	}
	return fmt.Sprintf("transfer(nonce=%d amount=%d fee=%d)", tx.Nonce, tx.Amount, tx.Fee)
}

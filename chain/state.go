package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Account is the state of one address: its balance in base units and the
// nonce its next transfer must carry. The zero Account is an address never
// seen; such accounts are not stored.
type Account struct {
	Balance uint64
	Nonce   uint64
}

func (a Account) isZero() bool { return a.Balance == 0 && a.Nonce == 0 }

func (a Account) bytes() []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[:8], a.Balance)
	binary.LittleEndian.PutUint64(b[8:], a.Nonce)
	return b
}

func decodeAccount(b []byte) (Account, error) {
	if len(b) != 16 {
		return Account{}, fmt.Errorf("%w: account record is %d bytes", ErrStoreCorrupted, len(b))
	}
	return Account{Balance: binary.LittleEndian.Uint64(b[:8]), Nonce: binary.LittleEndian.Uint64(b[8:])}, nil
}

// stateDigest is an incremental, order-independent digest of the whole account
// state: the sum modulo 2^256 of SHA-256("quarry/account" | address | balance |
// nonce) over every non-zero account, plus the account count. Two nodes with
// the same accounts have the same digest whatever blocks, reorgs or restarts
// led there; each account change updates it in O(1) (subtract the old leaf,
// add the new one). The published value is SHA-256d(sum | count).
type stateDigest struct {
	sum   [4]uint64 // little-endian limbs
	count uint64
}

func accountLeaf(addr Address, a Account) [4]uint64 {
	var buf [len("quarry/account") + AddressSize + 16]byte
	n := copy(buf[:], "quarry/account")
	n += copy(buf[n:], addr[:])
	binary.LittleEndian.PutUint64(buf[n:], a.Balance)
	binary.LittleEndian.PutUint64(buf[n+8:], a.Nonce)
	h := sha256.Sum256(buf[:])
	var l [4]uint64
	for i := range l {
		l[i] = binary.LittleEndian.Uint64(h[8*i:])
	}
	return l
}

func (d *stateDigest) add(l [4]uint64) {
	var c uint64
	for i := range d.sum {
		d.sum[i], c = bits.Add64(d.sum[i], l[i], c)
	}
}

func (d *stateDigest) sub(l [4]uint64) {
	var c uint64
	for i := range d.sum {
		d.sum[i], c = bits.Sub64(d.sum[i], l[i], c)
	}
}

// update moves the digest from old to new for addr.
func (d *stateDigest) update(addr Address, old, new Account) {
	if !old.isZero() {
		d.sub(accountLeaf(addr, old))
		d.count--
	}
	if !new.isZero() {
		d.add(accountLeaf(addr, new))
		d.count++
	}
}

func (d *stateDigest) bytes() []byte {
	b := make([]byte, 40)
	for i, l := range d.sum {
		binary.LittleEndian.PutUint64(b[8*i:], l)
	}
	binary.LittleEndian.PutUint64(b[32:], d.count)
	return b
}

func decodeDigest(b []byte) (stateDigest, error) {
	var d stateDigest
	if len(b) != 40 {
		return d, fmt.Errorf("%w: state digest record is %d bytes", ErrStoreCorrupted, len(b))
	}
	for i := range d.sum {
		d.sum[i] = binary.LittleEndian.Uint64(b[8*i:])
	}
	d.count = binary.LittleEndian.Uint64(b[32:])
	return d, nil
}

// value returns the published digest.
func (d *stateDigest) value() Hash { return DoubleSHA256(d.bytes()) }

// undoEntry records an account's state before a block touched it.
type undoEntry struct {
	addr Address
	prev Account
}

// encodeUndo serialises undo entries: count u32 | (addr | balance | nonce)*.
func encodeUndo(entries []undoEntry) []byte {
	b := make([]byte, 4, 4+len(entries)*(AddressSize+16))
	binary.LittleEndian.PutUint32(b, uint32(len(entries)))
	for _, e := range entries {
		b = append(b, e.addr[:]...)
		b = append(b, e.prev.bytes()...)
	}
	return b
}

func decodeUndo(b []byte) ([]undoEntry, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: short undo record", ErrStoreCorrupted)
	}
	n := binary.LittleEndian.Uint32(b)
	const sz = AddressSize + 16
	if uint64(len(b)-4) != uint64(n)*sz {
		return nil, fmt.Errorf("%w: undo record length %d does not match %d entries", ErrStoreCorrupted, len(b), n)
	}
	out := make([]undoEntry, n)
	for i := range out {
		off := 4 + i*sz
		copy(out[i].addr[:], b[off:off+AddressSize])
		out[i].prev, _ = decodeAccount(b[off+AddressSize : off+sz])
	}
	return out, nil
}

// stateView is the account state as seen while validating one block: reads
// fall through to the committed state, writes stay in an overlay until the
// block commits. It records the first prior value of every touched account
// for the undo record. Not safe for concurrent use.
type stateView struct {
	base    func(Address) (Account, error)
	overlay map[Address]Account
	undo    []undoEntry
}

func newStateView(base func(Address) (Account, error)) *stateView {
	return &stateView{base: base, overlay: make(map[Address]Account)}
}

func (v *stateView) get(a Address) (Account, error) {
	if acc, ok := v.overlay[a]; ok {
		return acc, nil
	}
	acc, err := v.base(a)
	if err != nil {
		return Account{}, err
	}
	v.overlay[a] = acc
	v.undo = append(v.undo, undoEntry{addr: a, prev: acc})
	return acc, nil
}

func (v *stateView) set(a Address, acc Account) { v.overlay[a] = acc }

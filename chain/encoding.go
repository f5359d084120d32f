package chain

import (
	"encoding/binary"
	"fmt"
)

// The canonical binary encoding: fixed-width little-endian integers for
// amounts, nonces and heights, and Bitcoin's CompactSize for counts and
// lengths. Decoders reject non-minimal CompactSize values, oversize fields
// and trailing bytes, so every value has exactly one encoding.

// appendCompactSize appends Bitcoin's CompactSize encoding of v.
func appendCompactSize(b []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(b, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(b, 0xff), v)
	}
}

// compactSizeLen returns the encoded length of v.
func compactSizeLen(v uint64) int {
	switch {
	case v < 0xfd:
		return 1
	case v <= 0xffff:
		return 3
	case v <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// reader decodes the canonical encoding from a byte slice. The first error
// sticks; later reads return zero values.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at offset %d", ErrMalformed, fmt.Sprintf(format, args...), r.off)
	}
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.fail("unexpected end of data (need %d bytes)", n)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

func (r *reader) u8() uint8 {
	s := r.take(1)
	if s == nil {
		return 0
	}
	return s[0]
}

func (r *reader) u32() uint32 {
	s := r.take(4)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint32(s)
}

func (r *reader) u64() uint64 {
	s := r.take(8)
	if s == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(s)
}

func (r *reader) bytesInto(dst []byte) {
	if s := r.take(len(dst)); s != nil {
		copy(dst, s)
	}
}

// compactSize reads a minimal CompactSize no larger than max.
func (r *reader) compactSize(max uint64, what string) uint64 {
	d := r.u8()
	if r.err != nil {
		return 0
	}
	var v, min uint64
	switch d {
	case 0xfd:
		s := r.take(2)
		if s == nil {
			return 0
		}
		v, min = uint64(binary.LittleEndian.Uint16(s)), 0xfd
	case 0xfe:
		s := r.take(4)
		if s == nil {
			return 0
		}
		v, min = uint64(binary.LittleEndian.Uint32(s)), 0x10000
	case 0xff:
		s := r.take(8)
		if s == nil {
			return 0
		}
		v, min = binary.LittleEndian.Uint64(s), 0x100000000
	default:
		v = uint64(d)
	}
	if v < min {
		r.fail("non-minimal %s length encoding", what)
		return 0
	}
	if v > max {
		r.fail("%s length %d exceeds limit %d", what, v, max)
		return 0
	}
	return v
}

// end fails if bytes remain.
func (r *reader) end() {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d trailing bytes", len(r.b)-r.off)
	}
}

package p2p

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"math/big"

	"github.com/quarrychain/quarry/chain"
)

// Sync-protocol wire format. Every stream carries length-prefixed frames:
//
//	frame   = length u32 (big-endian, counts type+payload, >= 1) | type u8 | payload
//
// A reader gives each read a hard cap; a length above it is ErrFrameTooLarge
// and nothing more is read. Payloads (integers little-endian like the
// consensus encoding) decode strictly: exact lengths, no trailing bytes.
//
//	status     = version u32 | genesis [32] | tip [32] | height u64 | worklen u8 | work (big-endian, minimal, <= 64 bytes)
//	getheaders = count u8 (1..maxLocator) | count x hash [32] | stop [32] | max u16 (1..MaxHeadersPerReply)
//	headers    = count u16 (0..MaxHeadersPerReply) | count x header [80]
//	getblocks  = count u16 (1..MaxBlocksPerRequest) | count x hash [32]
//	block      = canonical block encoding
//	notfound   = hash [32]
const (
	msgStatus     byte = 1
	msgGetHeaders byte = 2
	msgHeaders    byte = 3
	msgGetBlocks  byte = 4
	msgBlock      byte = 5
	msgNotFound   byte = 6
)

// Protocol limits.
const (
	// ProtocolVersion is the sync protocol version carried in status.
	ProtocolVersion = 1
	// MaxHeadersPerReply bounds a headers reply.
	MaxHeadersPerReply = 2000
	// MaxBlocksPerRequest bounds a getblocks request.
	MaxBlocksPerRequest = 64
	// maxLocator bounds a block locator (Bitcoin uses at most 101 entries).
	maxLocator = 101
	// maxWorkBytes bounds the encoded chain work.
	maxWorkBytes = 64

	frameHeaderLen = 4
	// maxRequestFrame caps any request (status, getheaders, getblocks).
	maxRequestFrame = 1 + 1 + maxLocator*32 + 32 + 2 + 64
	// maxStatusFrame caps a status reply.
	maxStatusFrame = 1 + 4 + 32 + 32 + 8 + 1 + maxWorkBytes
	// maxHeadersFrame caps a headers reply.
	maxHeadersFrame = 1 + 2 + MaxHeadersPerReply*chain.HeaderSize
	// maxServeBytes bounds the block bytes one getblocks reply carries; the
	// server stops early and the client asks again for the rest.
	maxServeBytes = 16 << 20
)

// maxBlockFrame returns the cap of a block frame for the given params.
func maxBlockFrame(p *chain.Params) int {
	n := p.MaxBlockSize
	if n <= 0 || n > chain.MaxBlockSizeLimit {
		n = chain.MaxBlockSizeLimit
	}
	return 1 + n
}

// writeFrame writes one frame. To a *bufio.Writer (a server's reply) the
// frame header and the payload are written in turn, so that a block is not
// copied into a frame buffer first; to anything else, in one Write.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	bw, ok := w.(*bufio.Writer)
	if !ok {
		_, err := w.Write(newFrame(typ, payload))
		return err
	}
	var hdr [frameHeaderLen + 1]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(1+len(payload)))
	hdr[frameHeaderLen] = typ
	if _, err := bw.Write(hdr[:]); err != nil {
		return err
	}
	_, err := bw.Write(payload)
	return err
}

// newFrame returns payload framed as one message of type typ, in a buffer
// of the frame's size.
func newFrame(typ byte, payload []byte) []byte {
	return appendFrame(make([]byte, 0, frameHeaderLen+1+len(payload)), typ, payload)
}

// appendFrame appends payload framed as one message of type typ to b.
func appendFrame(b []byte, typ byte, payload []byte) []byte {
	l := uint32(1 + len(payload))
	b = append(b, byte(l>>24), byte(l>>16), byte(l>>8), byte(l), typ)
	return append(b, payload...)
}

// readFrame reads one frame whose type+payload is at most maxLen bytes. A
// clean end of stream before the first byte returns io.EOF; a length above
// maxLen returns ErrFrameTooLarge; a zero length ErrMalformed; a stream that
// ends inside a frame returns io.ErrUnexpectedEOF (a transport failure, not
// necessarily the peer's fault).
func readFrame(r io.Reader, maxLen int) (byte, []byte, error) {
	typ, payload, _, err := readFrameInto(r, maxLen, nil)
	return typ, payload, err
}

// readFrameInto is readFrame reading into buf when the frame fits in its
// capacity (else into a new buffer); it also returns the buffer used, for
// the next frame. The payload is valid until buf is reused.
func readFrameInto(r io.Reader, maxLen int, buf []byte) (byte, []byte, []byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 {
		return 0, nil, buf, newErr(ErrMalformed, "empty frame")
	}
	if uint64(n) > uint64(maxLen) {
		return 0, nil, buf, newErr(ErrFrameTooLarge, "frame of %d bytes, limit %d", n, maxLen)
	}
	if uint64(cap(buf)) < uint64(n) {
		buf = make([]byte, n)
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, buf, err
	}
	return body[0], body[1:], buf, nil
}

// Status is what a peer says about its chain in the status exchange.
type Status struct {
	Version   uint32
	Genesis   chain.Hash
	Tip       chain.Hash
	Height    uint64
	ChainWork *big.Int
}

func encodeStatus(s Status) []byte {
	var work []byte
	if s.ChainWork != nil && s.ChainWork.Sign() > 0 {
		work = s.ChainWork.Bytes()
	}
	if len(work) > maxWorkBytes {
		work = work[len(work)-maxWorkBytes:] // unreachable for real chains
	}
	b := make([]byte, 0, 4+32+32+8+1+len(work))
	b = binary.LittleEndian.AppendUint32(b, s.Version)
	b = append(b, s.Genesis[:]...)
	b = append(b, s.Tip[:]...)
	b = binary.LittleEndian.AppendUint64(b, s.Height)
	b = append(b, byte(len(work)))
	return append(b, work...)
}

func decodeStatus(b []byte) (Status, error) {
	var s Status
	const fixed = 4 + 32 + 32 + 8 + 1
	if len(b) < fixed {
		return s, newErr(ErrMalformed, "status of %d bytes", len(b))
	}
	s.Version = binary.LittleEndian.Uint32(b)
	copy(s.Genesis[:], b[4:36])
	copy(s.Tip[:], b[36:68])
	s.Height = binary.LittleEndian.Uint64(b[68:76])
	wl := int(b[76])
	if wl > maxWorkBytes || len(b) != fixed+wl {
		return s, newErr(ErrMalformed, "status work length %d in %d bytes", wl, len(b))
	}
	work := b[fixed:]
	if wl > 0 && work[0] == 0 {
		return s, newErr(ErrMalformed, "status work is not minimally encoded")
	}
	s.ChainWork = new(big.Int).SetBytes(work)
	return s, nil
}

// getHeaders asks for main-chain headers after the first locator hash the
// server knows, up to Max or Stop.
type getHeaders struct {
	Locator []chain.Hash
	Stop    chain.Hash
	Max     int
}

func encodeGetHeaders(g getHeaders) []byte {
	loc := g.Locator
	if len(loc) > maxLocator {
		loc = loc[:maxLocator]
	}
	b := make([]byte, 0, 1+32*len(loc)+32+2)
	b = append(b, byte(len(loc)))
	for _, h := range loc {
		b = append(b, h[:]...)
	}
	b = append(b, g.Stop[:]...)
	return binary.LittleEndian.AppendUint16(b, uint16(g.Max))
}

func decodeGetHeaders(b []byte) (getHeaders, error) {
	var g getHeaders
	if len(b) < 1 {
		return g, newErr(ErrMalformed, "empty getheaders")
	}
	n := int(b[0])
	if n == 0 || n > maxLocator {
		return g, newErr(ErrMalformed, "locator of %d hashes", n)
	}
	if len(b) != 1+32*n+32+2 {
		return g, newErr(ErrMalformed, "getheaders of %d bytes for %d hashes", len(b), n)
	}
	g.Locator = make([]chain.Hash, n)
	for i := range g.Locator {
		copy(g.Locator[i][:], b[1+32*i:])
	}
	off := 1 + 32*n
	copy(g.Stop[:], b[off:off+32])
	g.Max = int(binary.LittleEndian.Uint16(b[off+32:]))
	if g.Max == 0 || g.Max > MaxHeadersPerReply {
		return g, newErr(ErrMalformed, "getheaders max %d", g.Max)
	}
	return g, nil
}

func encodeHeaders(hs []chain.Header) []byte {
	b := make([]byte, 0, 2+len(hs)*chain.HeaderSize)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hs)))
	for i := range hs {
		hb := hs[i].Bytes()
		b = append(b, hb[:]...)
	}
	return b
}

func decodeHeaders(b []byte) ([]chain.Header, error) {
	if len(b) < 2 {
		return nil, newErr(ErrMalformed, "headers reply of %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n > MaxHeadersPerReply || len(b) != 2+n*chain.HeaderSize {
		return nil, newErr(ErrMalformed, "headers reply of %d bytes for %d headers", len(b), n)
	}
	hs := make([]chain.Header, n)
	for i := range hs {
		off := 2 + i*chain.HeaderSize
		h, err := chain.DecodeHeader(b[off : off+chain.HeaderSize])
		if err != nil {
			return nil, wrapErr(ErrMalformed, err, "header %d", i)
		}
		hs[i] = h
	}
	return hs, nil
}

func encodeHashes(hs []chain.Hash) []byte {
	b := make([]byte, 0, 2+32*len(hs))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func decodeGetBlocks(b []byte) ([]chain.Hash, error) {
	if len(b) < 2 {
		return nil, newErr(ErrMalformed, "getblocks of %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n == 0 || n > MaxBlocksPerRequest || len(b) != 2+32*n {
		return nil, newErr(ErrMalformed, "getblocks of %d bytes for %d hashes", len(b), n)
	}
	hs := make([]chain.Hash, n)
	for i := range hs {
		copy(hs[i][:], b[2+32*i:])
	}
	return hs, nil
}

func decodeNotFound(b []byte) (chain.Hash, error) {
	var h chain.Hash
	if len(b) != 32 {
		return h, newErr(ErrMalformed, "notfound of %d bytes", len(b))
	}
	copy(h[:], b)
	return h, nil
}

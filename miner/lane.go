package miner

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner/kernel"
)

// Extra-nonce layout (8 bytes, see doc.go):
//
//	bytes 0..1  lane id, big-endian: background worker i uses lane i,
//	            GenerateBlocks thread i uses genLaneBase|i
//	bytes 2..3  salt of this Miner (Config.ExtraNonceSalt or random)
//	bytes 4..7  per-lane counter, big-endian, bumped whenever the lane
//	            adopts a template or exhausts the 32-bit nonce space
//
// Lanes never share an extra-nonce, so no two workers ever hash the same
// header, and the counter never repeats within a template.
const genLaneBase = 0x8000

// fullNonceSpace is the number of header nonces per extra-nonce.
const fullNonceSpace = 1 << 32

// makeExtraNonce encodes the extra-nonce of a lane.
func makeExtraNonce(lane, salt uint16, counter uint32) [chain.ExtraNonceSize]byte {
	var en [chain.ExtraNonceSize]byte
	binary.BigEndian.PutUint16(en[0:2], lane)
	binary.BigEndian.PutUint16(en[2:4], salt)
	binary.BigEndian.PutUint32(en[4:8], counter)
	return en
}

// lane is the private search state of one worker: its extra-nonce space,
// the coinbase bytes it rewrites, the kernel job and the next nonce. A lane
// is owned by one goroutine; nothing in it is shared.
type lane struct {
	id, salt uint16
	counter  *uint32 // persists across goroutines of the same worker slot
	space    uint64  // nonces per extra-nonce (fullNonceSpace; smaller in tests)

	tmpl *Template
	cb   []byte // Coinb1 | extra-nonce | Coinb2
	en   [chain.ExtraNonceSize]byte
	ts   uint32
	job  kernel.Job
	prep *kernel.Prepared
	next uint64 // offset of the next nonce to try in [0, space)

	onPrepare func(l *lane) // test hook, called after every Prepare
}

// adopt switches the lane to template t with a fresh extra-nonce.
func (l *lane) adopt(t *Template, now time.Time) {
	l.tmpl = t
	l.cb = append(l.cb[:0], t.Coinb1...)
	l.cb = append(l.cb, make([]byte, chain.ExtraNonceSize)...)
	l.cb = append(l.cb, t.Coinb2...)
	l.bump(now)
}

// bump moves to the next extra-nonce: it recomputes only the coinbase hash
// and the merkle path (MerkleRootFromBranch), rolls the header time forward
// to max(now, MinTime) and prepares a new kernel job.
func (l *lane) bump(now time.Time) {
	t := l.tmpl
	*l.counter++
	l.en = makeExtraNonce(l.id, l.salt, *l.counter)
	copy(l.cb[len(t.Coinb1):], l.en[:])
	root := chain.MerkleRootFromBranch(chain.DoubleSHA256(l.cb), t.Branch)
	l.ts = t.RollTime(now)
	h := t.Block.Header
	h.MerkleRoot, h.Timestamp, h.Nonce = root, l.ts, 0
	l.job = kernel.Job{Header: h.Bytes(), Target: t.TargetLE}
	l.prep = kernel.Prepare(&l.job)
	l.next = 0
	if l.onPrepare != nil {
		l.onPrepare(l)
	}
}

// search hashes up to n nonces from the lane's next one, never past the end
// of the nonce space. tried counts the nonces hashed (up to and including a
// hit).
func (l *lane) search(k kernel.Kernel, n uint64) (nonce uint32, found bool, tried uint64) {
	n = min(n, l.space-l.next)
	nonce, found, tried = k.Search(l.prep, uint32(l.next), n)
	l.next += tried
	return nonce, found, tried
}

// exhausted reports whether the lane has tried every nonce of its extra-nonce.
func (l *lane) exhausted() bool { return l.next >= l.space }

// block builds the block for a kernel hit and verifies it with the
// reference hash (crypto/sha256 through chain.Header.BlockHash) against the
// template's target. A failure means a kernel bug and is reported, never
// submitted.
func (l *lane) block(nonce uint32) (*chain.Block, error) {
	t := l.tmpl
	blk := t.MakeBlock(l.en, l.ts, nonce)
	want := l.job.Header
	binary.LittleEndian.PutUint32(want[76:], nonce)
	if blk.Header.Bytes() != want {
		return nil, fmt.Errorf("kernel job header does not match the template's block at nonce %d", nonce)
	}
	h := blk.Header.BlockHash()
	if chain.HashToBig(h).Cmp(t.Target) > 0 {
		return nil, fmt.Errorf("kernel reported nonce %d but hash %s is above target %08x", nonce, h, t.Bits)
	}
	return blk, nil
}

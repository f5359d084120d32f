package kernel

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// genesisHeader is Bitcoin's genesis block header (nonce 2083236893).
const genesisHeaderHex = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"

const genesisNonce = 2083236893

// difficulty1Target is bits 0x1d00ffff: 0x00000000FFFF0000...0000 as a
// big-endian number, here little-endian like the hash.
func difficulty1Target() (t [32]byte) {
	t[26], t[27] = 0xff, 0xff
	return t
}

func genesisJob() Job {
	var j Job
	b, err := hex.DecodeString(genesisHeaderHex)
	if err != nil || len(b) != 80 {
		panic("bad genesis header")
	}
	copy(j.Header[:], b)
	j.Target = difficulty1Target()
	return j
}

// referenceSearch is the naive search: one crypto/sha256 double hash per
// nonce, full compare.
func referenceSearch(j *Job, start uint32, count uint64) (uint32, bool, uint64) {
	h := j.Header
	for i := uint64(0); i < count; i++ {
		n := start + uint32(i)
		binary.LittleEndian.PutUint32(h[76:], n)
		d := HashHeader(&h)
		if lessOrEqual(&d, &j.Target) {
			return n, true, i + 1
		}
	}
	return 0, false, count
}

// splitmix64 is a tiny deterministic generator for test headers.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (s *splitmix64) fill(b []byte) {
	for i := range b {
		if i%8 == 0 {
			v := s.next()
			for k := i; k < len(b) && k < i+8; k++ {
				b[k] = byte(v >> (8 * (k - i)))
			}
		}
	}
}

// exactOneJob returns a job and a start nonce such that, among nonces
// start .. start+span-1, exactly the one at position pos has a hash <= the
// target (the target is that nonce's exact hash, which is the minimum of a
// 96-nonce range around the window). Starts fall near the 2^32 wrap when
// nearWrap is set. span must be <= 48.
func exactOneJob(rng *splitmix64, pos, span int, nearWrap bool) (Job, uint32) {
	const R = 96
	for {
		var j Job
		rng.fill(j.Header[:])
		base := uint32(rng.next())
		if nearWrap {
			base = 0xffffffc0 + uint32(rng.next()%48)
		}
		h := j.Header
		best, bestI := [32]byte{}, -1
		for i := 0; i < R; i++ {
			binary.LittleEndian.PutUint32(h[76:], base+uint32(i))
			d := HashHeader(&h)
			if bestI < 0 || !lessOrEqual(&best, &d) {
				best, bestI = d, i
			}
		}
		if bestI-pos >= 0 && bestI-pos+span <= R {
			j.Target = best
			return j, base + uint32(bestI-pos)
		}
	}
}

// selfTest runs a few known-answer searches on k and compares them with the
// reference; Available() lists an assembly kernel only if it passes. It
// costs about a millisecond.
func selfTest(k Kernel) error {
	g := genesisJob()
	if n, ok, tried := k.Search(Prepare(&g), genesisNonce-37, 100); !ok || n != genesisNonce || tried != 38 {
		return fmt.Errorf("%s: genesis search = (%d, %v, %d)", k.Name(), n, ok, tried)
	}
	rng := splitmix64(1)
	for pos := 0; pos < 17; pos++ {
		j, start := exactOneJob(&rng, pos, 24, pos%2 == 0)
		count := uint64(pos + 1 + pos%5)
		if n, ok, t := k.Search(Prepare(&j), start, count); n != start+uint32(pos) || !ok || t != uint64(pos+1) {
			return fmt.Errorf("%s: pos %d: got (%d, %v, %d), want (%d, true, %d)", k.Name(), pos, n, ok, t, start+uint32(pos), pos+1)
		}
		if n, ok, t := k.Search(Prepare(&j), start, uint64(pos)); ok || t != uint64(pos) {
			return fmt.Errorf("%s: pos %d, count %d: got (%d, %v, %d), want not found", k.Name(), pos, pos, n, ok, t)
		}
	}
	return nil
}

package stratum

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

// Bitcoin block 100,000, in the form a pool sends it. The coinbase split
// and merkle branch are the mining.notify decomposition of that block used
// in the Bitaxe ESP-Miner project's job-construction example (itself taken
// from a Kano pool notify); the header fields are the block's. The byte
// orders are the ones miners apply in practice: cpuminer's
// stratum_gen_work (pooler/cpuminer and its forks) reads version, every
// prevhash word, ntime and nbits with le32dec into a big-endian-word header
// buffer and copies the merkle root as bytes; the notify examples in
// slush pool's stratum documentation and on bitcoin.stackexchange ("sample
// worked stratum example") show the prevhash with its eight words swapped
// (the trailing 00000000 word of a hash that starts with zeros).
const (
	b100kPrevDisplay  = "000000000002d01c1fccc21636b607dfd930d31d01c3a62104612a1719011250"
	b100kPrevStratum  = "1901125004612a1701c3a621d930d31d36b607df1fccc2160002d01c00000000"
	b100kCoinb1       = "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff08044c86041b"
	b100kExtranonce1  = "02"
	b100kExtranonce2  = "0602"
	b100kCoinb2       = "ffffffff0100f2052a010000004341041b0e8c2567c12536aa13357b79a073dc4444acb83c4ec7a0e2f99dd7457516c5817242da796924ca4e99947d087fedf9ce467cb9f7c6287078f801df276fdf84ac00000000"
	b100kCoinbaseTxID = "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87"
	b100kMerkleRoot   = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
	b100kVersion      = "00000001"
	b100kNbits        = "1b04864c" // 453281356
	b100kNtime        = "4d1b2237" // 1293623863
	b100kNonce        = "10572b0f" // 274148111, as mining.submit carries it
	b100kHash         = "000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506"
	b100kBranch0      = "c40297f730dd7b5a99567eb8d27b78758f607507c52292d02d4031895b52f2ff"
	b100kBranch1      = "49aef42d78e3e9999c9e6ec9e1dddd6cb880bf3b076a03be1318ca789089308e"
	b100kBranch0TxID  = "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4"
	b100kVersionValue = 1
	b100kNbitsValue   = 453281356
	b100kNtimeValue   = 1293623863
	b100kNonceValue   = 274148111
)

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformanceEncoding checks the server's encoders against block
// 100,000 in stratum form.
func TestConformanceEncoding(t *testing.T) {
	prev, err := chain.ParseHash(b100kPrevDisplay)
	if err != nil {
		t.Fatal(err)
	}
	if got := PrevHashHex(prev); got != b100kPrevStratum {
		t.Fatalf("prevhash %s, want %s", got, b100kPrevStratum)
	}
	if back, err := ParsePrevHashHex(b100kPrevStratum); err != nil || back != prev {
		t.Fatalf("ParsePrevHashHex: %s, %v", back, err)
	}
	for _, c := range []struct {
		v    uint32
		want string
	}{{b100kVersionValue, b100kVersion}, {b100kNbitsValue, b100kNbits}, {b100kNtimeValue, b100kNtime}, {b100kNonceValue, b100kNonce}} {
		if got := Uint32Hex(c.v); got != c.want {
			t.Errorf("Uint32Hex(%d) = %s, want %s", c.v, got, c.want)
		}
		if back, err := ParseUint32Hex(c.want); err != nil || back != c.v {
			t.Errorf("ParseUint32Hex(%s) = %d, %v", c.want, back, err)
		}
	}
	// A branch entry is a txid in internal byte order (not the display
	// order of RPC).
	id, _ := chain.ParseHash(b100kBranch0TxID)
	if got := BranchHex([]chain.Hash{id})[0]; got != b100kBranch0 {
		t.Fatalf("branch %s, want %s", got, b100kBranch0)
	}
}

// TestConformanceHeader rebuilds block 100,000's header from the notify
// fields and the submitted values the way a miner does (independently of
// the server's helpers) and checks the hash, then checks that the server's
// share path (HeaderFor over a template with the same coinbase split and
// branch) agrees byte for byte.
func TestConformanceHeader(t *testing.T) {
	coinbase := bytes.Join([][]byte{mustHex(t, b100kCoinb1), mustHex(t, b100kExtranonce1), mustHex(t, b100kExtranonce2), mustHex(t, b100kCoinb2)}, nil)
	root := chain.DoubleSHA256(coinbase)
	if root.String() != b100kCoinbaseTxID {
		t.Fatalf("coinbase txid %s, want %s", root, b100kCoinbaseTxID)
	}
	for _, br := range []string{b100kBranch0, b100kBranch1} {
		root = chain.DoubleSHA256(append(root[:], mustHex(t, br)...))
	}
	if root.String() != b100kMerkleRoot {
		t.Fatalf("merkle root %s, want %s", root, b100kMerkleRoot)
	}
	// cpuminer: data[0] = le32dec(version bytes), data[1+i] = le32dec(prevhash
	// word i), data[9+i] = be32dec(root word i), data[17] = le32dec(ntime),
	// data[18] = le32dec(nbits), data[19] = nonce; the header bytes are
	// the big-endian encoding of those words.
	var words [20]uint32
	words[0] = binary.LittleEndian.Uint32(mustHex(t, b100kVersion))
	ph := mustHex(t, b100kPrevStratum)
	for i := 0; i < 8; i++ {
		words[1+i] = binary.LittleEndian.Uint32(ph[4*i:])
		words[9+i] = binary.BigEndian.Uint32(root[4*i:])
	}
	words[17] = binary.LittleEndian.Uint32(mustHex(t, b100kNtime))
	words[18] = binary.LittleEndian.Uint32(mustHex(t, b100kNbits))
	// The submitted nonce is big-endian hex of the header's little-endian
	// nonce: cpuminer sends le32enc(data[19]) as hex.
	words[19] = binary.LittleEndian.Uint32(mustHex(t, b100kNonce))
	var hdr [80]byte
	for i, w := range words {
		binary.BigEndian.PutUint32(hdr[4*i:], w)
	}
	if h := chain.DoubleSHA256(hdr[:]); h.String() != b100kHash {
		t.Fatalf("header hash %s, want block 100,000 %s", h, b100kHash)
	}

	// The server side: parse the submitted fields as mining.submit gives
	// them and build the header with chain.Header.
	prev, _ := ParsePrevHashHex(b100kPrevStratum)
	ntime, _ := ParseUint32Hex(b100kNtime)
	nonce, _ := ParseUint32Hex(b100kNonce)
	bits, _ := ParseUint32Hex(b100kNbits)
	ver, _ := ParseUint32Hex(b100kVersion)
	h := chain.Header{Version: ver, PrevBlock: prev, MerkleRoot: root, Timestamp: ntime, Bits: bits, Nonce: nonce}
	if h.Bytes() != hdr {
		t.Fatalf("server header\n%x\nminer header\n%x", h.Bytes(), hdr)
	}
	if h.BlockHash().String() != b100kHash {
		t.Fatal("server header hash differs")
	}
	// The proof of work of block 100,000 meets its own target and a share
	// of difficulty 1 (it is a difficulty-14484 block).
	target, _ := chain.CompactToBig(bits)
	hash := h.BlockHash()
	tle := chain.TargetBytesLE(target)
	d1 := chain.TargetBytesLE(TargetForDifficulty(1))
	if !meetsLE(&hash, &tle) || !meetsLE(&hash, &d1) {
		t.Fatal("block 100,000 does not meet its target with meetsLE")
	}
	if d := DifficultyForTarget(target); d < 14484.16 || d > 14484.17 {
		t.Fatalf("difficulty of bits %08x = %v, want 14484.16", bits, d)
	}
}

func TestDifficultyTargets(t *testing.T) {
	want1, _ := new(big.Int).SetString("00000000ffff0000000000000000000000000000000000000000000000000000", 16)
	if TargetForDifficulty(1).Cmp(want1) != 0 {
		t.Fatalf("difficulty 1 target %x", TargetForDifficulty(1))
	}
	// Fractional difficulties: 1/65536 is the dev network's PoW limit
	// (bits 0x1f00ffff).
	dev, _ := chain.CompactToBig(0x1f00ffff)
	if TargetForDifficulty(1.0/65536).Cmp(dev) != 0 {
		t.Fatalf("difficulty 2^-16 target %x, want %x", TargetForDifficulty(1.0/65536), dev)
	}
	if d := DifficultyForTarget(dev); d != 1.0/65536 {
		t.Fatalf("dev limit difficulty %v", d)
	}
	if TargetForDifficulty(1e-30).Cmp(maxTarget) != 0 || TargetForDifficulty(0).Cmp(maxTarget) != 0 {
		t.Fatal("tiny difficulties must give the largest target")
	}
	// Never harder than the network.
	reg, _ := chain.CompactToBig(0x207fffff)
	st := newShareTarget(1, reg, 1e-12)
	if st.le != chain.TargetBytesLE(reg) || st.diff >= 1e-9 {
		t.Fatalf("share target above regtest target: diff %v", st.diff)
	}
	// ... unless the network is easier than the lowest share difficulty:
	// then the share difficulty is at least that and has no ceiling.
	if st := newShareTarget(1e-12, reg, 1.0/65536); st.diff != 1.0/65536 || st.le != chain.TargetBytesLE(dev) {
		t.Fatalf("regtest share difficulty below the floor: %v", st.diff)
	}
	if st := newShareTarget(2, reg, 1.0/65536); st.diff != 2 || st.le != chain.TargetBytesLE(TargetForDifficulty(2)) {
		t.Fatalf("regtest share difficulty 2 clamped: %v", st.diff)
	}
	// A network at the floor (the dev PoW limit) still clamps.
	if st := newShareTarget(1, dev, 1.0/65536); st.diff != 1.0/65536 {
		t.Fatalf("dev share difficulty %v, want the network's", st.diff)
	}
	if DifficultyJSON(1.0/65536) != "1.52587890625e-05" || DifficultyJSON(32) != "32" {
		t.Fatalf("difficulty JSON %s %s", DifficultyJSON(1.0/65536), DifficultyJSON(32))
	}
}

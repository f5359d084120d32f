package chain

// MerkleRoot computes Bitcoin's merkle root over the given leaf hashes: each
// level hashes adjacent pairs with SHA-256d, pairing the last hash with itself
// when a level is odd. mutated reports whether any level paired two identical
// hashes at positions i, i+1 (CVE-2012-2459): such a list has the same root as
// a shorter one, so a block whose computation reports mutated is rejected
// without marking its hash invalid. An empty list has the zero root.
func MerkleRoot(leaves []Hash) (root Hash, mutated bool) {
	if len(leaves) == 0 {
		return ZeroHash, false
	}
	level := append([]Hash(nil), leaves...)
	var buf [2 * HashSize]byte
	for len(level) > 1 {
		for i := 0; i+1 < len(level); i += 2 {
			if level[i] == level[i+1] {
				mutated = true
			}
		}
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			copy(buf[:HashSize], level[i][:])
			copy(buf[HashSize:], level[i+1][:])
			next = append(next, DoubleSHA256(buf[:]))
		}
		level = next
	}
	return level[0], mutated
}

// MerkleBranch returns the sibling hashes on the path from the first leaf (the
// coinbase) to the root, bottom first: the branch a miner (or a stratum
// client) combines with a new coinbase hash to get the new root.
func MerkleBranch(leaves []Hash) []Hash {
	var branch []Hash
	level := append([]Hash(nil), leaves...)
	var buf [2 * HashSize]byte
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		branch = append(branch, level[1])
		next := level[:0]
		for i := 0; i < len(level); i += 2 {
			copy(buf[:HashSize], level[i][:])
			copy(buf[HashSize:], level[i+1][:])
			next = append(next, DoubleSHA256(buf[:]))
		}
		level = next
	}
	return branch
}

// MerkleRootFromBranch folds a first-leaf hash with its branch (from
// MerkleBranch) into the root.
func MerkleRootFromBranch(leaf Hash, branch []Hash) Hash {
	var buf [2 * HashSize]byte
	h := leaf
	for _, s := range branch {
		copy(buf[:HashSize], h[:])
		copy(buf[HashSize:], s[:])
		h = DoubleSHA256(buf[:])
	}
	return h
}

package lab

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/wallet"
)

// Deterministic identities. Every key of a lab is derived from the lab's
// seed string with SHA-256 over a domain-separated label, so the same seed
// gives the same peer IDs, miner addresses and sink addresses on every run
// and every machine:
//
//	p2p identity of node i:  Ed25519 seed = SHA-256("quarry-devnet/p2p/v1" ‖ 0 ‖ seed ‖ 0 ‖ i)
//	miner key of node i:     secp256k1 scalar = SHA-256("quarry-devnet/miner/v1" ‖ 0 ‖ seed ‖ 0 ‖ i ‖ counter)
//	sink j:                  the same with the label "quarry-devnet/sink/v1"
//
// (counter starts at 0 and only grows in the astronomically rare case of
// a digest that is not a valid scalar). These keys guard nothing: they
// are for a local devnet only.

func derive(label, seed string, index, counter uint32) [32]byte {
	var b bytes.Buffer
	b.WriteString(label)
	b.WriteByte(0)
	b.WriteString(seed)
	b.WriteByte(0)
	var n [8]byte
	binary.BigEndian.PutUint32(n[:4], index)
	binary.BigEndian.PutUint32(n[4:], counter)
	b.Write(n[:])
	return sha256.Sum256(b.Bytes())
}

// p2pKey returns node index's libp2p identity key and peer ID.
func p2pKey(seed string, index int) (crypto.PrivKey, peer.ID, error) {
	s := derive("quarry-devnet/p2p/v1", seed, uint32(index), 0)
	k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(s[:]))
	if err != nil {
		return nil, "", err
	}
	id, err := peer.IDFromPrivateKey(k)
	return k, id, err
}

// secpKey derives a secp256k1 key for a label.
func secpKey(label, seed string, index int) *wallet.Key {
	for counter := uint32(0); ; counter++ {
		d := derive(label, seed, uint32(index), counter)
		var sc secp256k1.ModNScalar
		if overflow := sc.SetBytes(&d); overflow != 0 || sc.IsZero() {
			continue
		}
		return wallet.NewKey(secp256k1.NewPrivateKey(&sc))
	}
}

// minerKey returns node index's miner key.
func minerKey(seed string, index int) *wallet.Key {
	return secpKey("quarry-devnet/miner/v1", seed, index)
}

// sinkKey returns sink j's key (only its address is used).
func sinkKey(seed string, j int) *wallet.Key { return secpKey("quarry-devnet/sink/v1", seed, j) }

// writeIdentity writes p2p.key into a node's data directory unless it is
// already there with the expected key (a different key is an error: the
// lab's state would name the wrong peer ID).
func writeIdentity(dataDir string, k crypto.PrivKey) error {
	raw, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, "p2p.key")
	old, err := os.ReadFile(path)
	switch {
	case err == nil && bytes.Equal(old, raw):
		return nil
	case err == nil:
		return fmt.Errorf("%s holds another identity than the lab's seed gives (run: scripts/devnet clean)", path)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// writeKeyFile writes a node/wallet key file unless it already exists.
func writeKeyFile(path string, k *wallet.Key, p *chain.Params) error {
	if _, err := os.Stat(path); err == nil {
		have, err := wallet.LoadKeyFile(path, p)
		if err != nil {
			return err
		}
		if have.Address != k.Address {
			return fmt.Errorf("%s holds another key than the lab's seed gives (run: scripts/devnet clean)", path)
		}
		return nil
	}
	return wallet.SaveKeyFile(path, k, p)
}

// Identity is a node's deterministic peer ID and miner address.
type Identity struct {
	Index   int
	PeerID  string
	Address string
}

// Identities returns the identities of n nodes of a seed on a network.
func Identities(seed, network string, n int) ([]Identity, error) {
	p, err := chain.ParamsByName(network)
	if err != nil {
		return nil, err
	}
	out := make([]Identity, n)
	for i := range out {
		_, id, err := p2pKey(seed, i)
		if err != nil {
			return nil, err
		}
		out[i] = Identity{Index: i, PeerID: id.String(), Address: minerKey(seed, i).Address.Encode(p)}
	}
	return out, nil
}

// WriteIdentity writes node index's p2p.key for seed into dir (created
// with mode 0700; the key file gets 0600), unless it is already there; a
// different key there is an error.
func WriteIdentity(dir, seed string, index int) error {
	key, _, err := p2pKey(seed, index)
	if err != nil {
		return err
	}
	return writeIdentity(dir, key)
}

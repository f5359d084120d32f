package wallet

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/quarrychain/quarry/chain"
)

// Key is a secp256k1 private key and the address it controls. Safe for
// concurrent reads; do not modify.
type Key struct {
	Private *secp256k1.PrivateKey
	Address chain.Address
}

// GenerateKey returns a new random key (crypto/rand).
func GenerateKey() (*Key, error) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("generating key: %w", err)
	}
	return NewKey(priv), nil
}

// NewKey wraps a private key, deriving its address.
func NewKey(priv *secp256k1.PrivateKey) *Key {
	return &Key{Private: priv, Address: AddressOf(priv)}
}

// AddressOf returns the address controlled by priv: chain.AddressFromPubKey
// of the compressed public key.
func AddressOf(priv *secp256k1.PrivateKey) chain.Address {
	return chain.AddressFromPubKey(priv.PubKey().SerializeCompressed())
}

// PrivateKeyHex returns the 32-byte private key as lowercase hex.
func (k *Key) PrivateKeyHex() string {
	b := k.Private.Serialize()
	return hex.EncodeToString(b)
}

// PublicKeyHex returns the 33-byte compressed public key as hex.
func (k *Key) PublicKeyHex() string {
	return hex.EncodeToString(k.Private.PubKey().SerializeCompressed())
}

// ParsePrivateKeyHex parses 64 hex digits into a key, rejecting zero and
// values not below the curve order.
func ParsePrivateKeyHex(s string) (*Key, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return nil, errorf(ErrBadKey, "private key must be 64 hex digits")
	}
	var sc secp256k1.ModNScalar
	if overflow := sc.SetByteSlice(b); overflow || sc.IsZero() {
		return nil, errorf(ErrBadKey, "private key is out of range for secp256k1")
	}
	clear(b)
	return NewKey(secp256k1.NewPrivateKey(&sc)), nil
}

// KeyFileVersion is the version written into key files.
const KeyFileVersion = 1

// keyFile is the JSON form of a key file:
//
//	{
//	  "version": 1,
//	  "network": "regtest",
//	  "address": "qr1...",
//	  "public_key": "02...",
//	  "private_key": "<64 hex digits>"
//	}
//
// The address and public key are informational (and checked on load).
type keyFile struct {
	Version    int    `json:"version"`
	Network    string `json:"network"`
	Address    string `json:"address"`
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key"`
}

// SaveKeyFile writes key to path as a JSON key file for network p with mode
// 0600. It refuses to overwrite an existing file (ErrFileExists). The file
// is synced before SaveKeyFile returns.
func SaveKeyFile(path string, key *Key, p *chain.Params) error {
	kf := keyFile{Version: KeyFileVersion, Network: p.Name, Address: key.Address.Encode(p),
		PublicKey: key.PublicKeyHex(), PrivateKey: key.PrivateKeyHex()}
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errorf(ErrFileExists, "key file %s already exists; refusing to overwrite it (choose another path or move the old file away)", path)
		}
		return fmt.Errorf("creating key file: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("writing key file %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile reads a key file written by SaveKeyFile. It fails if the file
// is readable by group or others (ErrInsecureFile, like ssh), belongs to
// another network than p (ErrWrongNetwork), or is malformed or inconsistent
// (ErrBadKey: the stored address must match the key).
func LoadKeyFile(path string, p *chain.Params) (*Key, error) {
	if err := checkPrivate(path); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key file: %w", err)
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, wrapf(ErrBadKey, err, "key file %s is not valid JSON", path)
	}
	if kf.Version != KeyFileVersion {
		return nil, errorf(ErrBadKey, "key file %s has version %d, this program reads version %d", path, kf.Version, KeyFileVersion)
	}
	if kf.Network != p.Name {
		return nil, errorf(ErrWrongNetwork, "key file %s is for network %q, not %q", path, kf.Network, p.Name)
	}
	key, err := ParsePrivateKeyHex(kf.PrivateKey)
	if err != nil {
		return nil, wrapf(ErrBadKey, err, "key file %s", path)
	}
	if kf.Address != "" && kf.Address != key.Address.Encode(p) {
		return nil, errorf(ErrBadKey, "key file %s: stored address %s does not match the private key (%s)", path, kf.Address, key.Address.Encode(p))
	}
	return key, nil
}

// checkPrivate fails if path is accessible by group or others. Windows has
// no such mode bits and is not checked.
func checkPrivate(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return errorf(ErrInsecureFile, "%s has mode %04o and is accessible by other users; run: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}

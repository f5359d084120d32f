package rpc

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/quarrychain/quarry/chain/atomicfile"
)

// CookieFile is the name of the cookie file in the data directory, and
// CookieUser its user name, both as in Bitcoin Core.
const (
	CookieFile = ".cookie"
	CookieUser = "__cookie__"
)

// WriteCookie creates dir/.cookie with mode 0600 holding
// "__cookie__:<64 random hex digits>" and returns the credentials. It is
// written with atomicfile, so a reader never sees a partial cookie. It is
// safe for concurrent use with distinct directories.
func WriteCookie(dir string) (user, pass string, err error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return "", "", fmt.Errorf("rpc cookie: %w", err)
	}
	pass = hex.EncodeToString(secret[:])
	content := []byte(CookieUser + ":" + pass)
	if err := atomicfile.WriteFile(filepath.Join(dir, CookieFile), content, 0o600); err != nil {
		return "", "", fmt.Errorf("rpc cookie: %w", err)
	}
	return CookieUser, pass, nil
}

// RemoveCookie deletes dir/.cookie; a missing file is not an error.
func RemoveCookie(dir string) error {
	err := os.Remove(filepath.Join(dir, CookieFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rpc cookie: %w", err)
	}
	return nil
}

// credentials holds the digest of the accepted "user:password". Comparing
// fixed-size digests in constant time reveals neither content nor length.
type credentials struct {
	digest [sha256.Size]byte
	user   string
}

func newCredentials(user, pass string) *credentials {
	return &credentials{digest: sha256.Sum256([]byte(user + ":" + pass)), user: user}
}

// check reports whether an Authorization header value carries the
// credentials (HTTP Basic, as Core parses it).
func (c *credentials) check(header string) bool {
	if c == nil {
		return false
	}
	const prefix = "Basic "
	if !strings.HasPrefix(header, prefix) {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header[len(prefix):]))
	if err != nil || !strings.Contains(string(raw), ":") {
		return false
	}
	got := sha256.Sum256(raw)
	return subtle.ConstantTimeCompare(got[:], c.digest[:]) == 1
}

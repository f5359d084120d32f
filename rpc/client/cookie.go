package client

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CookieFile is the name of the node's cookie file in its data directory
// (package rpc writes it).
const CookieFile = ".cookie"

// ReadCookie reads <dir>/.cookie ("__cookie__:<hex>") and returns the user
// and password to authenticate with.
func ReadCookie(dir string) (user, pass string, err error) {
	path := filepath.Join(dir, CookieFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("read rpc cookie: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	user, pass, ok := strings.Cut(strings.TrimRight(line, "\r"), ":")
	if !ok {
		return "", "", fmt.Errorf("read rpc cookie %s: no ':' separator", path)
	}
	return user, pass, nil
}

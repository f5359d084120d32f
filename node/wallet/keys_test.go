package wallet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
)

func fileMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestKeyFileRoundTrip(t *testing.T) {
	p := chain.RegtestParams()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if k.Address != chain.AddressFromPubKey(k.Private.PubKey().SerializeCompressed()) || AddressOf(k.Private) != k.Address {
		t.Fatal("address derivation")
	}
	path := filepath.Join(t.TempDir(), "key.json")
	if err := SaveKeyFile(path, k, p); err != nil {
		t.Fatal(err)
	}
	if m := fileMode(t, path); m != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", m)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{`"network": "regtest"`, `"address": "` + k.Address.Encode(p) + `"`, `"private_key": "` + k.PrivateKeyHex() + `"`} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("key file lacks %s:\n%s", want, data)
		}
	}
	got, err := LoadKeyFile(path, p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Address != k.Address || got.PrivateKeyHex() != k.PrivateKeyHex() {
		t.Fatal("loaded key differs")
	}

	// Refuses to overwrite, and leaves the old file intact.
	k2, _ := GenerateKey()
	if err := SaveKeyFile(path, k2, p); !errors.Is(err, ErrFileExists) {
		t.Fatalf("overwrite: %v", err)
	}
	if again, _ := LoadKeyFile(path, p); again == nil || again.Address != k.Address {
		t.Fatal("existing key file changed")
	}
	// Another network.
	if _, err := LoadKeyFile(path, chain.DevParams()); !errors.Is(err, ErrWrongNetwork) || !strings.Contains(err.Error(), "regtest") {
		t.Fatalf("wrong network: %v", err)
	}
	// Readable by others.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path, p); !errors.Is(err, ErrInsecureFile) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("insecure: %v", err)
	}
}

func TestLoadKeyFileRejectsBadFiles(t *testing.T) {
	p := chain.RegtestParams()
	k, _ := GenerateKey()
	other, _ := GenerateKey()
	dir := t.TempDir()
	cases := map[string]struct {
		body string
		kind ErrorKind
	}{
		"not json":        {`{"version":1,`, ErrBadKey},
		"unknown field":   {`{"version":1,"network":"regtest","private_key":"` + k.PrivateKeyHex() + `","extra":1}`, ErrBadKey},
		"version":         {`{"version":2,"network":"regtest","private_key":"` + k.PrivateKeyHex() + `"}`, ErrBadKey},
		"bad hex":         {`{"version":1,"network":"regtest","private_key":"zz"}`, ErrBadKey},
		"zero key":        {`{"version":1,"network":"regtest","private_key":"` + strings.Repeat("00", 32) + `"}`, ErrBadKey},
		"above order":     {`{"version":1,"network":"regtest","private_key":"` + strings.Repeat("ff", 32) + `"}`, ErrBadKey},
		"address differs": {`{"version":1,"network":"regtest","address":"` + other.Address.Encode(p) + `","private_key":"` + k.PrivateKeyHex() + `"}`, ErrBadKey},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadKeyFile(path, p); !errors.Is(err, c.kind) {
				t.Fatalf("err %v, want %s", err, c.kind)
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing"), p); err == nil {
		t.Fatal("missing file loaded")
	}
}

func TestParsePrivateKeyHex(t *testing.T) {
	k, _ := GenerateKey()
	got, err := ParsePrivateKeyHex(" " + k.PrivateKeyHex() + "\n")
	if err != nil || got.Address != k.Address {
		t.Fatalf("parse: %v", err)
	}
	if len(k.PublicKeyHex()) != 66 {
		t.Fatal("public key hex length")
	}
	for _, bad := range []string{"", "00", strings.Repeat("0", 63), strings.Repeat("g", 64)} {
		if _, err := ParsePrivateKeyHex(bad); !errors.Is(err, ErrBadKey) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
}

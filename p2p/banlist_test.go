package p2p

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"

	"github.com/quarrychain/quarry/chain/memstore"
)

// TestBansSurviveRestart: a ban is written to the data dir and restored by
// a new Node on the same dir; expired and lifted bans are not.
func TestBansSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	c, err := chain.New(chain.Config{Params: chain.RegtestParams(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	newNode := func() *Node {
		n, err := New(Config{Chain: c, DataDir: dir, ListenAddr: "127.0.0.1:0", Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	other1, other2, other3 := newTestPeerID(t), newTestPeerID(t), newTestPeerID(t)
	n := newNode()
	if err := n.Ban(other1, time.Hour, "bad blocks"); err != nil {
		t.Fatal(err)
	}
	if err := n.Ban(other2, time.Minute, "short"); err != nil {
		t.Fatal(err)
	}
	if err := n.Ban(other3, time.Hour, "lifted"); err != nil {
		t.Fatal(err)
	}
	n.Unban(other3)
	st, err := os.Stat(filepath.Join(dir, banFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("ban file: %v mode %v", err, st.Mode())
	}
	now = now.Add(2 * time.Minute) // other2's ban expires
	n2 := newNode()
	bans := n2.ListBans()
	if len(bans) != 1 || bans[0].ID != other1 || bans[0].Reason != "bad blocks" || !n2.IsBanned(other1) {
		t.Fatalf("restored bans %+v", bans)
	}
	if n2.IsBanned(other2) || n2.IsBanned(other3) {
		t.Fatal("expired or lifted ban restored")
	}
	// A corrupt file is a clear error naming the file.
	if err := os.WriteFile(filepath.Join(dir, banFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Chain: c, DataDir: dir, ListenAddr: "127.0.0.1:0", Now: clock}); err == nil || !strings.Contains(err.Error(), banFile) {
		t.Fatalf("corrupt ban list: %v", err)
	}
}

func newTestPeerID(t *testing.T) peer.ID {
	t.Helper()
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

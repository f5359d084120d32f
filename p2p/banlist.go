package p2p

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// banFile holds the bans in the data directory so that a restart does not
// forgive a misbehaving peer (as Bitcoin Core's banlist). It is rewritten
// atomically (temporary file, then rename) after every change.
const banFile = "banlist.json"

type banRecord struct {
	Peer   string    `json:"peer"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// loadBans reads dir's ban list, skipping expired entries. A missing file
// is an empty list; an unreadable one is an error that names the file.
func loadBans(dir string, now time.Time) ([]BanInfo, error) {
	if dir == "" {
		return nil, nil
	}
	path := filepath.Join(dir, banFile)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []banRecord
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, fmt.Errorf("ban list %s is corrupt (%v): delete it to clear all bans", path, err)
	}
	var out []BanInfo
	for _, r := range recs {
		id, err := peer.Decode(r.Peer)
		if err != nil {
			return nil, fmt.Errorf("ban list %s: bad peer id %q: %v", path, r.Peer, err)
		}
		if now.Before(r.Until) {
			out = append(out, BanInfo{ID: id, Since: r.Since, Until: r.Until, Reason: r.Reason})
		}
	}
	return out, nil
}

// saveBans writes the current bans to dir (no-op without a data dir).
func (n *Node) saveBans() {
	dir := n.cfg.DataDir
	if dir == "" {
		return
	}
	bans := n.gate.listBans()
	recs := make([]banRecord, len(bans))
	for i, b := range bans {
		recs[i] = banRecord{Peer: b.ID.String(), Since: b.Since, Until: b.Until, Reason: b.Reason}
	}
	raw, err := json.MarshalIndent(recs, "", "  ")
	if err == nil {
		err = writeFileAtomic(filepath.Join(dir, banFile), raw, 0o600)
	}
	if err != nil {
		n.log.Error("saving ban list", "err", err)
	}
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// ReorgEvent is one "reorg" line of a node's log (written by the node's
// event dispatcher for every chain reorganisation).
type ReorgEvent struct {
	Node       int
	At         time.Time
	Depth      int
	ForkHeight uint64
	Fork       chain.Hash
	OldTip     chain.Hash
	NewTip     chain.Hash
	Added      int
}

// parseLogfmt splits a slog text line into its key=value pairs. Values may
// be Go-quoted strings.
func parseLogfmt(line string) map[string]string {
	out := make(map[string]string)
	for len(line) > 0 {
		line = strings.TrimLeft(line, " ")
		eq := strings.IndexByte(line, '=')
		if eq <= 0 {
			break
		}
		key := line[:eq]
		line = line[eq+1:]
		var val string
		if strings.HasPrefix(line, `"`) {
			// Find the closing quote, honouring escapes.
			end := 1
			for end < len(line) && line[end] != '"' {
				if line[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(line) {
				break
			}
			uq, err := strconv.Unquote(line[:end+1])
			if err != nil {
				uq = line[1:end]
			}
			val, line = uq, line[end+1:]
		} else {
			sp := strings.IndexByte(line, ' ')
			if sp < 0 {
				sp = len(line)
			}
			val, line = line[:sp], line[sp:]
		}
		out[key] = val
	}
	return out
}

// Reorgs returns the reorgs node i logged at or after since.
func (l *Lab) Reorgs(i int, since time.Time) ([]ReorgEvent, error) {
	n, err := l.Node(i)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(n.LogFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []ReorgEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "msg=reorg ") {
			continue
		}
		kv := parseLogfmt(line)
		if kv["msg"] != "reorg" || kv["fork_height"] == "" {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, kv["time"])
		if err != nil || at.Before(since) {
			continue
		}
		ev := ReorgEvent{Node: i, At: at}
		ev.Depth, _ = strconv.Atoi(kv["depth"])
		ev.Added, _ = strconv.Atoi(kv["added"])
		ev.ForkHeight, _ = strconv.ParseUint(kv["fork_height"], 10, 64)
		ev.Fork, _ = chain.ParseHash(kv["fork"])
		ev.OldTip, _ = chain.ParseHash(kv["old_tip"])
		ev.NewTip, _ = chain.ParseHash(kv["new_tip"])
		out = append(out, ev)
	}
	return out, sc.Err()
}

// LastReorg returns node i's most recent reorg, if any.
func (l *Lab) LastReorg(i int) (ReorgEvent, bool) {
	evs, err := l.Reorgs(i, time.Time{})
	if err != nil || len(evs) == 0 {
		return ReorgEvent{}, false
	}
	return evs[len(evs)-1], true
}

// Logs copies node i's log to w: the last n lines (0: all), then, with
// follow, new lines until ctx ends.
func (l *Lab) Logs(ctx context.Context, i, n int, follow bool, w io.Writer) error {
	node, err := l.Node(i)
	if err != nil {
		return err
	}
	f, err := os.Open(node.LogFile)
	if err != nil {
		return fmt.Errorf("node%d has no log yet: %w", i, err)
	}
	defer f.Close()
	if n > 0 {
		if _, err := io.WriteString(w, tailFile(node.LogFile, n)+"\n"); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return err
		}
	} else if _, err := io.Copy(w, f); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := io.Copy(w, f); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

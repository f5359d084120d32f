package lab

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

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
	defer func() { _ = f.Close() }() // read only
	if n > 0 {
		if _, err := io.WriteString(w, TailFile(node.LogFile, n)+"\n"); err != nil {
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

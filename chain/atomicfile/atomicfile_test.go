package atomicfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// entries returns the names in dir.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileCreatesAndReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	for i, perm := range []os.FileMode{0o600, 0o644, 0o600} {
		data := []byte(fmt.Sprintf("content %d", i))
		if err := WriteFile(path, data, perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("write %d: read %q, %v", i, got, err)
		}
		st, err := os.Stat(path)
		if err != nil || st.Mode().Perm() != perm {
			t.Fatalf("write %d: mode %v, %v; want %v", i, st.Mode().Perm(), err, perm)
		}
		if names := entries(t, dir); len(names) != 1 {
			t.Fatalf("write %d left %v", i, names)
		}
	}
}

// TestWriteFileFailureKeepsOld: when the rename cannot happen, the old
// content stays and no temporary file is left behind.
func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wallet.json")
	if err := os.Mkdir(path, 0o700); err != nil { // a directory cannot be replaced by a file
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := WriteFile(path, []byte("new"), 0o600)
	if err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "wallet.json" {
		t.Fatalf("left %v behind", names)
	}
	if _, err := os.Stat(filepath.Join(path, "keep")); err != nil {
		t.Fatalf("old content gone: %v", err)
	}

	// A missing directory is reported with the path.
	missing := filepath.Join(dir, "no", "such", "file")
	if err := WriteFile(missing, nil, 0o600); err == nil || !bytes.Contains([]byte(err.Error()), []byte(missing)) {
		t.Fatalf("missing directory: %v", err)
	}
}

// TestWriteFileConcurrent: concurrent writers of one path each leave a
// complete file; a reader never sees a partial or empty one.
func TestWriteFileConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".cookie")
	contents := make([][]byte, 8)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, 64<<10)
	}
	if err := WriteFile(path, contents[0], 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(path)
			if err != nil || len(got) != 64<<10 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) {
				readErr <- fmt.Errorf("read %d bytes, %v", len(got), err)
				return
			}
		}
	}()
	for _, c := range contents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if err := WriteFile(path, c, 0o600); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Fatalf("left %v", names)
	}
}

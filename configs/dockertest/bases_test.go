package dockertest

// The base images of the Dockerfile, made locally under the names the
// Dockerfile uses because no image registry is reachable.

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	debootstrapTimeout = 15 * time.Minute
	importTimeout      = 10 * time.Minute
)

// dockerfileBases returns the external images of a Dockerfile's FROM lines
// in order (stage names are not images) and the names of its stages.
func dockerfileBases(t *testing.T, path string) (bases, names []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stages := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		img := fields[1]
		if strings.HasPrefix(img, "--") {
			t.Fatalf("%s: FROM with flags is not supported by this test: %s", path, sc.Text())
		}
		if len(fields) >= 4 && strings.EqualFold(fields[2], "AS") {
			stages[strings.ToLower(fields[3])] = true
			names = append(names, fields[3])
		}
		if !stages[strings.ToLower(img)] || img == "scratch" {
			bases = append(bases, img)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return bases, names
}

// goEnv returns `go env NAME`.
func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// imageEnv returns an image's environment, one NAME=value per entry.
func (e *engine) imageEnv(ref string) []string {
	out, _, err := e.try(30*time.Second, nil, "image", "inspect", "--format", `{{join .Config.Env "\n"}}`, ref)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

// ensureGoBase makes ref (the build stage's golang image) from a Debian
// minbase and this machine's Go toolchain, unless the engine has it with
// the same Go version. The Debian suite is the tag's last dash-separated
// word ("1.26-bookworm").
func (e *engine) ensureGoBase(ref string) {
	t := e.t
	t.Helper()
	goroot, version := goEnv(t, "GOROOT"), goEnv(t, "GOVERSION")
	caFile, caSum := hostCAs(t)
	// The image is remade when the toolchain or the CA roots change.
	key := "QUARRY_DOCKERTEST_BASE=" + version + "+" + caSum
	for _, kv := range e.imageEnv(ref) {
		if kv == key {
			t.Logf("base %s: cached (%s)", ref, version)
			return
		}
	}
	suite := "bookworm"
	if i := strings.LastIndexAny(ref, ":-"); i >= 0 && ref[i] == '-' {
		suite = ref[i+1:]
	}
	minbase := e.debootstrap(suite)

	start := time.Now()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeGoBase(pw, minbase, goroot, caFile)) }()
	args := []string{"import"}
	for _, c := range []string{
		"ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV GOLANG_VERSION=" + version,
		"ENV " + key,
		"ENV GOTOOLCHAIN=local",
		"ENV GOPATH=/go",
		// The build reaches the same module proxy as this machine.
		"ENV GOPROXY=" + goEnv(t, "GOPROXY"),
		"ENV GOSUMDB=" + goEnv(t, "GOSUMDB"),
		"WORKDIR /go",
		`CMD ["bash"]`,
	} {
		args = append(args, "--change", c)
	}
	args = append(args, "-", ref)
	out, errOut, err := e.try(importTimeout, pr, args...)
	pr.CloseWithError(errors.New("import ended"))
	if err != nil {
		t.Fatalf("docker import %s: %v\n%s%s", ref, err, out, errOut)
	}
	t.Logf("base %s: Debian %s minbase + %s imported in %v", ref, suite, version, time.Since(start).Round(time.Second))
}

// debootstrap returns the path of a tarball of a Debian minbase root file
// system of suite with CA certificates, making it unless it is cached.
func (e *engine) debootstrap(suite string) string {
	t := e.t
	t.Helper()
	path := filepath.Join(e.cache, "debian-"+suite+"-minbase.tar")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	start := time.Now()
	dir, err := os.MkdirTemp(e.cache, "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), debootstrapTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include=ca-certificates", suite, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap %s (needs the Debian mirror): %v\n%s", suite, err, tailOf(string(out), 3000))
	}
	tmp := path + ".part"
	if out, err := exec.CommandContext(ctx, "tar", "-C", dir, "-cf", tmp, ".").CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("tar of the minbase: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrap %s minbase: %v (cached in %s)", suite, time.Since(start).Round(time.Second), path)
	return path
}

// caBundle is the CA roots file of Debian (and of the minbase).
const caBundle = "etc/ssl/certs/ca-certificates.crt"

// hostCAs returns this machine's CA roots file ($SSL_CERT_FILE or
// Debian's) and a short digest of it. The build stage gets these roots, so
// it trusts whatever this machine trusts on its way to the module proxy.
func hostCAs(t *testing.T) (path, sum string) {
	t.Helper()
	path = os.Getenv("SSL_CERT_FILE")
	if path == "" {
		path = "/" + caBundle
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("CA roots of this machine (set $SSL_CERT_FILE): %v", err)
	}
	d := sha256.Sum256(b)
	return path, hex.EncodeToString(d[:6])
}

// writeGoBase writes a root file system tarball: the minbase tarball's
// entries with the CA roots file replaced by caFile, then goroot as
// /usr/local/go (without its test tree).
func writeGoBase(w io.Writer, minbase, goroot, caFile string) error {
	tw := tar.NewWriter(w)
	f, err := os.Open(minbase)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(bufio.NewReaderSize(f, 1<<20))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", minbase, err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == caBundle {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if err := addFile(tw, caFile, caBundle); err != nil {
		return err
	}
	err = filepath.WalkDir(goroot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(goroot, path)
		if err != nil {
			return err
		}
		if rel == "test" && d.IsDir() {
			return filepath.SkipDir
		}
		return addFile(tw, path, filepath.ToSlash(filepath.Join("usr/local/go", rel)))
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// addFile adds one file, directory or symlink of the host to a tarball,
// owned by root.
func addFile(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}

// nonrootFiles are the files of the runtime base: the users and groups of
// distroless' nonroot image.
var nonrootFiles = []struct {
	name, body string
	mode       int64
	uid        int
	dir        bool
}{
	{name: "etc/", mode: 0o755, dir: true},
	{name: "etc/passwd", mode: 0o644, body: "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
	{name: "etc/group", mode: 0o644, body: "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"},
	{name: "home/", mode: 0o755, dir: true},
	{name: "home/nonroot/", mode: 0o700, uid: 65532, dir: true},
	{name: "root/", mode: 0o700, dir: true},
	{name: "tmp/", mode: 0o1777, dir: true},
}

// ensureNonrootBase makes ref (the runtime stage's distroless nonroot
// image) unless the engine has it.
func (e *engine) ensureNonrootBase(ref string) {
	t := e.t
	t.Helper()
	if e.hasImage(ref) {
		t.Logf("base %s: cached", ref)
		return
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		for _, f := range nonrootFiles {
			hdr := &tar.Header{Name: f.name, Mode: f.mode, Uid: f.uid, Gid: f.uid, Size: int64(len(f.body)),
				Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
			if f.dir {
				hdr.Typeflag = tar.TypeDir
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.WriteString(tw, f.body); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	args := []string{"import",
		"--change", "USER 65532",
		"--change", "WORKDIR /home/nonroot",
		"--change", "ENV PATH=/usr/local/bin:/usr/bin:/bin",
		"-", ref}
	out, errOut, err := e.try(importTimeout, pr, args...)
	pr.CloseWithError(errors.New("import ended"))
	if err != nil {
		t.Fatalf("docker import %s: %v\n%s%s", ref, err, out, errOut)
	}
	t.Logf("base %s: imported", ref)
}

// tailOf returns at most the last n bytes of s.
func tailOf(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

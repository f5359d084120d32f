package dockertest

// The private container engine: a dockerd with its own directories, socket
// and bridge, started for one test and stopped at its end.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bounds of the engine's waits. They are generous for a loaded 2-core
// machine; a healthy run uses a small fraction of each.
const (
	engineStartTimeout = 90 * time.Second
	engineStopTimeout  = 60 * time.Second
	lockTimeout        = 20 * time.Minute // another run holds the cache
	pollInterval       = 100 * time.Millisecond
)

const (
	cacheEnv     = "QUARRY_DOCKER_CACHE"
	cacheDirName = "quarry-docker"
)

// bridgeFor returns the name and address of the engine's bridge. The
// bridge lives in the host's network namespace (published ports are
// reached through it) and is deleted at the end; its name and /24 subnet
// in 10.213.0.0/16 are derived from the cache directory, whose lock
// serialises the runs that would share them.
func bridgeFor(cache string) (name, cidr string) {
	d := sha256.Sum256([]byte(cache))
	return "qdock" + hex.EncodeToString(d[:4]), fmt.Sprintf("10.213.%d.1/24", d[4])
}

// engine is a running private dockerd and the CLI that talks to it.
type engine struct {
	t      *testing.T
	cache  string   // persistent cache directory
	cli    string   // the docker CLI
	env    []string // the CLI's environment (DOCKER_HOST, DOCKER_CONFIG, ...)
	daemon *exec.Cmd
	exited chan struct{} // closed when dockerd has exited
	log    string        // dockerd's log file
}

// requireTools skips the test unless it runs as root with the tools it
// needs. It returns the paths of dockerd and the docker CLI.
func requireTools(t *testing.T) (dockerd, cli string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped with -short: builds and runs the Docker image on a private dockerd (minutes)")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: starting a container engine needs root")
	}
	var missing []string
	look := func(name, pkg string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", name, pkg))
		}
		return p
	}
	dockerd = look("dockerd", "docker.io")
	look("docker-proxy", "docker.io")
	look("debootstrap", "debootstrap")
	look("ip", "iproute2")
	look("go", "the Go toolchain")
	if len(missing) > 0 {
		t.Skipf("skipped: no container engine can be started here; missing %s (apt-get install docker.io debootstrap iproute2)",
			strings.Join(missing, ", "))
	}
	// The CLI of the engine's own package first: another docker CLI on
	// $PATH may be newer than the engine and insist on BuildKit.
	cli = filepath.Join(filepath.Dir(filepath.Dir(dockerd)), "bin", "docker")
	if _, err := os.Stat(cli); err != nil {
		if cli, err = exec.LookPath("docker"); err != nil {
			t.Skip("skipped: dockerd is installed but no docker CLI (Debian package docker.io)")
		}
	}
	return dockerd, cli
}

// cacheDir returns the persistent cache directory, creating it.
func cacheDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(cacheEnv)
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir() // no $HOME: cached for this boot only
		}
		dir = filepath.Join(base, cacheDirName)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lockCache takes the cache's lock file, waiting at most lockTimeout for
// another run to finish, and releases it at the end of the test.
func lockCache(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	// Another process holds the lock: there is nothing to wait on but the
	// lock itself, so poll it.
	deadline := time.Now().Add(lockTimeout)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			t.Fatalf("lock %s (another Docker test run?): %v", f.Name(), err)
		}
		<-tick.C
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// startEngine starts the private dockerd and stops it at the end of the
// test. It skips the test where no engine can be started.
func startEngine(t *testing.T) *engine {
	t.Helper()
	dockerd, cli := requireTools(t)
	cache := cacheDir(t)
	lockCache(t, cache)

	// The socket path must stay short (sun_path is 108 bytes), so the
	// runtime directory is a fresh one under /tmp.
	run, err := os.MkdirTemp("", "qdock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// dockerd leaves a bind mount of the host's network namespace
		// (exec/netns/default) behind when it exits.
		unmountUnder(t, run)
		if err := os.RemoveAll(run); err != nil {
			t.Errorf("remove the engine's runtime directory: %v", err)
		}
	})
	cfg := filepath.Join(run, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(run, "cli"), 0o700); err != nil {
		t.Fatal(err)
	}
	bridge, cidr := bridgeFor(cache)
	setupBridge(t, bridge, cidr)

	sock := filepath.Join(run, "docker.sock")
	e := &engine{
		t: t, cache: cache, cli: cli, exited: make(chan struct{}),
		log: filepath.Join(run, "dockerd.log"),
		env: append(os.Environ(),
			"DOCKER_HOST=unix://"+sock,
			"DOCKER_CONFIG="+filepath.Join(run, "cli"), // no credentials or contexts of the host
			"DOCKER_BUILDKIT=0",                        // the classic builder: --network host, no buildx plugin
			"DOCKER_CLI_HINTS=false",
		),
	}
	logFile, err := os.Create(e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	e.daemon = exec.Command(dockerd,
		"--host", "unix://"+sock,
		"--data-root", filepath.Join(cache, "engine"),
		"--exec-root", filepath.Join(run, "exec"),
		"--pidfile", filepath.Join(run, "dockerd.pid"),
		"--config-file", cfg,
		"--bridge", bridge,
		"--iptables=false", "--ip-forward=false", "--ip-masq=false",
		"--log-level", "warn",
	)
	e.daemon.Stdout, e.daemon.Stderr = logFile, logFile
	e.daemon.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	if err := e.daemon.Start(); err != nil {
		t.Fatalf("start dockerd: %v", err)
	}
	go func() {
		_ = e.daemon.Wait()
		close(e.exited)
	}()
	t.Cleanup(e.stop)

	deadline := time.Now().Add(engineStartTimeout)
	for {
		if _, _, err := e.try(10*time.Second, nil, "version", "--format", "{{.Server.Version}}"); err == nil {
			break
		}
		select {
		case <-e.exited:
			t.Fatalf("dockerd exited at start:\n%s", e.logTail())
		case <-time.After(pollInterval):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerd did not answer within %v:\n%s", engineStartTimeout, e.logTail())
		}
	}
	return e
}

// unmountUnder lazily unmounts every mount point below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Errorf("list mounts: %v", err)
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", p, err)
		}
	}
}

// setupBridge creates the engine's bridge unless it exists (a run that was
// killed leaves it behind) and deletes it at the end of the test.
func setupBridge(t *testing.T, name, cidr string) {
	t.Helper()
	if err := exec.Command("ip", "link", "show", name).Run(); err != nil {
		for _, args := range [][]string{
			{"link", "add", name, "type", "bridge"},
			{"addr", "add", cidr, "dev", name},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	if out, err := exec.Command("ip", "link", "set", name, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
			t.Logf("ip link del %s: %v\n%s", name, err, out)
		}
	})
}

// stop ends dockerd: SIGTERM (it stops its containerd and containers),
// then SIGKILL to its process group after engineStopTimeout.
func (e *engine) stop() {
	_ = e.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(engineStopTimeout):
		e.t.Errorf("dockerd did not stop within %v after SIGTERM; killing it", engineStopTimeout)
		_ = syscall.Kill(-e.daemon.Process.Pid, syscall.SIGKILL)
		<-e.exited
	}
}

// logTail returns the end of dockerd's log.
func (e *engine) logTail() string {
	b, _ := os.ReadFile(e.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// try runs the docker CLI with a timeout and returns its stdout and stderr.
func (e *engine) try(timeout time.Duration, stdin io.Reader, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.cli, args...)
	cmd.Env = e.env
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("docker %s: no result within %v", args[0], timeout)
	}
	return stdout.String(), stderr.String(), err
}

// docker runs the docker CLI and fails the test if it fails.
func (e *engine) docker(timeout time.Duration, args ...string) string {
	e.t.Helper()
	out, errOut, err := e.try(timeout, nil, args...)
	if err != nil {
		e.t.Fatalf("docker %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return strings.TrimSpace(out)
}

// hasImage reports whether the engine has an image by that reference.
func (e *engine) hasImage(ref string) bool {
	_, _, err := e.try(30*time.Second, nil, "image", "inspect", "--format", "{{.Id}}", ref)
	return err == nil
}

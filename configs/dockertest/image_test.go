package dockertest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

const (
	buildTimeout   = 20 * time.Minute // a cold build compiles every dependency
	healthyTimeout = 2 * time.Minute  // container start to "healthy"
	stopGrace      = 60               // seconds docker stop waits before SIGKILL
	callTimeout    = 20 * time.Second // one HTTP request to the container
	testImage      = "quarry:dockertest"
	dataDir        = "/home/nonroot/.quarry" // the image's VOLUME
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", root)
	}
	return root
}

func TestDockerImage(t *testing.T) {
	e := startEngine(t)
	root := repoRoot(t)
	bases, stages := dockerfileBases(t, filepath.Join(root, "Dockerfile"))
	if len(bases) != 2 || len(stages) == 0 {
		t.Fatalf("Dockerfile bases %v, stages %v: want a named build stage and a runtime base", bases, stages)
	}
	e.ensureGoBase(bases[0])
	e.ensureNonrootBase(bases[1])

	// The build stage gets a tag of its own: an untagged stage would be
	// dangling after the build, and the prune below would drop the layers
	// (module download, compiled packages) the next run reuses.
	start := time.Now()
	e.docker(buildTimeout, "build", "--network", "host", "--target", stages[0], "--tag", testImage+"-"+stages[0], root)
	e.docker(buildTimeout, "build", "--network", "host", "--tag", testImage, root)
	t.Logf("docker build: %v", time.Since(start).Round(time.Second))
	// The previous run's images are dangling now.
	e.docker(5*time.Minute, "image", "prune", "--force")

	t.Run("config", func(t *testing.T) { checkImageConfig(t, e) })
	t.Run("identities", func(t *testing.T) { checkIdentities(t, e, root) })
	t.Run("run", func(t *testing.T) { checkRun(t, e) })
	t.Run("compose", func(t *testing.T) { checkCompose(t, e, root) })
}

// imageConfig is the part of `docker image inspect` the test reads.
type imageConfig struct {
	Size   int64
	Config struct {
		User         string
		Env          []string
		Entrypoint   []string
		Cmd          []string
		ExposedPorts map[string]struct{}
		Volumes      map[string]struct{}
		Healthcheck  *struct {
			Test     []string
			Interval time.Duration
			Timeout  time.Duration
		}
	}
}

func checkImageConfig(t *testing.T, e *engine) {
	var cfgs []imageConfig
	if err := json.Unmarshal([]byte(e.docker(time.Minute, "image", "inspect", testImage)), &cfgs); err != nil || len(cfgs) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	c := cfgs[0].Config
	t.Logf("image %s: %.1f MB", testImage, float64(cfgs[0].Size)/1e6)
	if c.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", c.User)
	}
	if _, ok := c.Volumes[dataDir]; !ok || len(c.Volumes) != 1 {
		t.Errorf("volumes %v, want only %s", c.Volumes, dataDir)
	}
	for _, p := range []string{"27732/tcp", "27733/tcp", "27733/udp", "27734/tcp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed (have %v)", p, c.ExposedPorts)
		}
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/usr/local/bin/quarryd" {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	h := c.Healthcheck
	if h == nil || len(h.Test) < 2 || h.Test[0] != "CMD" || h.Test[1] != "/usr/local/bin/quarryctl" || h.Timeout == 0 {
		t.Errorf("health check %+v: want quarryctl as an exec-form CMD with a timeout", h)
	}
}

// checkIdentities runs the devnet tool of the image as docker-compose's
// identities service does: as the image's non-root user, writing the p2p
// keys into a fresh volume. Its peer IDs must be the compose file's.
func checkIdentities(t *testing.T, e *engine, root string) {
	compose, err := os.ReadFile(filepath.Join(root, "configs", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	volume := fmt.Sprintf("quarry-dockertest-ids-%d", os.Getpid())
	t.Cleanup(func() { _, _, _ = e.try(time.Minute, nil, "volume", "rm", "--force", volume) })
	out := e.docker(time.Minute, "run", "--rm", "--network", "none", "--volume", volume+":"+dataDir,
		"--entrypoint", "/usr/local/bin/devnet", testImage,
		"identities", "--seed", "compose", "-n", "4", "--out", dataDir)
	ids := regexp.MustCompile(`(?m)^node(\d)  peer (\S+)`).FindAllStringSubmatch(out, -1)
	if len(ids) != 4 {
		t.Fatalf("devnet identities printed:\n%s", out)
	}
	for _, m := range ids {
		if boot := fmt.Sprintf("/dns4/node%s/tcp/27733/p2p/%s", m[1], m[2]); !bytes.Contains(compose, []byte(boot)) {
			t.Errorf("docker-compose.yml lacks bootnode %s", boot)
		}
	}
}

func checkRun(t *testing.T, e *engine) {
	name := fmt.Sprintf("quarry-dockertest-%d", os.Getpid())
	// The image's own command and health check; only the health check's
	// interval is shortened so the test need not wait for it.
	id := e.docker(time.Minute, "run", "--detach", "--name", name,
		"--publish", "127.0.0.1::27732", "--publish", "127.0.0.1::27734",
		"--health-interval", "1s", testImage)
	t.Cleanup(func() {
		if _, errOut, err := e.try(2*time.Minute, nil, "rm", "--force", "--volumes", id); err != nil {
			t.Errorf("docker rm %s: %v\n%s", name, err, errOut)
		}
	})
	rpcAddr := e.docker(time.Minute, "port", id, "27732/tcp")
	metricsAddr := e.docker(time.Minute, "port", id, "27734/tcp")

	waitHealthy(t, e, id)
	user, pass := cookie(t, e, id)
	c := &http.Client{Timeout: callTimeout}
	defer c.CloseIdleConnections()

	var info struct {
		Chain  string `json:"chain"`
		Blocks *int64 `json:"blocks"`
	}
	call(t, c, rpcAddr, user, pass, "getblockchaininfo", &info)
	if info.Chain != "dev" || info.Blocks == nil {
		t.Errorf("getblockchaininfo from the host: %+v, want the dev chain", info)
	}
	var net struct {
		LocalPeerID string `json:"localpeerid"`
	}
	call(t, c, rpcAddr, user, pass, "getnetworkinfo", &net)
	if net.LocalPeerID == "" {
		t.Error("getnetworkinfo: no localpeerid")
	}
	// Without credentials the published RPC port refuses.
	if code := post(t, c, rpcAddr, "", "", "getblockcount"); code != http.StatusUnauthorized {
		t.Errorf("RPC without credentials: HTTP %d, want 401", code)
	}

	resp, err := c.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics from the host: %v", err)
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d, %v", resp.StatusCode, err)
	}
	if !regexp.MustCompile(`(?m)^quarry_chain_height_blocks \d+$`).Match(page) {
		t.Errorf("metrics page lacks quarry_chain_height_blocks:\n%s", tailOf(string(page), 2000))
	}

	stopCleanly(t, e, id)

	// The data survive on the volume: a restart keeps the identity. (The
	// engine publishes the ports on new host ports.)
	e.docker(time.Minute, "start", id)
	rpcAddr = e.docker(time.Minute, "port", id, "27732/tcp")
	waitHealthy(t, e, id)
	user, pass = cookie(t, e, id)
	var again struct {
		LocalPeerID string `json:"localpeerid"`
	}
	call(t, c, rpcAddr, user, pass, "getnetworkinfo", &again)
	if again.LocalPeerID != net.LocalPeerID {
		t.Errorf("peer ID after restart %s, want %s (the volume's key)", again.LocalPeerID, net.LocalPeerID)
	}
	stopCleanly(t, e, id)
}

// containerState is the part of `docker inspect` the test reads.
type containerState struct {
	State struct {
		Status   string
		Running  bool
		ExitCode int
		Health   *struct{ Status string }
	}
}

func inspect(t *testing.T, e *engine, id string) containerState {
	t.Helper()
	var s []containerState
	if err := json.Unmarshal([]byte(e.docker(time.Minute, "container", "inspect", id)), &s); err != nil || len(s) != 1 {
		t.Fatalf("container inspect: %v", err)
	}
	return s[0]
}

// waitHealthy waits until the image's health check passes.
func waitHealthy(t *testing.T, e *engine, id string) {
	t.Helper()
	deadline := time.Now().Add(healthyTimeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		s := inspect(t, e, id)
		if !s.State.Running {
			t.Fatalf("container %s (exit %d):\n%s", s.State.Status, s.State.ExitCode, logs(e, id))
		}
		if s.State.Health == nil {
			t.Fatal("the container has no health check")
		}
		if s.State.Health.Status == "healthy" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not healthy within %v (%s):\n%s", healthyTimeout, s.State.Health.Status, logs(e, id))
		}
		<-tick.C
	}
}

// stopCleanly stops the container with SIGTERM (docker stop): quarryd must
// exit by itself with status 0, not be killed at the grace period's end.
func stopCleanly(t *testing.T, e *engine, id string) {
	t.Helper()
	start := time.Now()
	e.docker(time.Duration(stopGrace+60)*time.Second, "stop", "--time", fmt.Sprint(stopGrace), id)
	took := time.Since(start)
	s := inspect(t, e, id)
	if s.State.Running || s.State.ExitCode != 0 {
		t.Fatalf("after SIGTERM: running=%v exit %d, want a clean exit 0:\n%s", s.State.Running, s.State.ExitCode, logs(e, id))
	}
	if l := logs(e, id); !strings.Contains(l, "node stopped") {
		t.Errorf("no \"node stopped\" line after SIGTERM:\n%s", tailOf(l, 2000))
	}
	t.Logf("SIGTERM to exit 0: %v", took.Round(time.Millisecond))
}

func logs(e *engine, id string) string {
	out, errOut, _ := e.try(time.Minute, nil, "logs", "--tail", "40", id)
	return out + errOut
}

// cookie reads the RPC cookie out of the running container.
func cookie(t *testing.T, e *engine, id string) (user, pass string) {
	t.Helper()
	out := e.docker(time.Minute, "cp", id+":"+dataDir+"/dev/.cookie", "-")
	tr := tar.NewReader(strings.NewReader(out))
	if _, err := tr.Next(); err != nil {
		t.Fatalf("docker cp of the cookie: %v", err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	user, pass, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !ok {
		t.Fatalf("cookie %q is not user:password", b)
	}
	return user, pass
}

// post sends one JSON-RPC request and returns the HTTP status.
func post(t *testing.T, c *http.Client, addr, user, pass, method string) int {
	t.Helper()
	code, _ := exchange(t, c, addr, user, pass, method)
	return code
}

func exchange(t *testing.T, c *http.Client, addr, user, pass, method string) (int, []byte) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"1.0","id":"dockertest","method":%q,"params":[]}`, method)
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s from the host: %v", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return resp.StatusCode, b
}

// call sends one JSON-RPC request with credentials and decodes its result.
func call(t *testing.T, c *http.Client, addr, user, pass, method string, result any) {
	t.Helper()
	code, b := exchange(t, c, addr, user, pass, method)
	var reply struct {
		Result json.RawMessage  `json:"result"`
		Error  *json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &reply); err != nil || code != http.StatusOK || reply.Error != nil {
		t.Fatalf("%s: HTTP %d %s (%v)", method, code, b, err)
	}
	if err := json.Unmarshal(reply.Result, result); err != nil {
		t.Fatalf("%s result %s: %v", method, reply.Result, err)
	}
}

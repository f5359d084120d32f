package dockertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// composeTimeout bounds compose's up and down and the nodes' mesh.
const composeTimeout = 3 * time.Minute

// composeImage is the image docker-compose.yml builds and runs.
const composeImage = "quarry:devnet"

// checkCompose runs the devnet nodes of configs/docker-compose.yml on the
// image just built (tagged as the compose file's image): the identities
// service must complete, and the four nodes must become healthy and
// connect to each other through the bootnodes derived from the seed. The
// Prometheus and Grafana services are not started (their images come from
// a registry).
func checkCompose(t *testing.T, e *engine, root string) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("skipped: docker-compose is not installed (Debian package docker-compose)")
	}
	for i := 0; i < 4; i++ { // the file publishes node i's RPC on 127.0.0.1:27732+10i
		addr := fmt.Sprintf("127.0.0.1:%d", 27732+10*i)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Skipf("skipped: docker-compose.yml publishes %s, which is in use here", addr)
		}
		ln.Close()
	}
	e.docker(time.Minute, "tag", testImage, composeImage)
	project := fmt.Sprintf("quarrydockertest%d", os.Getpid())
	file := filepath.Join(root, "configs", "docker-compose.yml")
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), composeTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, compose, append([]string{"--project-name", project, "--file", file}, args...)...)
		cmd.Env = e.env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() {
		if out, err := run("down", "--volumes", "--timeout", "30"); err != nil {
			t.Errorf("docker-compose down: %v\n%s", err, out)
		}
	})
	// The image is the one built above; --no-build keeps compose from
	// building it again with the engine's default (isolated) network.
	if out, err := run("up", "--detach", "--no-build", "node0", "node1", "node2", "node3"); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}

	var nodes []string
	for i := 0; i < 4; i++ {
		out, err := run("ps", "--quiet", fmt.Sprintf("node%d", i))
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("docker-compose ps node%d: %v\n%s", i, err, out)
		}
		nodes = append(nodes, strings.TrimSpace(out))
	}
	out, err := run("ps", "--all", "--quiet", "identities")
	if err != nil || strings.TrimSpace(out) == "" {
		t.Fatalf("docker-compose ps identities: %v\n%s", err, out)
	}
	if s := inspect(t, e, strings.TrimSpace(out)); s.State.Running || s.State.ExitCode != 0 {
		t.Fatalf("identities service: %s, exit %d:\n%s", s.State.Status, s.State.ExitCode, logs(e, strings.TrimSpace(out)))
	}
	for _, id := range nodes {
		waitHealthy(t, e, id)
	}

	// Every node reaches the three others by their service names.
	deadline := time.Now().Add(composeTimeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i, id := range nodes {
		for {
			out, errOut, err := e.try(time.Minute, nil, "exec", id, "/usr/local/bin/quarryctl",
				"--rpc-user=devnet", "--rpc-password=devnet", "getpeerinfo")
			var peers []json.RawMessage
			if err == nil && json.Unmarshal([]byte(out), &peers) == nil && len(peers) == 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node%d: %d peers, want 3 (%v %s):\n%s", i, len(peers), err, errOut, logs(e, id))
			}
			<-tick.C
		}
	}
	t.Logf("docker-compose: identities done, 4 nodes healthy and fully connected")
}

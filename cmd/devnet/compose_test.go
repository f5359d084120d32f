package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]composeService `json:"services"`
	Volumes  map[string]any            `json:"volumes"`
}

type composeService struct {
	Image       string   `json:"image"`
	User        string   `json:"user"`
	Entrypoint  []string `json:"entrypoint"`
	Command     []string `json:"command"`
	Volumes     []string `json:"volumes"`
	NetworkMode string   `json:"network_mode"`
	Build       *struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
		Target     string `json:"target"`
	} `json:"build"`
	DependsOn   json.RawMessage `json:"depends_on"` // a list or a map of conditions
	Healthcheck *struct {
		Test    []string `json:"test"`
		Disable bool     `json:"disable"`
	} `json:"healthcheck"`
}

// TestComposeStructure decodes docker-compose.yml (anchors and merge keys
// resolved) and checks how the services fit together: the identities
// service writes into the volume the nodes read, as the image's non-root
// user, before any node starts; every node has a health check.
func TestComposeStructure(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(readConfig(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	const volume = "chains:/home/nonroot/.quarry"
	if _, ok := c.Volumes["chains"]; !ok {
		t.Errorf("no top-level volume chains: %v", c.Volumes)
	}
	ids, ok := c.Services["identities"]
	if !ok {
		t.Fatal("no identities service")
	}
	wantCmd := []string{"identities", "--seed", "compose", "-n", "4", "--out", "/home/nonroot/.quarry"}
	if !slices.Equal(ids.Entrypoint, []string{"/usr/local/bin/devnet"}) || !slices.Equal(ids.Command, wantCmd) {
		t.Errorf("identities runs %q %q, want the image's devnet %q", ids.Entrypoint, ids.Command, wantCmd)
	}
	if ids.User != "" || ids.Build == nil || ids.Build.Target != "" || !slices.Contains(ids.Volumes, volume) {
		t.Errorf("identities: user %q, build %+v, volumes %q: want the runtime image as its non-root user with %s",
			ids.User, ids.Build, ids.Volumes, volume)
	}
	if ids.Healthcheck == nil || !ids.Healthcheck.Disable {
		t.Error("identities: the one-shot service should not inherit the image's health check")
	}
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("node%d", i)
		n, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if n.Image != ids.Image || n.Image == "" {
			t.Errorf("%s image %q, identities image %q: want the same image", name, n.Image, ids.Image)
		}
		var deps map[string]struct {
			Condition string `json:"condition"`
		}
		if err := json.Unmarshal(n.DependsOn, &deps); err != nil || deps["identities"].Condition != "service_completed_successfully" {
			t.Errorf("%s does not wait for the identities service to complete: %s", name, n.DependsOn)
		}
		if h := n.Healthcheck; h == nil || h.Disable || len(h.Test) < 2 || h.Test[0] != "CMD" || h.Test[1] != "/usr/local/bin/quarryctl" {
			t.Errorf("%s health check %+v", name, h)
		} else if !slices.Contains(h.Test, "--rpc-password=devnet") {
			t.Errorf("%s health check %q lacks the devnet password the node uses", name, h.Test)
		}
		if !slices.Contains(n.Volumes, volume) {
			t.Errorf("%s volumes %q, want %s", name, n.Volumes, volume)
		}
		if dd := "--datadir=/home/nonroot/.quarry/" + name; !slices.Contains(n.Command, dd) {
			t.Errorf("%s command lacks %s (where identities writes its key)", name, dd)
		}
		for _, a := range n.Command {
			if strings.Contains(a, "go run") {
				t.Errorf("%s compiles at start: %q", name, a)
			}
		}
	}
}

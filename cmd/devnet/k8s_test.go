package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/cmd/internal/lab"
	"github.com/quarrychain/quarry/node"
)

// k8sDocs runs `devnet k8s` and splits its output into YAML documents.
func k8sDocs(t *testing.T, args ...string) []string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), append([]string{"k8s"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("devnet k8s %v: exit %d\n%s", args, code, stderr.String())
	}
	return strings.Split(stdout.String(), "\n---\n")
}

// decodeStrict decodes one YAML document into a Kubernetes API type and
// fails on any field the type does not have, as the API server would.
func decodeStrict(t *testing.T, doc string, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
		t.Fatalf("manifest does not decode strictly: %v\n%s", err, doc)
	}
}

// k8sManifests decodes the generated Service and StatefulSet.
func k8sManifests(t *testing.T, args ...string) (*corev1.Service, *appsv1.StatefulSet) {
	t.Helper()
	docs := k8sDocs(t, args...)
	if len(docs) != 2 {
		t.Fatalf("%d YAML documents, want a Service and a StatefulSet", len(docs))
	}
	var svc corev1.Service
	var sts appsv1.StatefulSet
	decodeStrict(t, docs[0], &svc)
	decodeStrict(t, docs[1], &sts)
	if svc.APIVersion != "v1" || svc.Kind != "Service" || sts.APIVersion != "apps/v1" || sts.Kind != "StatefulSet" {
		t.Fatalf("kinds %s/%s and %s/%s", svc.APIVersion, svc.Kind, sts.APIVersion, sts.Kind)
	}
	return &svc, &sts
}

func TestK8sManifests(t *testing.T) {
	const seed, n, image = "k8s test", 5, "registry.example/quarry:v1"
	svc, sts := k8sManifests(t, "-n", fmt.Sprint(n), "--seed", seed, "--image", image, "--name", "devnet")

	for _, name := range []string{svc.Name, sts.Name, sts.Name + "-" + fmt.Sprint(n-1)} {
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Errorf("name %q: %v", name, errs)
		}
	}
	// The headless Service names the pods and selects exactly them.
	if svc.Name != "devnet" || sts.Spec.ServiceName != svc.Name {
		t.Errorf("service %q, StatefulSet serviceName %q", svc.Name, sts.Spec.ServiceName)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("service is not headless with not-ready addresses: %+v", svc.Spec)
	}
	sel, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	podLabels := labels.Set(sts.Spec.Template.Labels)
	if !sel.Matches(podLabels) || !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) {
		t.Errorf("selectors %v / %v do not select the pods' labels %v", sel, svc.Spec.Selector, podLabels)
	}
	if sts.Spec.Replicas == nil || *sts.Spec.Replicas != n {
		t.Errorf("replicas %v, want %d", sts.Spec.Replicas, n)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("pod management %q: the nodes should start together", sts.Spec.PodManagementPolicy)
	}

	// Prometheus finds every pod's metrics port.
	ann := sts.Spec.Template.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "27734" || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v", ann)
	}

	spec := sts.Spec.Template.Spec
	if len(spec.InitContainers) != 1 || len(spec.Containers) != 1 {
		t.Fatalf("%d init containers, %d containers", len(spec.InitContainers), len(spec.Containers))
	}
	init, c := spec.InitContainers[0], spec.Containers[0]
	if init.Image != image || c.Image != image {
		t.Errorf("images %q, %q, want %q", init.Image, c.Image, image)
	}
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil || *sc.FSGroup != 65532 {
		t.Errorf("pod security context %+v: want non-root with the volume's group 65532", sc)
	}
	// The init container derives the identity from the pod's own name.
	if len(init.Env) != 1 || init.Env[0].Name != "POD_NAME" || init.Env[0].ValueFrom == nil ||
		init.Env[0].ValueFrom.FieldRef == nil || init.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("init env %+v: want POD_NAME from metadata.name", init.Env)
	}
	wantInit := []string{"/usr/local/bin/devnet", "k8s", "init", "--seed", seed, "-n", fmt.Sprint(n),
		"--network", "dev", "--name", "devnet", "--pod", "$(POD_NAME)", "--out", k8sDataDir}
	if !slices.Equal(init.Command, wantInit) {
		t.Errorf("init command %q, want %q", init.Command, wantInit)
	}
	for _, ct := range []corev1.Container{init, c} {
		if len(ct.VolumeMounts) != 1 || ct.VolumeMounts[0].MountPath != k8sDataDir || ct.VolumeMounts[0].Name != "data" {
			t.Errorf("%s mounts %+v, want the data claim at %s", ct.Name, ct.VolumeMounts, k8sDataDir)
		}
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Fatalf("volume claims %+v", sts.Spec.VolumeClaimTemplates)
	}
	if q := sts.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]; q.String() != "1Gi" {
		t.Errorf("claim size %s", q.String())
	}

	// quarryd reads the init's config file, listens on the Service's
	// ports and mines its share.
	for _, a := range []string{"--config=" + k8sDataDir + "/quarryd.toml", "--datadir=" + k8sDataDir + "/dev",
		"--rpc-allow-remote", "--metrics-listen=0.0.0.0:27734", "--p2p-listen=0.0.0.0:27733", "--no-mdns",
		"--mine", "--miner-hashrate-limit=400000"} {
		if !slices.Contains(c.Args, a) {
			t.Errorf("quarryd args %q lack %q", c.Args, a)
		}
	}
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	for _, sp := range svc.Spec.Ports {
		cp, ok := ports[sp.TargetPort.String()]
		if !ok || cp.ContainerPort != sp.Port || cp.Protocol != sp.Protocol {
			t.Errorf("service port %+v has no matching container port (%+v)", sp, c.Ports)
		}
	}
	if len(svc.Spec.Ports) != 4 {
		t.Errorf("service ports %+v: want p2p TCP and QUIC, rpc, metrics", svc.Spec.Ports)
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.Exec == nil || len(p.Exec.Command) == 0 || p.Exec.Command[0] != "/usr/local/bin/quarryctl" {
			t.Errorf("probe %+v: want an exec of quarryctl", p)
		}
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		t.Errorf("termination grace %v: quarryd needs time to stop cleanly", g)
	}
}

func TestK8sManifestsOptions(t *testing.T) {
	// Regtest ports, no mining, a quoted seed that YAML must not reinterpret.
	svc, sts := k8sManifests(t, "-n", "1", "--seed", `a: "b" # c`, "--network", "regtest", "--total-hashrate", "0")
	c := sts.Spec.Template.Spec.Containers[0]
	if slices.Contains(c.Args, "--mine") || !slices.Contains(c.Args, "--network=regtest") {
		t.Errorf("args %q", c.Args)
	}
	if svc.Spec.Ports[0].Port != 37733 || sts.Spec.Template.Annotations["prometheus.io/port"] != "37734" {
		t.Errorf("regtest ports: service %+v, annotations %v", svc.Spec.Ports, sts.Spec.Template.Annotations)
	}
	if got := sts.Spec.Template.Spec.InitContainers[0].Command[4]; got != `a: "b" # c` {
		t.Errorf("seed in the init command %q", got)
	}

	for _, bad := range [][]string{
		{"-n", "0"},
		{"--seed", ""},
		{"--name", "Bad_Name"},
		{"--network", "nonet"},
		{"--image", ""},
		{"--storage", "lots"},
		{"--total-hashrate", "-1"},
		{"extra"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"k8s"}, bad...), &stdout, &stderr); code != 2 || stdout.Len() != 0 {
			t.Errorf("devnet k8s %q: exit %d, stdout %d bytes, want a usage error", bad, code, stdout.Len())
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata/k8s")

// TestK8sManifestsGolden compares the manifests byte for byte with files
// written by the program for the same options (testdata/k8s), so a change
// to the template shows in review as a change to these files. After a
// deliberate change, rewrite them: go test ./cmd/devnet -run
// TestK8sManifestsGolden -update.
func TestK8sManifestsGolden(t *testing.T) {
	for _, c := range []struct {
		file string
		args []string
	}{
		{"default.yaml", nil},
		{"cluster.yaml", []string{"-n", "8", "--seed", "cluster", "--image", "registry.example/quarry:v1", "--name", "devnet"}},
		{"regtest-idle.yaml", []string{"-n", "1", "--network", "regtest", "--total-hashrate", "0", "--storage", "5Gi"}},
		{"quoted.yaml", []string{"-n", "3", "--seed", `we"ird: seed`, "--image", "img:tag", "--name", "q"}},
		{"testnet.yaml", []string{"-n", "12", "--network", "testnet", "--total-hashrate", "1e6"}},
	} {
		path := filepath.Join("testdata", "k8s", c.file)
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"k8s"}, c.args...), &stdout, &stderr); code != 0 {
			t.Fatalf("devnet k8s %q: exit %d\n%s", c.args, code, stderr.String())
		}
		if *update {
			if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := stdout.String(); got != string(want) {
			t.Errorf("devnet k8s %q differs from testdata/k8s/%s:\n%s", c.args, c.file, testkit.FirstDiff(got, string(want)))
		}
	}
}

// TestK8sInit runs the init of every pod of a devnet and checks that pod i
// gets node i's identity and a config file quarryd accepts, pointing at
// every other pod.
func TestK8sInit(t *testing.T) {
	const seed, n = "k8s test", 3
	ids, err := lab.Identities(seed, "dev", n)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		out := t.TempDir()
		pod := fmt.Sprintf("devnet-%d", i)
		args := []string{"k8s", "init", "--seed", seed, "-n", fmt.Sprint(n), "--name", "devnet", "--pod", pod, "--out", out}
		for range 2 { // a restarted pod finds its key in place
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("devnet %q: exit %d\n%s", args, code, stderr.String())
			}
		}
		raw, err := os.ReadFile(filepath.Join(out, "dev", "p2p.key"))
		if err != nil {
			t.Fatal(err)
		}
		key, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := peer.IDFromPrivateKey(key); id.String() != ids[i].PeerID {
			t.Errorf("%s: peer %s, want node %d's %s", pod, id, i, ids[i].PeerID)
		}
		// quarryd --config rejects unknown keys; decode the same way.
		var cfg node.Config
		md, err := toml.DecodeFile(filepath.Join(out, k8sConfigName), &cfg)
		if err != nil {
			t.Fatal(err)
		}
		if u := md.Undecoded(); len(u) > 0 {
			t.Errorf("config has keys quarryd does not know: %v", u)
		}
		if cfg.MinerAddress != ids[i].Address {
			t.Errorf("%s: miner address %s, want %s", pod, cfg.MinerAddress, ids[i].Address)
		}
		var want []string
		for _, o := range ids {
			if o.Index != i {
				want = append(want, fmt.Sprintf("/dns4/devnet-%d.devnet/tcp/27733/p2p/%s", o.Index, o.PeerID))
			}
		}
		if !slices.Equal(cfg.Bootnodes, want) {
			t.Errorf("%s: bootnodes %q, want %q", pod, cfg.Bootnodes, want)
		}
	}

	// A pod name outside the devnet, and a volume holding another key.
	out := t.TempDir()
	for _, pod := range []string{"devnet-3", "devnet-x", "other-0", "devnet-01", "devnet--1"} {
		var stdout, stderr bytes.Buffer
		args := []string{"k8s", "init", "--seed", seed, "-n", fmt.Sprint(n), "--name", "devnet", "--pod", pod, "--out", out}
		if code := run(context.Background(), args, &stdout, &stderr); code != 1 {
			t.Errorf("pod %s: exit %d, want 1", pod, code)
		}
	}
	var stdout, stderr bytes.Buffer
	base := []string{"k8s", "init", "-n", "2", "--name", "devnet", "--pod", "devnet-0", "--out", out}
	if code := run(context.Background(), append(base, "--seed", "one"), &stdout, &stderr); code != 0 {
		t.Fatalf("init: %s", stderr.String())
	}
	stderr.Reset()
	if code := run(context.Background(), append(base, "--seed", "two"), &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "another identity") {
		t.Errorf("a volume with another seed's key: exit %d %s", code, stderr.String())
	}
}

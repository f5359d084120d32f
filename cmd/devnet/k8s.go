package main

// Kubernetes manifests of a devnet. A devnet that outgrows one machine runs
// on a cluster as one StatefulSet: pod <name>-i is node i of the seed, with
// the peer ID and miner address that `devnet identities` and `devnet up`
// derive for node i (keys.go), so every pod's bootnode list is known when
// the manifests are written.
//
//	scripts/devnet k8s -n 8 --seed cluster --image registry.example/quarry:v1 > devnet.yaml
//	kubectl apply -f devnet.yaml
//
// Two objects:
//
//   - a headless Service <name> (clusterIP None, publishNotReadyAddresses)
//     that gives pod i the DNS name <name>-i.<name>, resolvable before the
//     pod is ready so the nodes can find each other while they start;
//   - a StatefulSet <name> (parallel pod management) whose pods carry the
//     Prometheus scrape annotations (prometheus.io/scrape, /port, /path)
//     and a volume claim for the data directory.
//
// The StatefulSet has one pod template for every node, and the image has no
// shell, so the per-node values cannot be in the template. An init
// container runs `devnet k8s init`, which reads the pod's ordinal from its
// name (downward API) and writes, into the pod's volume, the node's
// p2p.key and a quarryd TOML file with its miner address and the other
// nodes' bootnode addresses; quarryd then starts with --config on that
// file. The init is idempotent: a restarted pod finds the same key (and
// refuses a volume holding another one).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/atomicfile"
	"github.com/quarrychain/quarry/cmd/internal/lab"
)

// K8sOptions are the parameters of the generated manifests.
type K8sOptions struct {
	N             int     // nodes (StatefulSet replicas)
	Seed          string  // seed of the identities
	Network       string  // quarryd network (dev, regtest, ...)
	Image         string  // image built from the repository's Dockerfile
	Name          string  // name of the StatefulSet, the Service and the pods' prefix
	TotalHashrate float64 // H/s shared equally by the nodes; 0: no mining
	Storage       string  // size of each node's volume claim
}

// k8sDataDir is the data volume's mount point: the image's VOLUME.
const k8sDataDir = "/home/nonroot/.quarry"

// k8sConfigName is the per-pod quarryd config file in the data volume.
const k8sConfigName = "quarryd.toml"

// dnsLabel is an RFC 1123 label (Kubernetes object and DNS names).
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// storageSize is a volume size in binary units.
var storageSize = regexp.MustCompile(`^[1-9][0-9]*(Ki|Mi|Gi|Ti)$`)

// check validates the options; every error is a usage error.
func (o K8sOptions) check() (*chain.Params, error) {
	p, err := chain.ParamsByName(o.Network)
	if err != nil {
		return nil, usagef("--network: %v", err)
	}
	switch {
	case o.N < 1:
		return nil, usagef("-n %d: want at least one node", o.N)
	case o.Seed == "":
		return nil, usagef("--seed: want a non-empty seed")
	case o.Image == "" || strings.ContainsAny(o.Image, " \t\n"):
		return nil, usagef("--image %q: want an image reference", o.Image)
	case len(o.Name)+1+len(strconv.Itoa(o.N-1)) > 63 || !dnsLabel.MatchString(o.Name):
		return nil, usagef("--name %q: want a lowercase DNS label (a-z, 0-9, -) short enough for <name>-<i>", o.Name)
	case o.TotalHashrate < 0:
		return nil, usagef("--total-hashrate: want a positive rate or 0 for no mining")
	case !storageSize.MatchString(o.Storage):
		return nil, usagef("--storage %q: want a size like 1Gi", o.Storage)
	}
	return p, nil
}

// WriteK8sManifests writes the headless Service and the StatefulSet of a
// devnet as one multi-document YAML stream.
func WriteK8sManifests(w io.Writer, o K8sOptions) error {
	p, err := o.check()
	if err != nil {
		return err
	}
	q := func(s string) string { // a YAML double-quoted scalar (JSON is one)
		b, _ := json.Marshal(s)
		return string(b)
	}
	ctl := []string{"/usr/local/bin/quarryctl", "--network", p.Name, "--rpc-timeout", "5s", "getblockcount"}
	args := []string{
		"--config=" + k8sDataDir + "/" + k8sConfigName,
		"--network=" + p.Name,
		"--datadir=" + k8sDataDir + "/" + p.Name,
		"--no-mdns",
		fmt.Sprintf("--p2p-listen=0.0.0.0:%d", p.DefaultP2PPort),
		fmt.Sprintf("--rpc-listen=0.0.0.0:%d", p.DefaultRPCPort),
		"--rpc-allow-remote",
		fmt.Sprintf("--metrics-listen=0.0.0.0:%d", p.DefaultMetricsPort),
	}
	if o.TotalHashrate > 0 {
		args = append(args, "--mine", "--miner-threads=1",
			"--miner-hashrate-limit="+strconv.FormatFloat(math.Round(o.TotalHashrate/float64(o.N)), 'f', -1, 64))
	}
	initArgs := []string{"/usr/local/bin/devnet", "k8s", "init",
		"--seed", o.Seed, "-n", strconv.Itoa(o.N), "--network", p.Name, "--name", o.Name,
		"--pod", "$(POD_NAME)", "--out", k8sDataDir}
	// The Service publishes each port under its name, the container
	// declares it; the Service, the StatefulSet and its pods carry the
	// labels, and both select the pods by them.
	ports := []k8sPort{
		{"p2p", p.DefaultP2PPort, "TCP"},
		{"p2p-quic", p.DefaultP2PPort, "UDP"},
		{"rpc", p.DefaultRPCPort, "TCP"},
		{"metrics", p.DefaultMetricsPort, "TCP"},
	}
	labels := []k8sLabel{
		{"app.kubernetes.io/name", "quarry"},
		{"app.kubernetes.io/instance", q(o.Name)},
	}
	data := map[string]any{
		"O": o, "P": p, "Args": args, "InitArgs": initArgs, "Probe": ctl, "DataDir": k8sDataDir,
		"Ports": ports, "Labels": labels,
	}
	t := template.Must(template.New("k8s").Funcs(template.FuncMap{"q": q}).Parse(k8sTemplate))
	return t.Execute(w, data)
}

// k8sPort is a port of every node.
type k8sPort struct {
	Name     string // the port's name: the Service's targetPort refers to the container's port by it
	Port     int
	Protocol string // TCP or UDP
}

// k8sLabel is a label of the devnet's objects. Value is YAML text: a
// string from the options is quoted (q) before it goes in.
type k8sLabel struct{ Key, Value string }

// k8sTemplate is the manifests' text. Every string from the options goes
// through q, so no value can break the YAML. The ports, the labels and the
// probe command are each written once: ranges over .Ports and .Labels, and
// the "probe" template.
const k8sTemplate = `{{define "probe"}}[{{range $i, $a := .}}{{if $i}}, {{end}}{{q $a}}{{end}}]{{end -}}
# Quarry devnet: {{.O.N}} {{.P.Name}} nodes of the seed {{q .O.Seed}}, written by
#   scripts/devnet k8s -n {{.O.N}} --seed {{q .O.Seed}} --network {{.P.Name}} --image {{q .O.Image}} --name {{.O.Name}}
# Pod {{.O.Name}}-i is node i of the seed: the peer ID and miner address that
# scripts/devnet identities prints for the same seed and network.
apiVersion: v1
kind: Service
metadata:
  name: {{q .O.Name}}
  labels:
{{- range .Labels}}
    {{.Key}}: {{.Value}}
{{- end}}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
{{- range .Labels}}
    {{.Key}}: {{.Value}}
{{- end}}
  ports:
{{- range .Ports}}
    - {name: {{.Name}}, port: {{.Port}}, targetPort: {{.Name}}, protocol: {{.Protocol}}}
{{- end}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{q .O.Name}}
  labels:
{{- range .Labels}}
    {{.Key}}: {{.Value}}
{{- end}}
spec:
  serviceName: {{q .O.Name}}
  replicas: {{.O.N}}
  podManagementPolicy: Parallel
  selector:
    matchLabels:
{{- range .Labels}}
      {{.Key}}: {{.Value}}
{{- end}}
  template:
    metadata:
      labels:
{{- range .Labels}}
        {{.Key}}: {{.Value}}
{{- end}}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "{{.P.DefaultMetricsPort}}"
        prometheus.io/path: /metrics
    spec:
      terminationGracePeriodSeconds: 60
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        runAsGroup: 65532
        fsGroup: 65532
      initContainers:
        - name: identity
          image: {{q .O.Image}}
          imagePullPolicy: IfNotPresent
          command:
{{- range .InitArgs}}
            - {{q .}}
{{- end}}
          env:
            - name: POD_NAME
              valueFrom:
                fieldRef: {fieldPath: metadata.name}
          volumeMounts:
            - {name: data, mountPath: {{q .DataDir}}}
      containers:
        - name: quarryd
          image: {{q .O.Image}}
          imagePullPolicy: IfNotPresent
          args:
{{- range .Args}}
            - {{q .}}
{{- end}}
          ports:
{{- range .Ports}}
            - {name: {{.Name}}, containerPort: {{.Port}}, protocol: {{.Protocol}}}
{{- end}}
          readinessProbe:
            exec:
              command: {{template "probe" .Probe}}
            periodSeconds: 10
            timeoutSeconds: 10
            failureThreshold: 3
          livenessProbe:
            exec:
              command: {{template "probe" .Probe}}
            initialDelaySeconds: 30
            periodSeconds: 20
            timeoutSeconds: 10
            failureThreshold: 6
          resources:
            requests: {cpu: 250m, memory: 256Mi}
            limits: {memory: 1Gi}
          volumeMounts:
            - {name: data, mountPath: {{q .DataDir}}}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: {{.O.Storage}}
`

// K8sInitOptions are the parameters of one pod's init.
type K8sInitOptions struct {
	N       int
	Seed    string
	Network string
	Name    string // the StatefulSet's name
	Pod     string // this pod's name: <Name>-<ordinal>
	Out     string // the data volume's mount point
}

// K8sInit writes one pod's identity into its data volume: p2p.key in the
// network's data directory and the quarryd config file with the node's
// miner address and the other nodes' bootnode addresses (/dns4 names of
// the headless Service). It returns the node's index.
func K8sInit(o K8sInitOptions) (int, error) {
	p, err := chain.ParamsByName(o.Network)
	if err != nil {
		return 0, err
	}
	ord, ok := strings.CutPrefix(o.Pod, o.Name+"-")
	i, err := strconv.Atoi(ord)
	if !ok || err != nil || i < 0 || strconv.Itoa(i) != ord {
		return 0, fmt.Errorf("pod name %q is not %s-<ordinal>", o.Pod, o.Name)
	}
	if i >= o.N {
		return 0, fmt.Errorf("pod %s is node %d, but the devnet has %d nodes (-n)", o.Pod, i, o.N)
	}
	ids, err := lab.Identities(o.Seed, p.Name, o.N)
	if err != nil {
		return 0, err
	}
	if err := lab.WriteIdentity(filepath.Join(o.Out, p.Name), o.Seed, i); err != nil {
		return 0, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by devnet k8s init for pod %s: node %d of %d of the seed %q.\n", o.Pod, i, o.N, o.Seed)
	fmt.Fprintf(&b, "# It is rewritten at every start of the pod.\n")
	fmt.Fprintf(&b, "miner-address = %q\n", ids[i].Address)
	b.WriteString("bootnodes = [\n")
	for _, id := range ids {
		if id.Index != i {
			fmt.Fprintf(&b, "  %q,\n", fmt.Sprintf("/dns4/%s-%d.%s/tcp/%d/p2p/%s", o.Name, id.Index, o.Name, p.DefaultP2PPort, id.PeerID))
		}
	}
	b.WriteString("]\n")
	return i, atomicfile.WriteFile(filepath.Join(o.Out, k8sConfigName), []byte(b.String()), 0o644)
}

// k8s is the "k8s" command: manifests on stdout, or with the first
// argument "init", one pod's init.
func (c *command) k8s(rest []string) error {
	if len(rest) > 0 && rest[0] == "init" {
		return c.k8sInit(rest[1:])
	}
	o := K8sOptions{}
	c.fs.IntVar(&o.N, "n", 4, "number of nodes (StatefulSet replicas)")
	c.fs.StringVar(&o.Seed, "seed", "quarry", "seed of the deterministic identities")
	c.fs.StringVar(&o.Network, "network", "dev", "quarryd network")
	c.fs.StringVar(&o.Image, "image", "quarry:devnet", "image built from the repository's Dockerfile")
	c.fs.StringVar(&o.Name, "name", "quarry", "name of the StatefulSet and the headless Service (pods are <name>-<i>)")
	c.fs.Float64Var(&o.TotalHashrate, "total-hashrate", 2e6, "H/s shared equally by the nodes (0: no mining)")
	c.fs.StringVar(&o.Storage, "storage", "1Gi", "size of each node's data volume claim")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := WriteK8sManifests(&b, o); err != nil {
		return err
	}
	_, err := c.stdout.Write(b.Bytes())
	return err
}

func (c *command) k8sInit(rest []string) error {
	o := K8sInitOptions{}
	c.fs.IntVar(&o.N, "n", 4, "number of nodes")
	c.fs.StringVar(&o.Seed, "seed", "quarry", "seed of the deterministic identities")
	c.fs.StringVar(&o.Network, "network", "dev", "quarryd network")
	c.fs.StringVar(&o.Name, "name", "quarry", "name of the StatefulSet")
	c.fs.StringVar(&o.Pod, "pod", os.Getenv("POD_NAME"), "this pod's name, <name>-<ordinal> (default $POD_NAME)")
	c.fs.StringVar(&o.Out, "out", k8sDataDir, "the data volume's mount point")
	if _, err := c.args(rest, 0, "no arguments"); err != nil {
		return err
	}
	i, err := K8sInit(o)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "%s: node %d of seed %q, identity in %s\n", o.Pod, i, o.Seed, o.Out)
	return nil
}

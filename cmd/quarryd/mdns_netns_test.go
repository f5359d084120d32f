package main

// LAN discovery between real processes: three quarryd nodes, each in its own
// network namespace, joined by a bridge in a fourth namespace, find each
// other by mDNS alone (no bootnodes), except the one started with
// --no-mdns. Every interface and address lives in the namespaces the test
// creates; the host's network is not touched.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain/testkit"
	"github.com/quarrychain/quarry/cmd/internal/lab/labtest"
)

// discoverTimeout bounds the mDNS find and dial of two nodes. libp2p's
// mDNS browser queries at start and then with a growing interval, so a
// healthy run connects within a few seconds.
const discoverTimeout = 60 * time.Second

// netnsLAN is a bridge in its own namespace with hosts attached.
type netnsLAN struct {
	t      *testing.T
	prefix string // namespace name prefix, unique per test process
	bridge string // the bridge's namespace
}

// requireNetns skips the test unless it can create network namespaces.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: the ip command is missing (Debian package iproute2)")
	}
}

// ipCmd runs ip with args and fails the test on error.
func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// addNetns creates a namespace and deletes it at the end of the test.
func (l *netnsLAN) addNetns(name string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		if l.bridge == "" { // the first namespace: the kernel or the sandbox does not allow them
			l.t.Skipf("skipped: cannot create a network namespace: %v\n%s", err, out)
		}
		l.t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	l.t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
}

// newNetnsLAN creates the bridge's namespace.
func newNetnsLAN(t *testing.T) *netnsLAN {
	t.Helper()
	requireNetns(t)
	l := &netnsLAN{t: t, prefix: fmt.Sprintf("qmdns%d", os.Getpid())}
	name := l.prefix + "-br"
	l.addNetns(name)
	l.bridge = name
	ipCmd(t, "-n", name, "link", "add", "br0", "type", "bridge")
	ipCmd(t, "-n", name, "link", "set", "br0", "up")
	return l
}

// host creates namespace <prefix>-<i> with eth0 on the bridge at
// 10.77.0.<i+1>/24 (and a default route through it, as on a LAN).
func (l *netnsLAN) host(i int) string {
	l.t.Helper()
	ns := fmt.Sprintf("%s-%d", l.prefix, i)
	l.addNetns(ns)
	port := fmt.Sprintf("veth%d", i)
	ipCmd(l.t, "-n", l.bridge, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	ipCmd(l.t, "-n", l.bridge, "link", "set", port, "master", "br0", "up")
	ipCmd(l.t, "-n", ns, "addr", "add", fmt.Sprintf("10.77.0.%d/24", i+1), "dev", "eth0")
	ipCmd(l.t, "-n", ns, "link", "set", "lo", "up")
	ipCmd(l.t, "-n", ns, "link", "set", "eth0", "up")
	ipCmd(l.t, "-n", ns, "route", "add", "default", "dev", "eth0")
	return ns
}

// lanNode is a regtest quarryd in a namespace, on the network's default
// ports (each namespace has its own).
type lanNode struct {
	*labtest.Proc
	ns, dataDir, peerID string
	bins                binaries
}

func startLANNode(t *testing.T, bins binaries, ns string, extra ...string) *lanNode {
	t.Helper()
	n := &lanNode{ns: ns, dataDir: t.TempDir(), bins: bins}
	args := append([]string{"netns", "exec", ns, bins.quarryd, "--network", "regtest", "--datadir", n.dataDir, "--log-level", "debug"}, extra...)
	n.Proc = labtest.StartProcess(t, "ip", args...)
	testkit.WaitFor(t, labtest.StartTimeout, ns+" quarryd to answer RPC", func() bool {
		if n.Exited() {
			t.Fatalf("quarryd in %s exited during startup:\n%s", ns, labtest.Tail(n.Output.String(), 40))
		}
		var info struct {
			LocalPeerID string `json:"localpeerid"`
		}
		if n.tryCtl(&info, "getnetworkinfo") != nil {
			return false
		}
		n.peerID = info.LocalPeerID
		return true
	})
	return n
}

// tryCtl runs quarryctl in the node's namespace and decodes its JSON output.
func (n *lanNode) tryCtl(into any, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), labtest.CallTimeout)
	defer cancel()
	full := append([]string{"netns", "exec", n.ns, n.bins.quarryctl, "--network", "regtest", "--datadir", n.dataDir}, args...)
	out, err := exec.CommandContext(ctx, "ip", full...).Output()
	if err != nil {
		return err
	}
	return json.Unmarshal(out, into)
}

// peers returns the peer IDs the node is connected to.
func (n *lanNode) peers(t *testing.T) []string {
	t.Helper()
	var info []struct {
		PeerID string `json:"peerid"`
	}
	if err := n.tryCtl(&info, "getpeerinfo"); err != nil {
		t.Fatalf("getpeerinfo in %s: %v\n%s", n.ns, err, labtest.Tail(n.Output.String(), 20))
	}
	var ids []string
	for _, p := range info {
		ids = append(ids, p.PeerID)
	}
	slices.Sort(ids)
	return ids
}

func TestMDNSDiscoveryAcrossNamespaces(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: starts three quarryd processes in network namespaces")
	}
	lan := newNetnsLAN(t)
	hosts := []string{lan.host(0), lan.host(1), lan.host(2)}
	bins := buildBinaries(t)

	start := time.Now()
	quiet := startLANNode(t, bins, hosts[0], "--no-mdns")
	a := startLANNode(t, bins, hosts[1])
	b := startLANNode(t, bins, hosts[2])

	// a and b find each other with no bootnodes: mDNS on the bridge.
	testkit.WaitFor(t, discoverTimeout, "the mDNS nodes to connect", func() bool {
		return slices.Contains(a.peers(t), b.peerID) && slices.Contains(b.peers(t), a.peerID)
	})
	found := time.Since(start)
	t.Logf("mDNS: connected across namespaces %v after start", found.Round(time.Millisecond))

	// The --no-mdns node neither answers nor browses, so nobody learns its
	// address. A negative needs a window: twice the time the others took to
	// find each other (at least 5 s), during which the mDNS nodes keep
	// querying.
	window := max(2*found, 5*time.Second)
	deadline := time.Now().Add(window)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if p := quiet.peers(t); len(p) != 0 {
			t.Fatalf("the --no-mdns node has peers %v", p)
		}
		for _, n := range []*lanNode{a, b} {
			if p := n.peers(t); slices.Contains(p, quiet.peerID) {
				t.Fatalf("%s found the --no-mdns node", n.ns)
			}
		}
		<-tick.C
	}
	if !strings.Contains(quiet.Output.String(), "quarry node started") {
		t.Errorf("the --no-mdns node did not log its start:\n%s", labtest.Tail(quiet.Output.String(), 20))
	}

	for _, n := range []*lanNode{quiet, a, b} {
		if code := n.SignalExit(syscall.SIGTERM, labtest.StopTimeout); code != 0 {
			t.Errorf("quarryd in %s: exit %d after SIGTERM\n%s", n.ns, code, labtest.Tail(n.Output.String(), 20))
		}
	}
}

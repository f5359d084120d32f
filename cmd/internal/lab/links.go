package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// proxyLog is the proxy daemon's log file in the lab directory.
const proxyLog = "proxy.log"

// runningProxy is a ProxyServer run by this Lab value (attached mode).
type runningProxy struct {
	cancel context.CancelFunc
	done   chan error
}

// dialPort returns the port node i dials to reach neighbour j: j's p2p
// port, or in a shaped lab the port of the proxy of their link in that
// direction.
func (l *Lab) dialPort(i, j int) int {
	if !l.State.Shaped {
		return l.State.Nodes[j].P2PPort
	}
	k, _ := l.link(i, j)
	if i < j {
		return k.Ports[0]
	}
	return k.Ports[1]
}

// link returns the link between nodes i and j and its index.
func (l *Lab) link(i, j int) (Link, int) {
	a, b := min(i, j), max(i, j)
	for idx, k := range l.State.Links {
		if k.A == a && k.B == b {
			return k, idx
		}
	}
	return Link{}, -1
}

// bootnode returns the multiaddr node i dials to reach node j.
func (l *Lab) bootnode(i, j int) string {
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", l.dialPort(i, j), l.State.Nodes[j].PeerID)
}

// ProxyClient returns a client of the lab's proxy daemon, or an error
// when the lab is not shaped.
func (l *Lab) ProxyClient() (ProxyClient, error) {
	if !l.State.Shaped || l.State.Proxy == nil {
		return ProxyClient{}, errors.New("this lab has no link proxies (create it with `up --shaped`, a --link-delay or --link-bandwidth, or a topology file with conditions)")
	}
	return ProxyClient{Addr: l.State.Proxy.Control}, nil
}

// startProxy starts the lab's proxies unless they run: in this program
// (attached) or as the detached `devnet proxy` daemon (devnet is the
// devnet binary). It waits until the control API answers.
func (l *Lab) startProxy(ctx context.Context, attached bool, devnet string) error {
	if l.proxyRunning() {
		return nil
	}
	ports := make([]int, l.N())
	for i, n := range l.State.Nodes {
		ports[i] = n.P2PPort
	}
	if attached {
		srv, err := NewProxyServer(l.State.Links, ports, l.State.Proxy.Control, nil)
		if err != nil {
			return err
		}
		pctx, cancel := context.WithCancel(context.Background())
		rp := &runningProxy{cancel: cancel, done: make(chan error, 1)}
		go func() { rp.done <- srv.Run(pctx) }()
		select {
		case <-srv.Ready():
		case err := <-rp.done:
			cancel()
			return err
		}
		l.proxy = rp
		l.State.Proxy.PID = 0
		return nil
	}
	if devnet == "" {
		return errors.New("a shaped lab needs the devnet program to run its proxy daemon")
	}
	logf, err := os.OpenFile(filepath.Join(l.Dir, proxyLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	pid, err := startDetached(devnet, []string{"proxy", "--dir", l.Dir}, logf)
	_ = logf.Close() // the daemon writes through its own descriptor
	if err != nil {
		return fmt.Errorf("starting the proxy daemon: %w", err)
	}
	l.State.Proxy.PID = pid
	if err := l.Save(); err != nil {
		return err
	}
	c := ProxyClient{Addr: l.State.Proxy.Control}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = Poll(wctx, 50*time.Millisecond, func() (bool, error) {
		// Not processRunsWith: until the child has exec'd, its command
		// line is this program's.
		if !pidAlive(pid) {
			return false, fmt.Errorf("the proxy daemon exited; end of %s:\n%s", filepath.Join(l.Dir, proxyLog), TailFile(filepath.Join(l.Dir, proxyLog), 10))
		}
		_, err := c.Links(wctx)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the proxy daemon: %w", err)
	}
	l.logf("proxies: pid %d  control %s  %d links", pid, l.State.Proxy.Control, len(l.State.Links))
	return nil
}

// proxyRunning reports whether the lab's proxies run.
func (l *Lab) proxyRunning() bool {
	if l.proxy != nil {
		return true
	}
	p := l.State.Proxy
	return p != nil && p.PID > 0 && processRunsWith(p.PID, "--dir", l.Dir)
}

// stopProxy stops the lab's proxies (SIGTERM to the daemon, SIGKILL after
// grace).
func (l *Lab) stopProxy(grace time.Duration) error {
	if rp := l.proxy; rp != nil {
		rp.cancel()
		err := <-rp.done
		l.proxy = nil
		return err
	}
	p := l.State.Proxy
	if p == nil || p.PID == 0 {
		return nil
	}
	pid := p.PID
	p.PID = 0
	if !processRunsWith(pid, "--dir", l.Dir) {
		reapChild(pid) // it may have died on its own, a zombie of ours
		return nil
	}
	if err := stopDetached(pid, grace, func() bool { return processRunsWith(pid, "--dir", l.Dir) }); err != nil {
		return err
	}
	l.logf("proxies stopped (pid %d)", pid)
	return nil
}

// RunProxy runs the lab's proxies in this program until ctx ends (the
// `devnet proxy` daemon). Its log lines go to log.
func (l *Lab) RunProxy(ctx context.Context, log *slog.Logger) error {
	if !l.State.Shaped || l.State.Proxy == nil {
		return errors.New("this lab has no link proxies")
	}
	ports := make([]int, l.N())
	for i, n := range l.State.Nodes {
		ports[i] = n.P2PPort
	}
	srv, err := NewProxyServer(l.State.Links, ports, l.State.Proxy.Control, log)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// LinkChange is a change of one link's conditions (SetLink); nil fields
// keep the current value.
type LinkChange struct {
	Delay, Jitter *time.Duration
	Bandwidth     *int64
	Down          *bool
}

// SetLink changes the conditions of the link between nodes a and b in the
// proxies and the state file. A link that comes up is redialled at once
// from both ends (RPC addnode onetry), so the nodes need not wait for
// their redial backoff.
func (l *Lab) SetLink(ctx context.Context, a, b int, ch LinkChange) (Link, error) {
	c, err := l.ProxyClient()
	if err != nil {
		return Link{}, err
	}
	k, idx := l.link(a, b)
	if idx < 0 {
		return Link{}, fmt.Errorf("nodes %d and %d are not linked in this lab's topology (%s)", a, b, l.State.Topology)
	}
	wasDown := k.Down
	if ch.Delay != nil {
		k.Delay = *ch.Delay
	}
	if ch.Jitter != nil {
		k.Jitter = *ch.Jitter
	}
	if ch.Bandwidth != nil {
		k.Bandwidth = *ch.Bandwidth
	}
	if ch.Down != nil {
		k.Down = *ch.Down
	}
	if err := c.Set(ctx, k); err != nil {
		return Link{}, err
	}
	l.State.Links[idx] = k
	if err := l.Save(); err != nil {
		return k, err
	}
	if wasDown && !k.Down {
		l.redial(ctx, k)
	}
	return k, nil
}

// redial asks both ends of k to dial each other once through the link.
func (l *Lab) redial(ctx context.Context, k Link) {
	for _, e := range [][2]int{{k.A, k.B}, {k.B, k.A}} {
		if _, err := call[json.RawMessage](ctx, l, e[0], "addnode", l.bootnode(e[0], e[1]), "onetry"); err != nil {
			l.logf("node%d addnode node%d: %v", e[0], e[1], err)
		}
	}
}

// setLinksDown cuts (down) or restores the links between the groups and
// returns the names of the links it changed. A link that was already
// down is left as it is.
func (l *Lab) setLinksDown(ctx context.Context, groups [][]int, down bool, only map[string]bool) ([]string, error) {
	var changed []string
	for _, k := range l.State.Links {
		if groupOf(groups, k.A) == groupOf(groups, k.B) || k.Down == down {
			continue
		}
		if only != nil && !only[k.Name()] {
			continue
		}
		if _, err := l.SetLink(ctx, k.A, k.B, LinkChange{Down: &down}); err != nil {
			return changed, err
		}
		changed = append(changed, k.Name())
	}
	return changed, nil
}

// allocateFreePorts returns n loopback TCP ports that were free, held
// until all are chosen.
func allocateFreePorts(n int) ([]int, error) {
	out := make([]int, 0, n)
	var closers []func() error
	defer func() {
		for _, c := range closers {
			_ = c()
		}
	}()
	for len(out) < n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		closers = append(closers, ln.Close)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// FormatLinks returns one line per link: "0-1  100ms±20ms 1mbit".
func FormatLinks(links []Link) []string {
	out := make([]string, len(links))
	for i, k := range links {
		out[i] = fmt.Sprintf("%-7s %s", strconv.Itoa(k.A)+"-"+strconv.Itoa(k.B), k.Conditions())
	}
	return out
}

// PeerInfo returns node i's getpeerinfo.
func (l *Lab) PeerInfo(ctx context.Context, i int) ([]rpcjson.PeerInfo, error) {
	return call[[]rpcjson.PeerInfo](ctx, l, i, "getpeerinfo")
}

// CheckProxied returns an error unless every connection between the
// lab's nodes passes through a link proxy: no node announces an address
// of its own (getnetworkinfo localaddresses), no connection's remote
// address is a node's p2p port (a direct dial), and every outbound
// connection goes to the proxy of a link the node has in that direction.
func (l *Lab) CheckProxied(ctx context.Context) error {
	if !l.State.Shaped {
		return errors.New("the lab is not shaped")
	}
	nodePorts := map[string]int{}
	for _, n := range l.State.Nodes {
		nodePorts[strconv.Itoa(n.P2PPort)] = n.Index
	}
	for i := 0; i < l.N(); i++ {
		ni, err := call[rpcjson.NetworkInfo](ctx, l, i, "getnetworkinfo")
		if err != nil {
			return err
		}
		if len(ni.LocalAddresses) > 0 {
			return fmt.Errorf("node%d announces %v", i, ni.LocalAddresses)
		}
		peers, err := l.PeerInfo(ctx, i)
		if err != nil {
			return err
		}
		for _, p := range peers {
			j := l.nodeByPeerID(p.PeerID)
			if j < 0 {
				return fmt.Errorf("node%d has a peer outside the lab: %s at %s", i, p.PeerID, p.Addr)
			}
			port := p.Addr[strings.LastIndexByte(p.Addr, '/')+1:]
			if d, direct := nodePorts[port]; direct {
				return fmt.Errorf("node%d reaches node%d around the proxies: its connection's remote address %s is node%d's p2p port", i, j, p.Addr, d)
			}
			if !p.Inbound && port != strconv.Itoa(l.dialPort(i, j)) {
				return fmt.Errorf("node%d dialled node%d at %s, not through their link's proxy (port %d)", i, j, p.Addr, l.dialPort(i, j))
			}
			if _, idx := l.link(i, j); idx < 0 {
				return fmt.Errorf("node%d is connected to node%d, which is not its neighbour", i, j)
			}
		}
	}
	return nil
}

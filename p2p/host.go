package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/quarrychain/quarry/chain/atomicfile"
)

// keyFile is the identity key's file name in the data dir.
const keyFile = "p2p.key"

// listenAddr returns the configured or default listen address.
func (c Config) listenAddr() string {
	if c.ListenAddr != "" {
		return c.ListenAddr
	}
	return net.JoinHostPort("0.0.0.0", strconv.Itoa(c.Params.DefaultP2PPort))
}

// listenAddrs turns "host:port" into a TCP and a QUIC-v1 multiaddr on the
// same port. host must be an IP literal (empty means 0.0.0.0).
func listenAddrs(hostport string) ([]multiaddr.Multiaddr, error) {
	hs, ps, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "listen address %q (want host:port)", hostport)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "listen port %q", ps)
	}
	if hs == "" {
		hs = "0.0.0.0"
	}
	ip, err := netip.ParseAddr(hs)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "listen host %q (want an IP address)", hs)
	}
	proto := "ip4"
	if ip.Is6() && !ip.Is4In6() {
		proto = "ip6"
	}
	ip = ip.Unmap()
	tcpAddr, err := multiaddr.NewMultiaddr(fmt.Sprintf("/%s/%s/tcp/%d", proto, ip, port))
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "listen address %q", hostport)
	}
	quicAddr, err := multiaddr.NewMultiaddr(fmt.Sprintf("/%s/%s/udp/%d/quic-v1", proto, ip, port))
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "listen address %q", hostport)
	}
	return []multiaddr.Multiaddr{tcpAddr, quicAddr}, nil
}

// CheckListenAddr returns the error New would return for addr as
// Config.ListenAddr, or nil. It touches neither the disk nor the network,
// so a caller can validate its whole configuration before it creates
// anything. It is safe for concurrent use.
func CheckListenAddr(addr string) error {
	_, err := listenAddrs(addr)
	return err
}

// CheckPeerAddr returns the error New would return for s as a bootnode (a
// multiaddr ending in /p2p/<peer-id>), or nil. Like CheckListenAddr it has
// no side effects and is safe for concurrent use.
func CheckPeerAddr(s string) error {
	_, err := parsePeerAddr(s)
	return err
}

// CheckAnnounceAddrs returns the error New would return for addrs as
// Config.Announce, or nil. Like CheckListenAddr it has no side effects and
// is safe for concurrent use.
func CheckAnnounceAddrs(addrs []string) error {
	_, err := announceAddrs(addrs)
	return err
}

// announceAddrs parses Config.Announce.
func announceAddrs(addrs []string) ([]multiaddr.Multiaddr, error) {
	out := make([]multiaddr.Multiaddr, 0, len(addrs))
	for _, s := range addrs {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return nil, wrapErr(ErrBadConfig, err, "announce address %q (want a multiaddr such as /ip4/1.2.3.4/tcp/7733)", s)
		}
		out = append(out, a)
	}
	return out, nil
}

// loadOrCreateKey reads the identity key from dir, creating it (Ed25519,
// mode 0600, written atomically) on first use. An empty dir gives an
// ephemeral key.
func loadOrCreateKey(dir string) (crypto.PrivKey, error) {
	if dir == "" {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, wrapErr(ErrBadConfig, err, "generating identity key")
		}
		return k, nil
	}
	path := filepath.Join(dir, keyFile)
	raw, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, wrapErr(ErrBadConfig, err, "identity key %s is corrupt (delete it to get a new peer ID)", path)
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, wrapErr(ErrBadConfig, err, "identity key %s is readable by others", path)
			}
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, wrapErr(ErrBadConfig, err, "reading identity key")
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "generating identity key")
	}
	raw, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, wrapErr(ErrBadConfig, err, "encoding identity key")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, wrapErr(ErrBadConfig, err, "creating data dir")
	}
	if err := writeFileAtomic(path, raw, 0o600); err != nil {
		return nil, wrapErr(ErrBadConfig, err, "writing identity key")
	}
	return k, nil
}

// writeFileAtomic replaces path durably (the identity key, the ban list).
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	return atomicfile.WriteFile(path, data, mode)
}

// lanPrefixesV4 and V6 are the private and loopback ranges a devnet uses;
// the resource manager's per-IP connection limit (8) does not apply to them.
func lanPrefixes() (v4, v6 []rcmgr.NetworkPrefixLimit) {
	const lanConns = 4096
	for _, s := range []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"} {
		v4 = append(v4, rcmgr.NetworkPrefixLimit{Network: netip.MustParsePrefix(s), ConnCount: lanConns})
	}
	v4 = append(v4, rcmgr.NetworkPrefixLimit{Network: netip.MustParsePrefix("127.0.0.0/8"), ConnCount: math.MaxInt})
	v6 = []rcmgr.NetworkPrefixLimit{
		{Network: netip.MustParsePrefix("::1/128"), ConnCount: math.MaxInt},
		{Network: netip.MustParsePrefix("fc00::/7"), ConnCount: lanConns},
		{Network: netip.MustParsePrefix("fe80::/10"), ConnCount: lanConns},
	}
	return v4, v6
}

// newHost builds the libp2p host: TCP and QUIC-v1 on the configured port
// (TCP only with NoQUIC), the gater, a connection manager, a LAN-friendly
// resource manager and a bandwidth counter. With Config.Announce the host
// announces exactly those addresses: its AddrsFactory replaces the listen
// and observed addresses that identify would otherwise send.
func (n *Node) newHost() (host.Host, *byteCounter, error) {
	addrs, err := listenAddrs(n.cfg.listenAddr())
	if err != nil {
		return nil, nil, err
	}
	if n.cfg.NoQUIC {
		addrs = addrs[:1]
	}
	var announce []multiaddr.Multiaddr
	if n.cfg.Announce != nil {
		if announce, err = announceAddrs(n.cfg.Announce); err != nil {
			return nil, nil, err
		}
	}
	fixedPort := true
	if port, _ := addrs[0].ValueForProtocol(multiaddr.P_TCP); port == "0" {
		// A random port: listen on TCP first, then QUIC on the port TCP got.
		fixedPort = false
	}
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	v4, v6 := lanPrefixes()
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()),
		rcmgr.WithNetworkPrefixLimit(v4, v6),
		rcmgr.WithConnRateLimiters(&rate.Limiter{}), // no connection rate limit (reconnect storms after a heal)
	)
	if err != nil {
		return nil, nil, wrapErr(ErrBadConfig, err, "resource manager")
	}
	cm, err := connmgr.NewConnManager(n.cfg.LowPeers, n.cfg.HighPeers)
	if err != nil {
		_ = rm.Close()
		return nil, nil, wrapErr(ErrBadConfig, err, "connection manager")
	}
	bwc := newByteCounter()
	// The host starts without listeners and listen opens them one by one:
	// libp2p.New succeeds when any of its listen addresses works, which
	// would leave a node whose TCP port is taken running on QUIC alone.
	opts := []libp2p.Option{
		libp2p.Identity(n.key),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ConnectionGater(n.gate),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.BandwidthReporter(bwc),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("quarry/" + n.cfg.Params.Name),
	}
	if !n.cfg.NoQUIC {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if n.cfg.Announce != nil {
		opts = append(opts, libp2p.AddrsFactory(func([]multiaddr.Multiaddr) []multiaddr.Multiaddr {
			return append([]multiaddr.Multiaddr(nil), announce...)
		}))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		_ = cm.Close()
		_ = rm.Close()
		return nil, nil, wrapErr(ErrBadConfig, err, "starting libp2p")
	}
	if err := listen(h, addrs, fixedPort); err != nil {
		_ = h.Close() // closes the connection and resource managers too
		return nil, nil, err
	}
	return h, bwc, nil
}

// listen opens the TCP and the QUIC listener (addrs[1], absent with
// Config.NoQUIC). With a fixed port both must
// succeed: a port in use is an error naming the address, never a node
// that runs silently on one transport. With port 0, TCP picks a free port
// and QUIC takes the same UDP port if it is free, else any free one.
func listen(h host.Host, addrs []multiaddr.Multiaddr, fixedPort bool) error {
	tcpAddr := addrs[0]
	if err := listenOn(h, tcpAddr); err != nil {
		return err
	}
	if len(addrs) == 1 {
		return nil // TCP only (Config.NoQUIC)
	}
	quicAddr := addrs[1]
	if fixedPort {
		return listenOn(h, quicAddr)
	}
	ip, err := manet.ToIP(tcpAddr)
	if err != nil {
		return wrapErr(ErrBadConfig, err, "listen address %s", tcpAddr)
	}
	proto := "ip4"
	if ip.To4() == nil {
		proto = "ip6"
	}
	port := "0"
	for _, a := range h.Network().ListenAddresses() {
		if p, err := a.ValueForProtocol(multiaddr.P_TCP); err == nil {
			port = p
			break
		}
	}
	for _, p := range []string{port, "0"} {
		q, err := multiaddr.NewMultiaddr(fmt.Sprintf("/%s/%s/udp/%s/quic-v1", proto, ip, p))
		if err != nil {
			return wrapErr(ErrBadConfig, err, "QUIC listen address")
		}
		if err = listenOn(h, q); err == nil || p == "0" {
			return err
		}
	}
	return nil
}

// pingLoop measures the round trip to every connected peer each
// StatusInterval with libp2p's ping protocol, one ping per peer at a
// time; the ping records it in the peerstore, whose moving average
// Peers reports as PingTime. It returns when ctx ends.
func (n *Node) pingLoop(ctx context.Context) error {
	t := time.NewTicker(n.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		h := n.host()
		if h == nil {
			continue
		}
		var wg sync.WaitGroup
		for _, p := range h.Network().Peers() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
				defer cancel()
				select {
				case <-ping.Ping(pctx, h, p):
				case <-pctx.Done():
				}
			}()
		}
		wg.Wait()
	}
}

// ErrListen: a listener could not be opened (the port is in use, the
// address is not local ...). Its errors also match the cause, such as
// syscall.EADDRINUSE.
const ErrListen ErrorKind = "p2p cannot listen"

// listenAdder is the part of libp2p's swarm that opens one listener.
type listenAdder interface {
	AddListenAddr(multiaddr.Multiaddr) error
}

// listenOn opens one listener and reports its failure in one line such as
// "p2p: cannot listen on 127.0.0.1:4001 (tcp): listen tcp4 127.0.0.1:4001:
// bind: address already in use".
func listenOn(h host.Host, a multiaddr.Multiaddr) error {
	var err error
	// The swarm's AddListenAddr returns the transport's own error;
	// Network.Listen wraps it in a list of every failed address.
	if sw, ok := h.Network().(listenAdder); ok {
		err = sw.AddListenAddr(a)
	} else {
		err = h.Network().Listen(a)
	}
	if err == nil {
		return nil
	}
	where, transport := a.String(), "tcp"
	port, perr := a.ValueForProtocol(multiaddr.P_TCP)
	if perr != nil {
		port, perr = a.ValueForProtocol(multiaddr.P_UDP)
		transport = "udp, QUIC"
	}
	if ip, ierr := manet.ToIP(a); ierr == nil && perr == nil {
		where = net.JoinHostPort(ip.String(), port)
	}
	return &Error{Kind: ErrListen, Err: err,
		Description: fmt.Sprintf("p2p: cannot listen on %s (%s)", where, transport)}
}

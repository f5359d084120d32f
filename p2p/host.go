package p2p

import (
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

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	lpmetrics "github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/libp2p/go-libp2p/x/rate"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
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

func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
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

// newHost builds the libp2p host: TCP and QUIC-v1 on the configured port,
// the gater, a connection manager, a LAN-friendly resource manager and a
// bandwidth counter.
func (n *Node) newHost() (host.Host, *lpmetrics.BandwidthCounter, error) {
	addrs, err := listenAddrs(n.cfg.listenAddr())
	if err != nil {
		return nil, nil, err
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
	bwc := lpmetrics.NewBandwidthCounter()
	listen := addrs
	if !fixedPort {
		listen = addrs[:1]
	}
	h, err := libp2p.New(
		libp2p.Identity(n.key),
		libp2p.ListenAddrs(listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionGater(n.gate),
		libp2p.ConnectionManager(cm),
		libp2p.ResourceManager(rm),
		libp2p.BandwidthReporter(bwc),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("quarry/"+n.cfg.Params.Name),
	)
	if err != nil {
		_ = cm.Close()
		_ = rm.Close()
		return nil, nil, wrapErr(ErrBadConfig, err, "listening on %s", n.cfg.listenAddr())
	}
	if !fixedPort {
		n.listenQUICOnTCPPort(h, addrs[0])
	}
	return h, bwc, nil
}

// listenQUICOnTCPPort adds a QUIC listener on the port the TCP listener got,
// falling back to any free UDP port.
func (n *Node) listenQUICOnTCPPort(h host.Host, tcpAddr multiaddr.Multiaddr) {
	ip, err := manet.ToIP(tcpAddr)
	if err != nil {
		return
	}
	proto := "ip4"
	if ip.To4() == nil {
		proto = "ip6"
	}
	for _, a := range h.Network().ListenAddresses() {
		port, err := a.ValueForProtocol(multiaddr.P_TCP)
		if err != nil {
			continue
		}
		for _, p := range []string{port, "0"} {
			q, err := multiaddr.NewMultiaddr(fmt.Sprintf("/%s/%s/udp/%s/quic-v1", proto, ip, p))
			if err != nil {
				continue
			}
			if err := h.Network().Listen(q); err == nil {
				return
			}
		}
		return
	}
}

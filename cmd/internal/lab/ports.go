package lab

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// allocatePorts returns p2p, RPC and metrics ports per node and extra
// more TCP ports (a shaped lab's proxies). With base 0 it asks the kernel
// for free ports (the p2p port free for TCP and UDP, since QUIC shares
// it) and holds every one until all are chosen, so no port is handed out
// twice; with a base the extra ports follow the nodes' (base+10n, ...).
func allocatePorts(n, base, extra int) ([][3]int, []int, error) {
	out := make([][3]int, n)
	more := make([]int, extra)
	if base != 0 {
		if base < 1024 || base+10*n+extra > 65535 {
			return nil, nil, fmt.Errorf("--base-port %d: want 1024..%d", base, 65535-10*n-extra)
		}
		for i := range out {
			out[i] = [3]int{base + 10*i, base + 10*i + 1, base + 10*i + 2}
		}
		for k := range more {
			more[k] = base + 10*n + k
		}
		return out, more, nil
	}
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	tcpPort := func() (int, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		closers = append(closers, func() { _ = ln.Close() })
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	for i := range out {
		for attempt := 0; ; attempt++ {
			if attempt == 50 {
				return nil, nil, errors.New("no free TCP+UDP port pair found")
			}
			port, err := tcpPort()
			if err != nil {
				return nil, nil, err
			}
			uc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				continue // keep the TCP one held so it is not offered again
			}
			closers = append(closers, func() { _ = uc.Close() })
			out[i][0] = port
			break
		}
		for k := 1; k < 3; k++ {
			port, err := tcpPort()
			if err != nil {
				return nil, nil, err
			}
			out[i][k] = port
		}
	}
	for k := range more {
		port, err := tcpPort()
		if err != nil {
			return nil, nil, err
		}
		more[k] = port
	}
	return out, more, nil
}

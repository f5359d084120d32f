package lab

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// allocatePorts returns p2p, RPC and metrics ports per node. With base 0
// it asks the kernel for free ports (the p2p port free for TCP and UDP,
// since QUIC shares it) and holds them until all are chosen.
func allocatePorts(n, base int) ([][3]int, error) {
	out := make([][3]int, n)
	if base != 0 {
		if base < 1024 || base+10*n > 65535 {
			return nil, fmt.Errorf("--base-port %d: want 1024..%d", base, 65535-10*n)
		}
		for i := range out {
			out[i] = [3]int{base + 10*i, base + 10*i + 1, base + 10*i + 2}
		}
		return out, nil
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
				return nil, errors.New("no free TCP+UDP port pair found")
			}
			port, err := tcpPort()
			if err != nil {
				return nil, err
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
				return nil, err
			}
			out[i][k] = port
		}
	}
	return out, nil
}

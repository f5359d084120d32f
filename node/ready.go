package node

import (
	"context"
	"strings"
)

// announceReady waits for the listeners, records their addresses, logs the
// startup summary and closes Ready.
func (n *Node) announceReady(ctx context.Context, comps *components) error {
	if comps.rpc != nil {
		select {
		case <-comps.rpc.Ready():
		case <-ctx.Done():
			return nil
		}
		n.mu.Lock()
		n.rpcAddr = comps.rpc.Addr().String()
		n.mu.Unlock()
	}
	attrs := []any{"network", n.cfg.params.Name, "datadir", n.cfg.DataDir, "height", n.c.Height(), "tip", n.c.Best().Hash}
	if comps.net != nil {
		select {
		case <-comps.net.Ready():
		case <-ctx.Done():
			return nil
		}
		var addrs []string
		for _, a := range comps.net.Addrs() {
			addrs = append(addrs, a.String())
		}
		attrs = append(attrs, "peer_id", comps.net.ID().String(), "p2p", strings.Join(addrs, ","))
	} else {
		attrs = append(attrs, "p2p", "off")
	}
	if comps.stratum != nil {
		select {
		case <-comps.stratum.Ready():
		case <-ctx.Done():
			return nil
		}
		n.mu.Lock()
		n.stratumAddr = comps.stratum.Addr()
		n.mu.Unlock()
	}
	attrs = append(attrs, "rpc", orDefault(n.RPCAddr(), "off"), "metrics", orDefault(n.MetricsAddr(), "off"), "stratum", orDefault(n.StratumAddr(), "off"))
	st := comps.miner.Stats()
	attrs = append(attrs, "mining", n.cfg.Mine, "miner_threads", st.Threads, "miner_kernel", st.Kernel,
		"miner_address", comps.payTo.Encode(n.cfg.params))
	if n.cfg.MinerHashrateLimit > 0 {
		attrs = append(attrs, "miner_hashrate_limit", n.cfg.MinerHashrateLimit)
	}
	n.log.Info("quarry node started", attrs...)
	close(n.ready)
	return nil
}

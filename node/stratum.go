package node

import (
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner"
	"github.com/quarrychain/quarry/miner/stratum"
	"github.com/quarrychain/quarry/rpc"
)

// stratumNoDefault is the --stratum-default-address value that refuses
// worker names that are not addresses.
const stratumNoDefault = "none"

// resolveStratum validates the stratum settings: a host:port (checked with
// the other listeners), loopback unless --stratum-allow-remote, and the
// default payout.
func (c Config) resolveStratum(p *chain.Params) error {
	if c.StratumListen == "" {
		return nil
	}
	host, _, _ := net.SplitHostPort(c.StratumListen)
	if ip := net.ParseIP(host); !c.StratumAllowRemote && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--stratum-listen %s is not a loopback address: add --stratum-allow-remote (and consider --stratum-password) to let other machines mine", c.StratumListen)
	}
	switch c.StratumDefaultAddress {
	case "", stratumNoDefault:
	default:
		if _, err := chain.DecodeAddress(c.StratumDefaultAddress, p); err != nil {
			return fmt.Errorf("--stratum-default-address: %w (or \"none\")", err)
		}
	}
	return nil
}

// buildStratum creates the stratum server when --stratum-listen is set. Its
// jobs come from the node's miner (same templates) and its blocks go
// through submit, the miner's own path to ProcessBlock and p2p.
func (n *Node) buildStratum(c *chain.Chain, comps *components, submit miner.Submitter, reg prometheus.Registerer) error {
	cfg := n.cfg
	if cfg.StratumListen == "" {
		return nil
	}
	var payTo chain.Address
	switch cfg.StratumDefaultAddress {
	case "":
		payTo = comps.payTo
	case stratumNoDefault:
	default:
		payTo, _ = chain.DecodeAddress(cfg.StratumDefaultAddress, cfg.params) // validated in resolve
	}
	s, err := stratum.New(stratum.Config{
		ListenAddr: cfg.StratumListen, AllowRemote: cfg.StratumAllowRemote, Password: cfg.StratumPassword,
		PayTo: payTo, Chain: c, Templates: comps.miner, Submitter: submit,
		Logger: n.log, Registerer: reg, Now: n.cfg.now,
	})
	if err != nil {
		return err
	}
	comps.stratum = s
	comps.runners = append(comps.runners, s.Run)
	return nil
}

// StratumAddr returns the address of the stratum server ("" before Ready
// or when off).
func (n *Node) StratumAddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stratumAddr
}

var _ rpc.StratumBackend = (*backend)(nil)

// StratumInfo implements rpc.StratumBackend.
func (b *backend) StratumInfo() (rpc.StratumInfo, error) {
	s := b.comps.stratum
	if s == nil {
		return rpc.StratumInfo{}, fmt.Errorf("%w: stratum server is off (--stratum-listen)", rpc.ErrNotAvailable)
	}
	in := s.Info()
	out := rpc.StratumInfo{
		Listen: in.Listen, Connections: in.Connections, HashesPerSec: in.HashesPerSec,
		SharesAccepted: in.SharesAccepted, SharesRejected: in.SharesRejected, SharesStale: in.SharesStale,
		BlocksFound: in.BlocksFound, BlocksRejected: in.BlocksRejected,
		Workers: make([]rpc.StratumWorker, len(in.Workers)),
	}
	for i, w := range in.Workers {
		out.Workers[i] = rpc.StratumWorker{
			Name: w.Name, PayTo: w.PayTo, Remote: w.Remote, Agent: w.Agent, ConnectedSince: w.ConnectedSince,
			Difficulty: w.Difficulty, HashesPerSec: w.HashesPerSec,
			Accepted: w.Accepted, Rejected: w.Rejected, Stale: w.Stale, Blocks: w.Blocks, LastShare: w.LastShare,
		}
	}
	return out, nil
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/node/buildinfo"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// The composite commands of bitcoin-cli: --getinfo, --netinfo and
// --generate each make several calls and print one answer. Values the
// node reports are printed as the JSON text the node sent (numbers keep
// their exact form, as bitcoin-cli prints them).

// maxNetInfoLevel is the highest --netinfo detail level.
const maxNetInfoLevel = 4

// callInto makes one call and decodes its result into out.
func (g *globals) callInto(ctx context.Context, e env, method string, out any, args ...any) error {
	params, err := client.Params(args...)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	res, err := g.call(ctx, e, method, raw)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(res, out); err != nil {
		return fmt.Errorf("%s: unexpected reply: %w", method, err)
	}
	return nil
}

// isDisabled reports whether err is the server's "subsystem missing"
// answer (no wallet, no p2p), which a summary leaves out rather than fail.
func isDisabled(err error) bool {
	var re *client.RPCError
	if !errors.As(err, &re) {
		return false
	}
	switch re.Code {
	case rpcjson.CodeWalletNotFound, rpcjson.CodeClientP2PDisabled, rpcjson.CodeMethodNotFound:
		return true
	}
	return false
}

// getInfoNet is the part of getnetworkinfo --getinfo prints.
type getInfoNet struct {
	Version        json.RawMessage `json:"version"`
	TimeOffset     json.RawMessage `json:"timeoffset"`
	Connections    json.RawMessage `json:"connections"`
	ConnectionsIn  json.RawMessage `json:"connections_in"`
	ConnectionsOut json.RawMessage `json:"connections_out"`
	RelayFee       json.RawMessage `json:"relayfee"`
	Warnings       string          `json:"warnings"`
}

// getInfoChain is the part of getblockchaininfo --getinfo prints.
type getInfoChain struct {
	Chain                string          `json:"chain"`
	Blocks               json.RawMessage `json:"blocks"`
	Headers              json.RawMessage `json:"headers"`
	VerificationProgress float64         `json:"verificationprogress"`
	Difficulty           json.RawMessage `json:"difficulty"`
	Warnings             string          `json:"warnings"`
}

// runGetInfo is bitcoin-cli -getinfo: getblockchaininfo, getnetworkinfo
// and the wallet balance in one human-readable summary. A node without
// p2p or without a wallet leaves those sections out.
func (g *globals) runGetInfo(ctx context.Context, e env, args []string) int {
	if len(args) > 0 {
		fmt.Fprintln(e.stderr, "error: --getinfo takes no arguments (see quarryctl --help)")
		return exitFailure
	}
	var ch getInfoChain
	if err := g.callInto(ctx, e, "getblockchaininfo", &ch); err != nil {
		return g.reportError(e, err)
	}
	var ni *getInfoNet
	var n getInfoNet
	if err := g.callInto(ctx, e, "getnetworkinfo", &n); err == nil {
		ni = &n
	} else if !isDisabled(err) {
		return g.reportError(e, err)
	}
	var balance json.RawMessage
	if err := g.callInto(ctx, e, "getbalance", &balance); err != nil && !isDisabled(err) {
		return g.reportError(e, err)
	}
	writeGetInfo(e.stdout, ch, ni, balance)
	return 0
}

func writeGetInfo(w io.Writer, ch getInfoChain, ni *getInfoNet, balance json.RawMessage) {
	fmt.Fprintf(w, "Chain: %s\n", ch.Chain)
	fmt.Fprintf(w, "Blocks: %s\n", ch.Blocks)
	fmt.Fprintf(w, "Headers: %s\n", ch.Headers)
	fmt.Fprintf(w, "Verification progress: %s%.4f%%\n", progressBar(ch.VerificationProgress), 100*ch.VerificationProgress)
	fmt.Fprintf(w, "Difficulty: %s\n\n", ch.Difficulty)
	warnings := ch.Warnings
	if ni == nil {
		fmt.Fprint(w, "Network: off (the node runs without p2p)\n\n")
	} else {
		fmt.Fprintf(w, "Network: in %s, out %s, total %s\n", ni.ConnectionsIn, ni.ConnectionsOut, ni.Connections)
		fmt.Fprintf(w, "Version: %s\n", ni.Version)
		fmt.Fprintf(w, "Time offset (s): %s\n", ni.TimeOffset)
		fmt.Fprintf(w, "Min tx relay fee rate (coins/kB): %s\n\n", ni.RelayFee)
		if warnings == "" {
			warnings = ni.Warnings
		}
	}
	if len(balance) > 0 {
		fmt.Fprintf(w, "Balance: %s\n\n", balance)
	}
	if warnings == "" {
		warnings = "(none)"
	}
	fmt.Fprintf(w, "Warnings: %s\n", warnings)
}

// progressBar is bitcoin-cli's 5% bar, shown while below 99%.
func progressBar(p float64) string {
	if p < 0 || p >= 0.99 {
		return ""
	}
	filled := int(p / 0.05)
	return strings.Repeat("\u2592", filled) + strings.Repeat("\u2591", 20-filled) + " "
}

// netInfoHelp is --netinfo help.
const netInfoHelp = `-netinfo level|"help"

Returns a network peer connections dashboard with information from the remote server.
An optional integer argument from 0 to 4 selects the peer listing:
  0  peer counts and local addresses (the default)
  1  as 0, preceded by a list of the peers
  2  as 1, with each peer's address
  3  as 1, with each peer's agent version
  4  as 1, with address and agent version

Columns of the peer list:
  <->      direction: "in" (inbound) or "out" (outbound)
  type     "full" (outbound found by discovery), "manual" (addnode or a bootnode)
  ping     last ping time, in milliseconds
  age      minutes connected
  height   the peer's tip height
  id       peer index in getpeerinfo
  address  the peer's multiaddr
  version  the peer's agent version

Examples:
  quarryctl --netinfo
  quarryctl --netinfo 4
  watch --interval 1 --no-title quarryctl --netinfo 4
`

// runNetInfo is bitcoin-cli -netinfo: peer counts by direction and type,
// the local addresses, and at levels 1-4 a list of the peers.
func (g *globals) runNetInfo(ctx context.Context, e env, args []string) int {
	level := 0
	switch {
	case len(args) > 1:
		fmt.Fprintln(e.stderr, "error: --netinfo takes at most one argument, a level from 0 to 4 or \"help\"")
		return exitFailure
	case len(args) == 1:
		n, err := strconv.ParseUint(args[0], 10, 8)
		if err != nil {
			fmt.Fprintf(e.stderr, "error: invalid --netinfo argument: %s\nFor more information, run: quarryctl --netinfo help\n", args[0])
			return exitFailure
		}
		level = min(int(n), maxNetInfoLevel)
	}
	var peers []rpcjson.PeerInfo
	if err := g.callInto(ctx, e, "getpeerinfo", &peers); err != nil {
		return g.reportError(e, err)
	}
	var ni rpcjson.NetworkInfo
	if err := g.callInto(ctx, e, "getnetworkinfo", &ni); err != nil {
		return g.reportError(e, err)
	}
	writeNetInfo(e.stdout, g.params.Name, level, peers, ni, time.Now())
	return 0
}

func writeNetInfo(w io.Writer, network string, level int, peers []rpcjson.PeerInfo, ni rpcjson.NetworkInfo, now time.Time) {
	fmt.Fprintf(w, "Quarry client %s %s - server %d%s\n\n", buildinfo.Read().Version, network, ni.ProtocolVersion, ni.SubVersion)
	if level > 0 && len(peers) > 0 {
		sorted := append([]rpcjson.PeerInfo(nil), peers...)
		sort.SliceStable(sorted, func(i, j int) bool {
			if sorted[i].Inbound != sorted[j].Inbound {
				return !sorted[i].Inbound // outbound first
			}
			return sorted[i].PingTime < sorted[j].PingTime
		})
		withAddr, withVersion := level == 2 || level == 4, level == 3 || level == 4
		fmt.Fprintf(w, "%-3s %6s %7s %6s %8s %3s", "<->", "type", "ping", "age", "height", "id")
		if withAddr {
			fmt.Fprint(w, "  address")
		}
		if withVersion {
			fmt.Fprint(w, "  version")
		}
		fmt.Fprintln(w)
		for _, p := range sorted {
			dir, typ := "out", "full"
			switch {
			case p.Inbound:
				dir, typ = "in", ""
			case p.ConnectionType == "manual":
				typ = "manual"
			}
			ping := ""
			if p.PingTime > 0 {
				ping = strconv.FormatInt(int64(p.PingTime*1000+0.5), 10)
			}
			age := ""
			if p.ConnTime > 0 {
				age = strconv.FormatInt(max(0, now.Unix()-p.ConnTime)/60, 10)
			}
			fmt.Fprintf(w, "%-3s %6s %7s %6s %8d %3d", dir, typ, ping, age, p.SyncedBlocks, p.ID)
			if withAddr {
				fmt.Fprintf(w, "  %s", p.Addr)
			}
			if withVersion {
				fmt.Fprintf(w, "  %s", p.SubVer)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%-3s %6s %7s %6s\n\n", "", "", "ms", "min")
	}
	var in, out, manual int
	for _, p := range peers {
		switch {
		case p.Inbound:
			in++
		case p.ConnectionType == "manual":
			out++
			manual++
		default:
			out++
		}
	}
	fmt.Fprintf(w, "%-5s %7s %7s\n", "", "total", "manual")
	fmt.Fprintf(w, "%-5s %7d\n", "in", in)
	fmt.Fprintf(w, "%-5s %7d %7d\n", "out", out, manual)
	fmt.Fprintf(w, "%-5s %7d\n", "total", in+out)
	if !ni.NetworkActive {
		fmt.Fprintln(w, "\nNetwork activity is off (setnetworkactive true turns it back on).")
	}
	if len(ni.LocalAddresses) == 0 {
		fmt.Fprintln(w, "\nLocal addresses: n/a")
		return
	}
	fmt.Fprintln(w, "\nLocal addresses")
	for _, a := range ni.LocalAddresses {
		addr := a.Address
		if !strings.Contains(addr, "/p2p/") && ni.LocalPeerID != "" {
			addr += "/p2p/" + ni.LocalPeerID // what another node's --bootnodes takes
		}
		fmt.Fprintln(w, addr)
	}
}

// generateResult is --generate's output, bitcoin-cli's shape.
type generateResult struct {
	Address string            `json:"address"`
	Blocks  []json.RawMessage `json:"blocks"`
}

// runGenerate is bitcoin-cli -generate [nblocks] [maxtries]: a new wallet
// address, then generatetoaddress to it.
func (g *globals) runGenerate(ctx context.Context, e env, args []string) int {
	if len(args) > 2 {
		fmt.Fprintln(e.stderr, "error: too many arguments (maximum 2 for nblocks and maxtries)")
		return exitFailure
	}
	nblocks := int64(1)
	if len(args) > 0 {
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || n <= 0 {
			fmt.Fprintln(e.stderr, "error: the first argument (number of blocks to generate, default: 1) must be an integer value greater than zero")
			return exitFailure
		}
		nblocks = n
	}
	var addr string
	if err := g.callInto(ctx, e, "getnewaddress", &addr); err != nil {
		return g.reportError(e, err)
	}
	call := []any{nblocks, addr}
	if len(args) > 1 {
		tries, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil || tries <= 0 {
			fmt.Fprintln(e.stderr, "error: the second argument (maximum iterations to try) must be an integer value greater than zero")
			return exitFailure
		}
		call = append(call, tries)
	}
	res := generateResult{Address: addr}
	if err := g.callInto(ctx, e, "generatetoaddress", &res.Blocks, call...); err != nil {
		return g.reportError(e, err)
	}
	if res.Blocks == nil {
		res.Blocks = []json.RawMessage{}
	}
	b, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitFailure
	}
	if err := printResult(e.stdout, b); err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitFailure
	}
	return 0
}

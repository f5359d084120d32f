package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/p2p"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// adversaryNet is what the equivocate and junk modes need from the network
// beyond gossip: the connected peers and sending to one peer only.
// *p2p.Node satisfies it.
type adversaryNet interface {
	PeerIDs() []peer.ID
	SendBlock(ctx context.Context, p peer.ID, b *chain.Block) error
	SendRawPush(ctx context.Context, p peer.ID, data []byte) error
	PublishRawBlock(ctx context.Context, data []byte) error
}

// sendTimeout bounds the pushes of one equivocation or one junk round.
const sendTimeout = 10 * time.Second

// twinSendsMax bounds the remembered twin deliveries.
const twinSendsMax = 64

// twinSend records which twin of an equivocation went to which peer.
type twinSend struct {
	height uint64
	which  string // "A" (the block found first) or "B"
	twin   chain.Hash
	peer   peer.ID
	err    error
}

// sendTwins announces an equivocation: the connected peers, sorted by ID,
// get twin A and twin B alternately (A to the first, third ...), each on
// the block-push protocol, so each half of the neighbourhood sees its own
// twin first and relays it onwards. Without a network (or before it runs)
// both twins are gossiped instead. d.mu is not held.
func (d *adversaryDriver) sendTwins(height uint64, a, b *chain.Block) {
	var peers []peer.ID
	if d.net != nil {
		peers = d.net.PeerIDs()
	}
	if len(peers) == 0 {
		d.publish(a)
		d.publish(b)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	ha, hb := a.Hash(), b.Hash()
	sends := make([]twinSend, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		s := twinSend{height: height, which: "A", twin: ha, peer: p}
		blk := a
		if i%2 == 1 {
			s.which, s.twin, blk = "B", hb, b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.err = d.net.SendBlock(ctx, p, blk)
			sends[i] = s
		}()
	}
	wg.Wait()
	var to [2][]string
	for _, s := range sends {
		i := 0
		if s.which == "B" {
			i = 1
		}
		name := shortPeer(s.peer)
		if s.err != nil {
			name += " (failed)"
			d.log.Debug("pushing a twin failed", "peer", s.peer, "twin", s.twin, "err", s.err)
		}
		to[i] = append(to[i], name)
	}
	d.mu.Lock()
	d.twinSends = append(d.twinSends, sends...)
	if len(d.twinSends) > twinSendsMax {
		d.twinSends = d.twinSends[len(d.twinSends)-twinSendsMax:]
	}
	d.note("twin A %s to [%s], twin B %s to [%s]", ha, strings.Join(to[0], " "), hb, strings.Join(to[1], " "))
	d.mu.Unlock()
}

// shortPeer abbreviates a peer ID as the lab prints them (…last 8).
func shortPeer(p peer.ID) string {
	s := p.String()
	if len(s) > 8 {
		return "…" + s[len(s)-8:]
	}
	return s
}

// Junk kinds, sent in turn by the junk mode.
const (
	junkInvalidBlock  = iota // a mined block with its merkle root broken, on gossip
	junkGossipGarbage        // bytes that are no block, on the block topic
	junkPushGarbage          // a block frame of garbage, pushed to every peer
	junkPushOversized        // a frame header announcing 1 GiB, pushed to every peer
	junkKinds
)

var junkNames = [junkKinds]string{"invalid-block", "gossip-garbage", "push-garbage", "push-oversized"}

// sendJunk sends one piece of junk of the given kind.
func (d *adversaryDriver) sendJunk(ctx context.Context, kind int) {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	var what string
	var send func()
	switch kind {
	case junkInvalidBlock:
		b, err := d.c.Block(d.c.Best().Hash)
		if err != nil || b == nil {
			return
		}
		junk := *b
		junk.Header.MerkleRoot[0] ^= 0xff // the proof of work no longer covers the transactions
		what = fmt.Sprintf("invalid block %s (broken merkle root) on gossip", junk.Hash())
		send = func() { d.publish(&junk) }
	case junkGossipGarbage:
		if d.net == nil {
			return
		}
		what = "garbage on the block topic"
		send = func() { _ = d.net.PublishRawBlock(ctx, []byte("quarry junk: this is not a block")) }
	case junkPushGarbage, junkPushOversized:
		if d.net == nil {
			return
		}
		var data []byte
		if kind == junkPushGarbage {
			data = p2p.BlockFrame([]byte("quarry junk: this is not a block either"))
			what = "a garbage block frame pushed to every peer"
		} else {
			data = binary.BigEndian.AppendUint32(nil, 1<<30)
			what = "an oversized frame (1 GiB announced) pushed to every peer"
		}
		peers := d.net.PeerIDs()
		send = func() {
			var wg sync.WaitGroup
			for _, p := range peers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := d.net.SendRawPush(ctx, p, data); err != nil {
						d.log.Debug("pushing junk failed", "peer", p, "err", err)
					}
				}()
			}
			wg.Wait()
		}
	default:
		return
	}
	d.mu.Lock()
	d.junkByKind[kind]++
	d.note("sending junk: %s", what)
	d.mu.Unlock()
	send()
}

// netInfo adds the equivocation deliveries and junk kinds to an RPC
// answer.
func (d *adversaryDriver) netInfo(out *rpcjson.AdversaryInfo) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out.TwinSends = make([]rpcjson.TwinSend, 0, len(d.twinSends))
	for _, s := range d.twinSends {
		ts := rpcjson.TwinSend{Height: s.height, Which: s.which, Twin: s.twin.String(), Peer: s.peer.String()}
		if s.err != nil {
			ts.Error = s.err.Error()
		}
		out.TwinSends = append(out.TwinSends, ts)
	}
	for k, n := range d.junkByKind {
		if n > 0 {
			if out.JunkKinds == nil {
				out.JunkKinds = map[string]uint64{}
			}
			out.JunkKinds[junkNames[k]] = n
		}
	}
}

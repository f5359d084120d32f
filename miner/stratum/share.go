package stratum

import (
	"context"
	"encoding/hex"
	"encoding/json"

	"github.com/quarrychain/quarry/chain"
)

// submit handles mining.submit [worker, job_id, extranonce2, ntime, nonce
// (, version_bits)]. It returns the result JSON, the error and a
// disconnect reason.
func (c *conn) submit(ctx context.Context, params []json.RawMessage) (string, *ProtocolError, string) {
	s := c.s
	if err := c.limiter.Wait(ctx); err != nil {
		return "null", protoErr(CodeOther, "shutting down"), dropShutdown
	}
	var f [5]string
	names := [5]string{"worker", "job_id", "extranonce2", "ntime", "nonce"}
	for i := range f {
		var perr *ProtocolError
		if f[i], perr = stringParam(params, i, names[i]); perr != nil {
			return c.invalid(nil, perr)
		}
	}
	var vbits string
	hasVbits := len(params) > 5
	if hasVbits {
		var perr *ProtocolError
		if vbits, perr = stringParam(params, 5, "version_bits"); perr != nil {
			return c.invalid(nil, perr)
		}
	}

	// The chain's tip, not only the published epoch: between a block (from
	// any connection or peer) and the job loop's next epoch, a share of a
	// job on the replaced tip would otherwise be a competing block.
	tip := s.cfg.Chain.Best().Hash
	c.mu.Lock()
	if !c.subscribed {
		c.mu.Unlock()
		return c.invalid(nil, protoErr(CodeNotSubscribed, "not subscribed"))
	}
	ws := c.workers[f[0]]
	if ws == nil {
		c.mu.Unlock()
		s.met.rejected.WithLabelValues(rejectUnauthorized).Inc()
		s.rejected.Add(1)
		return "null", protoErr(CodeUnauthorized, "unauthorized worker %q", truncate(f[0], 64)), ""
	}
	j := c.jobs[f[1]]
	cur := s.epoch.Load()
	if j == nil || cur == nil || j.shared.tmpl.PrevHash != cur.tmpl.PrevHash || j.shared.tmpl.PrevHash != tip {
		ws.stale++
		c.mu.Unlock()
		s.stale.Add(1)
		if j == nil {
			return "null", protoErr(CodeJobNotFound, "job not found"), ""
		}
		return "null", protoErr(CodeJobNotFound, "stale job: the chain tip changed"), ""
	}
	mask := c.versionMask
	c.mu.Unlock()

	t := j.shared.tmpl
	sh := Share{Version: t.Block.Header.Version}
	putExtranonce1(&sh.Extranonce, c.ex1)
	if len(f[2]) != 2*Extranonce2Size {
		return c.invalid(ws, protoErr(CodeOther, "incorrect size of extranonce2: want %d bytes", Extranonce2Size))
	}
	if _, err := hex.Decode(sh.Extranonce[Extranonce1Size:], []byte(f[2])); err != nil {
		return c.invalid(ws, protoErr(CodeOther, "extranonce2 is not hex"))
	}
	ntime, err := ParseUint32Hex(f[3])
	if err != nil {
		return c.invalid(ws, protoErr(CodeOther, "ntime: %v", err))
	}
	if maxTime := s.cfg.Now().Add(s.params.MaxFutureBlockTime).Unix(); int64(ntime) < t.MinTime || int64(ntime) > maxTime {
		return c.invalid(ws, protoErr(CodeOther, "ntime out of range: %d not in [%d, %d]", ntime, t.MinTime, maxTime))
	}
	sh.Time = ntime
	if sh.Nonce, err = ParseUint32Hex(f[4]); err != nil {
		return c.invalid(ws, protoErr(CodeOther, "nonce: %v", err))
	}
	if hasVbits {
		v, err := ParseUint32Hex(vbits)
		if err != nil {
			return c.invalid(ws, protoErr(CodeOther, "version_bits: %v", err))
		}
		if v&^mask != 0 {
			return c.invalid(ws, protoErr(CodeOther, "version bits %08x outside the negotiated mask %08x", v, mask))
		}
		sh.Version = sh.Version&^mask | v&mask
	}
	hdr := HeaderFor(t, sh)
	hash := hdr.BlockHash()

	now := s.cfg.Now()
	c.mu.Lock()
	if _, dup := c.seen[hash]; dup {
		ws.rejected++
		c.mu.Unlock()
		s.rejected.Add(1)
		s.met.rejected.WithLabelValues(rejectDuplicate).Inc()
		return "null", protoErr(CodeDuplicate, "duplicate share"), ""
	}
	if !meetsLE(&hash, &j.target.le) {
		ws.rejected++
		c.invalidRun++
		drop := ""
		if c.invalidRun >= s.cfg.MaxInvalidShares {
			drop = dropInvalid
		}
		c.mu.Unlock()
		s.rejected.Add(1)
		s.met.rejected.WithLabelValues(rejectLowDifficulty).Inc()
		return "null", protoErr(CodeLowDifficulty, "low difficulty share"), drop
	}
	// Only accepted shares are remembered: filling the set takes real
	// work at the share difficulty, not just bytes.
	if len(c.seen) >= maxSeenPerConn {
		clear(c.seen)
	}
	c.seen[hash] = struct{}{}
	c.invalidRun = 0
	ws.accepted++
	ws.lastShare = now
	ws.rate.add(now, j.target.diff*hashesPerDiff1)
	c.vd.shares++
	retarget := c.vd.shares >= vardiffShares
	isBlock := meetsLE(&hash, &t.TargetLE)
	c.mu.Unlock()
	s.accepted.Add(1)
	s.addAcceptedDiff(j.target.diff)
	if retarget {
		c.wakeUp()
	}
	if isBlock {
		c.foundBlock(ws, BlockFor(t, sh), f[0])
	}
	return "true", nil, ""
}

// foundBlock submits a share that meets the network target.
func (c *conn) foundBlock(ws *workerStats, b *chain.Block, worker string) {
	s := c.s
	h := b.Hash()
	if err := s.cfg.Submitter.SubmitBlock(b); err != nil {
		s.blocksRejected.Add(1)
		s.log.Warn("block from stratum worker rejected", "hash", h, "worker", worker, "err", err)
		return
	}
	s.blocksFound.Add(1)
	c.mu.Lock()
	ws.blocks++
	c.mu.Unlock()
	s.log.Info("stratum worker found a block", "hash", h, "worker", worker, "remote", c.remote)
	s.TipChanged()
}

// invalid rejects a malformed share; too many in a row close the
// connection.
func (c *conn) invalid(ws *workerStats, perr *ProtocolError) (string, *ProtocolError, string) {
	c.mu.Lock()
	if ws != nil {
		ws.rejected++
	}
	c.invalidRun++
	drop := ""
	if c.invalidRun >= c.s.cfg.MaxInvalidShares {
		drop = dropInvalid
	}
	c.mu.Unlock()
	c.s.rejected.Add(1)
	c.s.met.rejected.WithLabelValues(rejectInvalid).Inc()
	return "null", perr, drop
}

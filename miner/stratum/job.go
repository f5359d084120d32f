package stratum

import (
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/miner"
)

// epoch is one published base template: every job sent while it is
// current is derived from it. Epochs are immutable but for the job cache.
type epoch struct {
	seq     uint64
	tmpl    *miner.Template // pays the placeholder; jobs re-point the coinbase
	clean   bool            // the tip changed: miners must drop older jobs
	noticed time.Time       // when the change that led to it was noticed

	mu   sync.Mutex
	jobs map[chain.Address]*sharedJob
}

// job returns the job of this epoch paying payTo, deriving it on first use.
// Connections paying the same address share it (and its encoded notify
// fields). Safe for concurrent use.
func (e *epoch) job(payTo chain.Address) *sharedJob {
	e.mu.Lock()
	j, ok := e.jobs[payTo]
	e.mu.Unlock()
	if ok {
		return j
	}
	// Derive outside the lock, so writers paying different addresses
	// derive in parallel; a concurrent derivation for the same address
	// loses to the first one stored (they are identical).
	j = newSharedJob(e, e.tmpl.WithPayTo(payTo))
	e.mu.Lock()
	defer e.mu.Unlock()
	if first, ok := e.jobs[payTo]; ok {
		return first
	}
	if e.jobs == nil {
		e.jobs = make(map[chain.Address]*sharedJob)
	}
	e.jobs[payTo] = j
	return j
}

// sharedJob is a template for one payout address with its mining.notify
// parameters (all but the job id and clean_jobs) encoded once. It is
// immutable and safe for concurrent use.
type sharedJob struct {
	ep   *epoch
	tmpl *miner.Template
	// notifyTail is the notify line after the job id: `","prevhash",...,"ntime",`
	// (clean_jobs and the closing brackets are appended per connection).
	notifyTail []byte
}

func newSharedJob(e *epoch, t *miner.Template) *sharedJob {
	h := t.Block.Header
	b := make([]byte, 0, 256+2*(len(t.Coinb1)+len(t.Coinb2))+67*len(t.Branch))
	b = append(b, `",`...)
	b = appendQuoted(b, PrevHashHex(h.PrevBlock))
	b = append(b, ',')
	b = appendQuoted(b, hex.EncodeToString(t.Coinb1))
	b = append(b, ',')
	b = appendQuoted(b, hex.EncodeToString(t.Coinb2))
	b = append(b, ",["...)
	for i, s := range BranchHex(t.Branch) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, s)
	}
	b = append(b, "],"...)
	b = appendQuoted(b, Uint32Hex(h.Version))
	b = append(b, ',')
	b = appendQuoted(b, Uint32Hex(h.Bits))
	b = append(b, ',')
	b = appendQuoted(b, Uint32Hex(h.Timestamp))
	b = append(b, ',')
	return &sharedJob{ep: e, tmpl: t, notifyTail: b}
}

// appendNotify appends a complete mining.notify line for job id.
func (j *sharedJob) appendNotify(b []byte, id string, clean bool) []byte {
	b = append(b, `{"id":null,"method":"mining.notify","params":["`...)
	b = append(b, id...)
	b = append(b, j.notifyTail...)
	if clean {
		b = append(b, "true]}\n"...)
	} else {
		b = append(b, "false]}\n"...)
	}
	return b
}

// connJob is a job as sent to one connection: the shared job and the share
// target in force when it was sent.
type connJob struct {
	id     string
	shared *sharedJob
	target shareTarget
}

// Share is a submitted solution in binary form.
type Share struct {
	Extranonce [chain.ExtraNonceSize]byte // extranonce1 || extranonce2
	Time       uint32
	Nonce      uint32
	Version    uint32
}

// HeaderFor returns the header a share of template t describes: the
// coinbase is Coinb1 || extranonce || Coinb2, its hash folded with the
// template's branch is the merkle root.
func HeaderFor(t *miner.Template, s Share) chain.Header {
	h := t.Header(s.Extranonce, s.Time, s.Nonce)
	h.Version = s.Version
	return h
}

// BlockFor returns the full block of a share.
func BlockFor(t *miner.Template, s Share) *chain.Block {
	b := t.MakeBlock(s.Extranonce, s.Time, s.Nonce)
	b.Header.Version = s.Version
	return b
}

// putExtranonce1 writes the connection's extranonce1 into the first bytes
// of an extra-nonce.
func putExtranonce1(dst *[chain.ExtraNonceSize]byte, ex1 uint32) {
	binary.BigEndian.PutUint32(dst[:Extranonce1Size], ex1)
}

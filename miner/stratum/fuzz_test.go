package stratum

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// FuzzRequestLine feeds arbitrary lines to a subscribed, authorized
// connection's request handler: it must answer every decodable request
// with one well-formed response line and never panic.
func FuzzRequestLine(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"method":"mining.subscribe","params":["x"]}`,
		`{"id":2,"method":"mining.authorize","params":["qm1qqqq.w","x"]}`,
		`{"id":3,"method":"mining.submit","params":["w","1","00000000","6b151f5b","00000000"]}`,
		`{"id":3,"method":"mining.submit","params":["w","1","00000000","6b151f5b","00000000","00002000"]}`,
		`{"id":4,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff"}]}`,
		`{"id":5,"method":"mining.suggest_difficulty","params":[0.5]}`,
		`{"id":[1,2],"method":"mining.extranonce.subscribe","params":{}}`,
		`{"id":"x","method":"mining.submit","params":[1,2,3,4,5]}`,
		`{"id":null,"method":"nope"}`,
	} {
		f.Add([]byte(s))
	}
	s, _ := benchServer(f, 0x1d00ffff, func(c *Config) { c.PayTo = chain.Address{0: 3} })
	t0, err := s.cfg.Templates.BuildTemplateFor(time.Now(), placeholderPayTo)
	if err != nil {
		f.Fatal(err)
	}
	s.epoch.Store(&epoch{seq: 1, tmpl: t0, clean: true, noticed: time.Now()})
	f.Fuzz(func(t *testing.T, line []byte) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		c := s.newConn(a)
		c.subscribed, c.authorized, c.payTo = true, true, chain.Address{0: 3}
		c.workers["w"] = &workerStats{name: "w", rate: rateWindow{start: time.Now()}}
		c.work(nil)
		var req Request
		if json.Unmarshal(line, &req) != nil || req.Method == "" {
			return
		}
		if len(req.ID) == 0 {
			req.ID = json.RawMessage("null")
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		resp, _, _ := c.handle(ctx, &req)
		if !bytes.HasSuffix(resp, []byte("\n")) || bytes.Count(resp, []byte("\n")) != 1 {
			t.Fatalf("response is not one line: %q", resp)
		}
		var m Message
		if err := json.Unmarshal(resp, &m); err != nil {
			t.Fatalf("response %q is not JSON: %v", resp, err)
		}
	})
}

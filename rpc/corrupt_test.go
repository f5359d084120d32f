package rpc_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc"
	"github.com/quarrychain/quarry/rpc/rpcjson"
	"github.com/quarrychain/quarry/rpc/rpctest"
)

// corruptBackend answers reads of one block as the chain does when the
// stored data fails its integrity check.
type corruptBackend struct {
	*rpctest.Backend
	bad chain.Hash
}

func (b corruptBackend) Block(h chain.Hash) (*chain.Block, error) {
	if h == b.bad {
		return nil, &chain.RuleError{Kind: chain.ErrCorruptData, Description: fmt.Sprintf("stored block data corrupt: block %s: checksum mismatch", h)}
	}
	return b.Backend.Block(h)
}

// TestGetBlockCorruptData: a block whose stored data is corrupt is reported
// as RPC_DATABASE_ERROR saying so, not as -1 "Block not found on disk".
func TestGetBlockCorruptData(t *testing.T) {
	f := rpctest.New()
	tip := f.Tip().Hash
	s := newServer(t, f, func(c *rpc.Config) { c.Backend = corruptBackend{f, tip} })
	for _, verbosity := range []int{0, 1, 2} {
		body := fmt.Sprintf(`{"jsonrpc":"1.0","id":1,"method":"getblock","params":["%s",%d]}`, tip, verbosity)
		_, resp := post(t, s.Handler(), body)
		var r struct {
			Error *rpcjson.Error `json:"error"`
		}
		if err := json.Unmarshal([]byte(resp), &r); err != nil {
			t.Fatalf("%v: %s", err, resp)
		}
		if r.Error == nil || r.Error.Code != rpcjson.CodeDatabaseError || !strings.Contains(r.Error.Message, "Block data corrupt on disk") {
			t.Fatalf("verbosity %d: %s", verbosity, resp)
		}
	}
}

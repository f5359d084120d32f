package memstore_test

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/kv/kvtest"
	"github.com/quarrychain/quarry/chain/memstore"
)

var _ chain.Store = (*memstore.Store)(nil)

func TestContract(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kvtest.Store {
		s := memstore.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

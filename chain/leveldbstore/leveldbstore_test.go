package leveldbstore_test

import (
	"testing"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/chain/kv/kvtest"
	"github.com/quarrychain/quarry/chain/leveldbstore"
)

var _ chain.Store = (*leveldbstore.Store)(nil)

func TestContract(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) kvtest.Store {
		s, err := leveldbstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
		return s
	})
}

package lab

import (
	"context"
	"errors"
	"fmt"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// call invokes method on node i with positional params.
func call[T any](ctx context.Context, l *Lab, i int, method string, params ...any) (T, error) {
	var out T
	c, err := l.Client(i)
	if err != nil {
		return out, err
	}
	ps, err := client.Params(params...)
	if err != nil {
		return out, err
	}
	if err := c.Call(ctx, method, ps, &out); err != nil {
		return out, fmt.Errorf("node%d %s: %w", i, method, err)
	}
	return out, nil
}

// StateInfo returns node i's getstateinfo (tip, height, work and state
// digest from one snapshot).
func (l *Lab) StateInfo(ctx context.Context, i int) (rpcjson.StateInfo, error) {
	return call[rpcjson.StateInfo](ctx, l, i, "getstateinfo")
}

// Tips returns every node's tip.
func (l *Lab) Tips(ctx context.Context) ([]TipRecord, error) {
	out := make([]TipRecord, l.N())
	for i := range out {
		si, err := l.StateInfo(ctx, i)
		if err != nil {
			return nil, err
		}
		out[i] = TipRecord{Node: i, Hash: si.BestBlockHash, Height: si.Height, ChainWork: si.ChainWork}
	}
	return out, nil
}

// Agreement is a check of whether all nodes are on the same tip with the
// same state.
type Agreement struct {
	Agree  bool
	Tip    chain.Hash
	Height uint64
	Digest chain.Hash
	// Reason says what differs when Agree is false.
	Reason string
	// Left lists the nodes left out (lie-work and junk: banned by their
	// peers).
	Left []int `json:",omitempty"`
}

// CheckAgreement reads every node's tip and state digest.
// Lie-work and junk nodes are left out: their peers ban them, so they
// never rejoin the others' chain.
func (l *Lab) CheckAgreement(ctx context.Context) (Agreement, error) {
	return l.checkAgreementAmong(ctx, Role.bannedByPeers)
}

// checkAgreementAmong is CheckAgreement over the nodes whose role skip
// does not leave out.
func (l *Lab) checkAgreementAmong(ctx context.Context, skip func(Role) bool) (Agreement, error) {
	var first rpcjson.StateInfo
	var left []int
	ref := -1
	for i := 0; i < l.N(); i++ {
		if skip(l.State.Nodes[i].Role) {
			left = append(left, i)
			continue
		}
		si, err := l.StateInfo(ctx, i)
		if err != nil {
			return Agreement{}, err
		}
		if ref < 0 {
			first, ref = si, i
			continue
		}
		if si.BestBlockHash != first.BestBlockHash {
			return Agreement{Reason: fmt.Sprintf("node%d tip %s (height %d) != node%d tip %s (height %d)",
				i, short(si.BestBlockHash), si.Height, ref, short(first.BestBlockHash), first.Height)}, nil
		}
		if si.StateDigest != first.StateDigest {
			return Agreement{Reason: fmt.Sprintf("node%d state digest %s != node%d %s on the same tip %s",
				i, short(si.StateDigest), ref, short(first.StateDigest), short(si.BestBlockHash))}, nil
		}
	}
	return Agreement{Agree: true, Tip: first.BestBlockHash, Height: first.Height, Digest: first.StateDigest, Left: left}, nil
}

// WaitAgreement polls until all nodes agree (tip and state digest).
func (l *Lab) WaitAgreement(ctx context.Context) (Agreement, error) {
	var last Agreement
	err := Poll(ctx, pollFast, func() (bool, error) {
		a, err := l.CheckAgreement(ctx)
		if err != nil {
			return false, err
		}
		last = a
		return a.Agree, nil
	})
	if err != nil && last.Reason != "" {
		return last, fmt.Errorf("%w (last: %s)", err, last.Reason)
	}
	return last, err
}

// Header returns getblockheader of hash as node i knows it.
func (l *Lab) Header(ctx context.Context, i int, h chain.Hash) (rpcjson.BlockHeaderVerbose, error) {
	return call[rpcjson.BlockHeaderVerbose](ctx, l, i, "getblockheader", h, true)
}

// HashAt returns node i's main-chain block at height.
func (l *Lab) HashAt(ctx context.Context, i int, height uint64) (chain.Hash, error) {
	return call[chain.Hash](ctx, l, i, "getblockhash", height)
}

// ForkPoint returns the last block that the main chains of nodes a and b
// share: a binary search over heights with getblockhash (main chains that
// differ at some height differ above it too).
func (l *Lab) ForkPoint(ctx context.Context, a, b int) (chain.Hash, uint64, error) {
	sa, err := l.StateInfo(ctx, a)
	if err != nil {
		return chain.Hash{}, 0, err
	}
	sb, err := l.StateInfo(ctx, b)
	if err != nil {
		return chain.Hash{}, 0, err
	}
	lo, hi := uint64(0), min(sa.Height, sb.Height) // genesis is shared
	same := func(h uint64) (bool, error) {
		ha, err := l.HashAt(ctx, a, h)
		if err != nil {
			return false, err
		}
		hb, err := l.HashAt(ctx, b, h)
		if err != nil {
			return false, err
		}
		return ha == hb, nil
	}
	if ok, err := same(hi); err != nil {
		return chain.Hash{}, 0, err
	} else if ok {
		lo = hi
	}
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		ok, err := same(mid)
		if err != nil {
			return chain.Hash{}, 0, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	h, err := l.HashAt(ctx, a, lo)
	return h, lo, err
}

// Mempool returns node i's pending transaction ids.
func (l *Lab) Mempool(ctx context.Context, i int) ([]chain.Hash, error) {
	return call[[]chain.Hash](ctx, l, i, "getrawmempool")
}

// TxStatus is where one node sees a transaction.
type TxStatus struct {
	InMempool bool
	// Block is set when the transaction is confirmed in the node's main chain.
	Block  *chain.Hash
	Height uint64
}

// TxStatus looks a transaction up on node i.
func (l *Lab) TxStatus(ctx context.Context, i int, id chain.Hash) (TxStatus, error) {
	pool, err := l.Mempool(ctx, i)
	if err != nil {
		return TxStatus{}, err
	}
	var st TxStatus
	for _, p := range pool {
		if p == id {
			st.InMempool = true
		}
	}
	tx, err := call[rpcjson.TxVerbose](ctx, l, i, "getrawtransaction", id, true)
	var re *client.RPCError
	if errors.As(err, &re) && re.Code == rpcjson.CodeInvalidAddressOrKey {
		return st, nil
	}
	if err != nil {
		return TxStatus{}, err
	}
	if tx.BlockHash != nil {
		st.Block = tx.BlockHash
		if tx.BlockHeight != nil {
			st.Height = *tx.BlockHeight
		}
	}
	return st, nil
}

// Account returns getaccount on node i.
func (l *Lab) Account(ctx context.Context, i int, addr string) (rpcjson.AccountInfo, error) {
	return call[rpcjson.AccountInfo](ctx, l, i, "getaccount", addr)
}

// Generate mines n blocks on node i to its own address (generatetoaddress;
// instant on regtest).
func (l *Lab) Generate(ctx context.Context, i, n int) ([]chain.Hash, error) {
	node, err := l.Node(i)
	if err != nil {
		return nil, err
	}
	return call[[]chain.Hash](ctx, l, i, "generatetoaddress", n, node.Address)
}

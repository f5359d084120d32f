package client

import (
	"context"
	"encoding/hex"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// call marshals vals as positional parameters and calls method.
func (c *Client) call(ctx context.Context, method string, result any, vals ...any) error {
	ps, err := Params(vals...)
	if err != nil {
		return err
	}
	return c.Call(ctx, method, ps, result)
}

// callT calls method and decodes its result into a new T.
func callT[T any](ctx context.Context, c *Client, method string, vals ...any) (T, error) {
	var r T
	err := c.call(ctx, method, &r, vals...)
	return r, err
}

// GetBlockCount returns the tip height.
func (c *Client) GetBlockCount(ctx context.Context) (uint64, error) {
	return callT[uint64](ctx, c, "getblockcount")
}

// GetBestBlockHash returns the tip hash.
func (c *Client) GetBestBlockHash(ctx context.Context) (chain.Hash, error) {
	return callT[chain.Hash](ctx, c, "getbestblockhash")
}

// GetBlockHash returns the main-chain block at height.
func (c *Client) GetBlockHash(ctx context.Context, height uint64) (chain.Hash, error) {
	return callT[chain.Hash](ctx, c, "getblockhash", height)
}

// GetBlock returns a block (getblock verbosity 0, decoded).
func (c *Client) GetBlock(ctx context.Context, h chain.Hash) (*chain.Block, error) {
	s, err := callT[string](ctx, c, "getblock", h, 0)
	if err != nil {
		return nil, err
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return chain.DecodeBlock(b)
}

// GetBlockVerbose returns getblock's verbosity-1 object.
func (c *Client) GetBlockVerbose(ctx context.Context, h chain.Hash) (rpcjson.BlockVerbose, error) {
	return callT[rpcjson.BlockVerbose](ctx, c, "getblock", h, 1)
}

// GetBlockchainInfo returns getblockchaininfo.
func (c *Client) GetBlockchainInfo(ctx context.Context) (rpcjson.BlockchainInfo, error) {
	return callT[rpcjson.BlockchainInfo](ctx, c, "getblockchaininfo")
}

// GetChainTips returns getchaintips.
func (c *Client) GetChainTips(ctx context.Context) ([]rpcjson.ChainTip, error) {
	return callT[[]rpcjson.ChainTip](ctx, c, "getchaintips")
}

// GetAccount returns getaccount for an address (text form).
func (c *Client) GetAccount(ctx context.Context, address string) (rpcjson.AccountInfo, error) {
	return callT[rpcjson.AccountInfo](ctx, c, "getaccount", address)
}

// SendRawTransaction submits a transaction and returns its id.
func (c *Client) SendRawTransaction(ctx context.Context, tx *chain.Tx) (chain.Hash, error) {
	return callT[chain.Hash](ctx, c, "sendrawtransaction", hex.EncodeToString(tx.Bytes()))
}

// GetRawMempool returns the pending transaction ids.
func (c *Client) GetRawMempool(ctx context.Context) ([]chain.Hash, error) {
	return callT[[]chain.Hash](ctx, c, "getrawmempool")
}

// GenerateToAddress mines n blocks (dev and regtest).
func (c *Client) GenerateToAddress(ctx context.Context, n int, address string) ([]chain.Hash, error) {
	return callT[[]chain.Hash](ctx, c, "generatetoaddress", n, address)
}

// GetPeerInfo returns getpeerinfo.
func (c *Client) GetPeerInfo(ctx context.Context) ([]rpcjson.PeerInfo, error) {
	return callT[[]rpcjson.PeerInfo](ctx, c, "getpeerinfo")
}

// GetNetworkInfo returns getnetworkinfo.
func (c *Client) GetNetworkInfo(ctx context.Context) (rpcjson.NetworkInfo, error) {
	return callT[rpcjson.NetworkInfo](ctx, c, "getnetworkinfo")
}

// Partition blocks the given peer ids until Heal (devnet control).
func (c *Client) Partition(ctx context.Context, peerIDs ...string) error {
	return c.call(ctx, "partition", nil, peerIDs)
}

// Heal lifts every partition block.
func (c *Client) Heal(ctx context.Context) error { return c.call(ctx, "heal", nil) }

// WaitForNewBlock waits up to timeoutMs (0: no limit) for the tip to move.
func (c *Client) WaitForNewBlock(ctx context.Context, timeoutMs int64) (rpcjson.BlockRef, error) {
	return callT[rpcjson.BlockRef](ctx, c, "waitfornewblock", timeoutMs)
}

// Stop asks the node to shut down.
func (c *Client) Stop(ctx context.Context) error { return c.call(ctx, "stop", nil) }

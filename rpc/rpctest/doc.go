// Package rpctest provides Backend, a deterministic in-memory fake of
// rpc.Backend for tests of the RPC server, its clients and tools: a regtest
// chain of a few real (mined, signed) blocks with a side branch, a small
// mempool, peers, bans, a wallet and an event source the test drives.
//
// Everything is derived from fixed seeds and a fixed clock, so two Backends
// built by New answer every method identically; golden files rely on it.
// Backend is safe for concurrent use.
package rpctest

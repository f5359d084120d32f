// Package rpcjson holds the JSON shapes of Quarry's JSON-RPC interface that
// the server (package rpc), its Go client (package rpc/client) and the
// command-line client (cmd/quarryctl) share: error codes and the error
// object, the exact-decimal Amount type, the result structs of every method
// and the parameters of WebSocket notifications.
//
// Field names follow Bitcoin Core wherever the concept exists (getblock's
// "confirmations", "nTx", "chainwork", getmininginfo's "networkhashps", ...),
// so existing Bitcoin RPC tooling reads them. Hashes are chain.Hash values,
// which marshal as Bitcoin-style byte-reversed hex. Coin amounts are Amount
// values, which marshal as JSON numbers with exactly eight decimals (like
// Core's ValueFromAmount), so no precision is lost in either direction.
//
// Every type here is a plain value: safe for concurrent use once built, and
// with no behaviour beyond (un)marshalling.
package rpcjson

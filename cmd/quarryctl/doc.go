// Command quarryctl is Quarry's command-line client, in the manner of
// bitcoin-cli: it sends one JSON-RPC call to a running quarryd and prints
// the result, and it has offline key and transaction commands.
//
//	quarryctl [flags] <method> [args...]
//	quarryctl [flags] key new --out FILE [--show-private]
//	quarryctl [flags] key address --key FILE
//	quarryctl [flags] tx transfer --key FILE --to ADDR --amount COINS --fee COINS [--nonce N] [--memo TEXT]
//	quarryctl [flags] tx send     (same flags as transfer; submits with sendrawtransaction)
//
// Flags (before the method): --network main|test|dev|regtest (default
// dev), --datadir (default ~/.quarry/<network>), --rpc-connect host[:port]
// (default 127.0.0.1 and the network's RPC port), --rpc-user and
// --rpc-password (else the cookie file <datadir>/.cookie is read),
// --named (arguments are key=value pairs), --rpcwait (retry until the
// server answers) with --rpcwait-timeout (seconds or a Go duration; 0 waits
// forever), --rpc-timeout (bound of one call, default 900 s), --help.
//
// Arguments are typed like bitcoin-cli's: an argument of a parameter the
// server declares as a string (a block hash, an address, hex data) is sent
// as a JSON string; any other argument is sent as JSON if it parses as JSON
// (numbers, true/false, null, objects, arrays), else as a string. So
// `quarryctl getblock <hash> 2` sends ["<hash>", 2].
//
// Output: a string result is printed raw, null prints nothing, anything
// else is indented JSON. An RPC error prints "error code: N" and "error
// message:" with the message to stderr and exits with |N| (truncated to 8
// bits by the OS, as bitcoin-cli does); other failures exit with 1.
//
// Decisions: the standard library's flag package (no dependency; flags
// accept one or two dashes; flags must precede the method, as in
// bitcoin-cli). Amounts of the tx commands are coins with at most eight
// decimals ("1.5"), parsed exactly. The private key is never printed unless
// --show-private is given; key files are written with mode 0600 and never
// overwritten. Without --nonce, tx transfer/send ask the node for the
// sender's pending nonce (getaccount), which needs the RPC flags.
package main

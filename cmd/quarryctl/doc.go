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
// Flags (before the method; one or two dashes): --network
// main|test|dev|regtest (default dev), --datadir (default
// ~/.quarry/<network>), --rpc-connect host[:port] (default 127.0.0.1 and
// the network's RPC port) and --rpcport, --rpc-user and --rpc-password
// (else the cookie file <datadir>/.cookie is read), --named (arguments are
// key=value pairs), --rpcwait (retry until the server answers) with
// --rpcwait-timeout (seconds or a Go duration; 0 waits forever),
// --rpcclienttimeout (bound of one call, default 900 s, 0 for none),
// --version, --help (to stdout, exit 0).
//
// bitcoin-cli's own spellings work too: -rpcconnect, -rpcport, -rpcuser,
// -rpcpassword, -rpcwaittimeout, -rpcclienttimeout (also --rpc-timeout),
// and its helpers:
//
//   - -stdin reads further arguments from standard input, one per line
//     until EOF (keeps secrets and large hex out of the process list);
//   - -stdinrpcpass reads the RPC password from the first line of
//     standard input (before the -stdin lines). The line is read as is:
//     pipe it in, it is not hidden when typed on a terminal;
//   - -getinfo prints a human-readable summary (chain, blocks, progress,
//     difficulty, connections, version, relay fee, wallet balance) from
//     getblockchaininfo, getnetworkinfo and getbalance; a node without p2p
//     or wallet leaves those parts out;
//   - -netinfo [0-4|help] prints peer counts (in, out, manual) and the
//     local addresses; levels 1-4 add a peer list (ping, age, height, id,
//     and with 2/4 the address, with 3/4 the agent version);
//   - -generate [nblocks] [maxtries] mines to a new wallet address
//     (getnewaddress, then generatetoaddress) and prints
//     {"address", "blocks"}.
//
// A flag error prints one line with a hint ("see quarryctl --help"), not
// the usage. A call that gets no reply within --rpcclienttimeout prints a
// sentence that names the server, the method and the limit.
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

// Package wallet is Quarry's key and transaction tooling: the library behind
// quarryctl's key commands and the node's development wallet. It imports
// only chain (and secp256k1); node connects it to the chain and mempool
// through the AccountReader interface and a SubmitFunc.
//
// # Offline tooling (quarryctl)
//
//   - GenerateKey, NewKey, ParsePrivateKeyHex, AddressOf: secp256k1 keys and
//     the address they control (chain.AddressFromPubKey of the compressed
//     public key; text form Address.Encode(params), bech32m).
//   - SaveKeyFile / LoadKeyFile: one key per JSON file
//     {"version":1,"network":"dev","address":"qd1...","public_key":"02...",
//     "private_key":"<64 hex>"}, mode 0600, never overwritten
//     (ErrFileExists). Loading refuses files readable by group or others
//     (ErrInsecureFile, like ssh), files of another network
//     (ErrWrongNetwork), and files whose address does not match the key.
//   - BuildTransfer signs a Payment (recipient, amount, fee, memo) offline
//     for a given nonce; the caller gets the nonce from getaccount (the
//     mempool's pending nonce).
//     EncodeTxHex / DecodeTxHex are the raw hex of sendrawtransaction.
//   - ParseAmount / FormatAmount convert between base units and decimal
//     coins with 8 places ("1.50000000"); ParseAddress wraps address errors.
//
// # Development wallet (node)
//
// Open(dir, params, opts) manages wallet.json in dir (dir mode 0700, file
// 0600, JSON: network, default address, keys as hex, transaction records).
// Every change is written before the method returns, atomically (temporary
// file, fsync, rename, directory fsync), so a crash leaves the old or the
// new file, never a torn one. Keys are stored unencrypted and protected by
// file permissions only: this is a development wallet, like an unencrypted
// Bitcoin Core wallet. Only one process may use a wallet file; quarryctl
// reaches the node's wallet over RPC, not by opening the file.
//
// DefaultAddress creates the first key on first use; the miner pays to it
// when no --miner-address is given. NewAddress adds keys, ImportKey adds a
// key loaded from a key file.
//
// Balances come from chain state through AccountReader (Account for the
// confirmed balance and nonce, PendingNonce from the mempool). Spendable
// subtracts amount+fee of the wallet's own unconfirmed sends whose nonce
// lies in [confirmed nonce, pending nonce), i.e. that are still pending;
// incoming pending payments are not credited (the mempool would not let
// them be spent either).
//
// Send (and SendFrom) take a Payment and pick one address that can pay
// amount plus fee on its own (an account-model transaction has exactly one
// sender): the default address first, then the others in creation order; if
// the funds are spread over several addresses the error says so. The nonce
// is the larger of the node's PendingNonce and the wallet's own reservation
// (the nonce after its last send from that address, trusted for
// Options.NonceReservation, one minute by default), and the whole
// pick-sign-submit step runs under the wallet's lock, so two quick sends
// never collide even if the submit path is asynchronous, while a send the
// mempool dropped does not wedge the address. A send is recorded only if
// Submit accepts it; Submit's error is wrapped so errors.Is matches the
// mempool's kinds (mempool.ErrFeeTooLow...).
//
// # Transaction history
//
// Decision: ListTransactions shows the wallet's own sends (recorded when
// sent) plus what it sees in blocks while the node feeds it chain events
// (HandleEvent, or BlockConnected/BlockDisconnected): coinbases paying a
// wallet address ("generate"), transfers to it ("receive"), and sends from
// wallet addresses made by other tools. Disconnected blocks un-confirm sends
// and drop their receive/generate records. There is no rescan of blocks
// from before the wallet existed, and the history is bounded
// (Options.MaxHistory, 1000 records, oldest dropped); balances never depend
// on it. Confirmations are counted from the last block event the wallet saw.
//
// # Errors
//
// Failures are *Error with an ErrorKind (errors.Is(err,
// wallet.ErrInsufficientFunds)) and an actionable description; the kind
// comments name the Bitcoin Core RPC error code RPC should map each to.
//
// Formatting follows one rule in every package of the module (chain,
// mempool, miner, p2p, node/wallet): Error() returns the Description, then
// ": " and the cause's text when the error wraps a cause (Err); a
// Description says what failed and never repeats the cause, so a message
// names each cause once. Descriptions are sentences for the user and do not
// start with the kind's text.
//
// # Concurrency
//
// A Wallet is safe for concurrent use (one mutex; the AccountReader and
// SubmitFunc are called under it and must not call back into the wallet).
// The package-level functions are pure or touch only the named file.
package wallet

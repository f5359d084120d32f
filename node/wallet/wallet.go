package wallet

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/quarrychain/quarry/chain"
)

// AccountReader is the chain and mempool view the dev wallet needs; node
// implements it with (*chain.Chain).Account and (*mempool.Pool).PendingNonce.
// It must be safe for concurrent use.
type AccountReader interface {
	// Account returns the confirmed state of a at the chain tip.
	Account(a chain.Address) chain.Account
	// PendingNonce returns the nonce a's next transaction should use,
	// counting its transactions pending in the mempool.
	PendingNonce(a chain.Address) uint64
}

// SubmitFunc hands a signed transaction to the node (mempool admission and
// relay). Its error is returned by Send wrapped, so errors.Is still matches
// the mempool's kinds.
type SubmitFunc func(tx *chain.Tx) error

// Options configure a dev wallet. All fields are optional; without State
// and Submit the wallet manages keys and history but Balance and Send fail
// with ErrNoBackend.
type Options struct {
	State  AccountReader
	Submit SubmitFunc
	// Now is the clock for record and key times (default time.Now).
	Now func() time.Time
	// Logger receives one line per notable event (nil: discard).
	Logger *slog.Logger
	// MaxHistory bounds the transaction records kept (default 1000; the
	// oldest go first).
	MaxHistory int
	// NonceReservation is how long the wallet trusts its own record of a
	// nonce it just used over a lower PendingNonce from the node (default
	// one minute): two quick sends never reuse a nonce even if the first has
	// not reached the mempool yet, and a send the mempool dropped does not
	// block the address for longer than this.
	NonceReservation time.Duration
}

// Wallet is a node-side development wallet in the spirit of Bitcoin Core's:
// keys in a file in the data directory, a default address for the miner,
// balances from chain state, sends through the node's mempool and a bounded
// record of its transactions. Safe for concurrent use; every change is
// written to disk before the method returns.
type Wallet struct {
	path   string
	params *chain.Params
	opts   Options
	log    *slog.Logger

	mu        sync.Mutex
	keys      []*walletKey // creation order
	byAddr    map[chain.Address]*walletKey
	def       chain.Address
	hasDef    bool
	history   []TxRecord // oldest first
	reserved  map[chain.Address]reservation
	tipHeight uint64
}

type walletKey struct {
	key     *Key
	created time.Time
}

type reservation struct {
	next uint64
	at   time.Time
}

// Open opens (or prepares) the wallet in dir for network p. dir is created
// with mode 0700 if missing; the wallet file (FileName, mode 0600) is
// created when the first key is. An existing file must belong to p's
// network (ErrWrongNetwork), be private to its owner (ErrInsecureFile) and
// parse (ErrCorrupt). Open starts no goroutines.
func Open(dir string, p *chain.Params, opts Options) (*Wallet, error) {
	if p == nil {
		return nil, fmt.Errorf("wallet: params are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.MaxHistory <= 0 {
		opts.MaxHistory = 1000
	}
	if opts.NonceReservation <= 0 {
		opts.NonceReservation = time.Minute
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("wallet directory: %w", err)
	}
	w := &Wallet{
		path: filepath.Join(dir, FileName), params: p, opts: opts,
		log:      opts.Logger.With("component", "wallet"),
		byAddr:   make(map[chain.Address]*walletKey),
		reserved: make(map[chain.Address]reservation),
	}
	if err := w.load(); err != nil {
		return nil, err
	}
	return w, nil
}

// Path returns the wallet file's path.
func (w *Wallet) Path() string { return w.path }

// NewAddress generates a key, stores it and returns its address. The key is
// on disk before NewAddress returns.
func (w *Wallet) NewAddress() (chain.Address, error) {
	k, err := GenerateKey()
	if err != nil {
		return chain.Address{}, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.addKeyLocked(k); err != nil {
		return chain.Address{}, err
	}
	w.log.Info("new wallet address", "address", k.Address.Encode(w.params))
	return k.Address, nil
}

// ImportKey adds an existing key (for example one loaded with LoadKeyFile)
// and returns its address; importing a key the wallet has is a no-op.
func (w *Wallet) ImportKey(k *Key) (chain.Address, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.byAddr[k.Address]; ok {
		return k.Address, nil
	}
	return k.Address, w.addKeyLocked(k)
}

// addKeyLocked stores k, rolling back if the file cannot be written.
func (w *Wallet) addKeyLocked(k *Key) error {
	wk := &walletKey{key: k, created: w.opts.Now().UTC()}
	w.keys = append(w.keys, wk)
	w.byAddr[k.Address] = wk
	if err := w.save(); err != nil {
		w.keys = w.keys[:len(w.keys)-1]
		delete(w.byAddr, k.Address)
		return err
	}
	return nil
}

// Addresses returns the wallet's addresses in creation order.
func (w *Wallet) Addresses() []chain.Address {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]chain.Address, len(w.keys))
	for i, wk := range w.keys {
		out[i] = wk.key.Address
	}
	return out
}

// HasAddress reports whether the wallet holds the key of a.
func (w *Wallet) HasAddress(a chain.Address) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.byAddr[a]
	return ok
}

// DefaultAddress returns the wallet's default address (the miner pays to it
// when no --miner-address is given), creating a key on first use.
func (w *Wallet) DefaultAddress() (chain.Address, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.hasDef {
		return w.def, nil
	}
	created := len(w.keys) == 0
	if created {
		k, err := GenerateKey()
		if err != nil {
			return chain.Address{}, err
		}
		w.keys = append(w.keys, &walletKey{key: k, created: w.opts.Now().UTC()})
		w.byAddr[k.Address] = w.keys[0]
	}
	w.def, w.hasDef = w.keys[0].key.Address, true
	if err := w.save(); err != nil {
		w.hasDef = false
		if created {
			delete(w.byAddr, w.keys[0].key.Address)
			w.keys = nil
		}
		return chain.Address{}, err
	}
	w.log.Info("wallet default address", "address", w.def.Encode(w.params))
	return w.def, nil
}

// PrivateKey returns the key of a wallet address (ErrUnknownAddress if the
// wallet does not hold it).
func (w *Wallet) PrivateKey(a chain.Address) (*Key, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wk, ok := w.byAddr[a]
	if !ok {
		return nil, errorf(ErrUnknownAddress, "address %s is not in this wallet", a.Encode(w.params))
	}
	return wk.key, nil
}

// AddressBalance is the state of one wallet address.
type AddressBalance struct {
	Address chain.Address
	// Confirmed is the balance at the chain tip; Nonce the account's next
	// confirmed nonce; PendingNonce the next nonce counting the mempool.
	Confirmed    uint64
	Nonce        uint64
	PendingNonce uint64
	// Spendable is Confirmed minus amount+fee of this wallet's sends from
	// the address that are still pending in the mempool.
	Spendable uint64
}

// Balances returns the state of every wallet address, in creation order.
func (w *Wallet) Balances() ([]AddressBalance, error) {
	if w.opts.State == nil {
		return nil, errorf(ErrNoBackend, "the wallet has no chain state to compute balances from")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]AddressBalance, 0, len(w.keys))
	for _, wk := range w.keys {
		out = append(out, w.balanceLocked(wk.key.Address))
	}
	return out, nil
}

// Balance returns the sums over all wallet addresses of the confirmed and
// the spendable balance (see AddressBalance).
func (w *Wallet) Balance() (confirmed, spendable uint64, err error) {
	bs, err := w.Balances()
	if err != nil {
		return 0, 0, err
	}
	for _, b := range bs {
		confirmed += b.Confirmed
		spendable += b.Spendable
	}
	return confirmed, spendable, nil
}

func (w *Wallet) balanceLocked(a chain.Address) AddressBalance {
	acct := w.opts.State.Account(a)
	pn := max(w.opts.State.PendingNonce(a), acct.Nonce)
	b := AddressBalance{Address: a, Confirmed: acct.Balance, Nonce: acct.Nonce, PendingNonce: pn, Spendable: acct.Balance}
	for _, r := range w.history {
		if r.Category == CategorySend && r.Address == a && r.BlockHash.IsZero() && r.Nonce >= acct.Nonce && r.Nonce < pn {
			spend := r.Amount + r.Fee
			if spend > b.Spendable {
				b.Spendable = 0
			} else {
				b.Spendable -= spend
			}
		}
	}
	return b
}

// Send makes pay (amount plus fee, base units) from one wallet address that
// can cover it on its own (the default address first, then in creation
// order; an account-model transaction has exactly one sender), using the
// address's next pending nonce, and hands the signed transaction to the
// submit function. Concurrent sends are serialised and never reuse a nonce.
// The transaction is recorded as a "send" only if Submit accepted it.
// Errors: ErrNoBackend, ErrInsufficientFunds, ErrInvalidTx, or Submit's
// error wrapped.
func (w *Wallet) Send(pay Payment) (*chain.Tx, error) {
	return w.send(nil, pay)
}

// SendFrom is Send from a given wallet address (ErrUnknownAddress if the
// wallet does not hold it).
func (w *Wallet) SendFrom(from chain.Address, pay Payment) (*chain.Tx, error) {
	return w.send(&from, pay)
}

func (w *Wallet) send(from *chain.Address, pay Payment) (*chain.Tx, error) {
	amount, fee := pay.Amount, pay.Fee
	if w.opts.State == nil || w.opts.Submit == nil {
		return nil, errorf(ErrNoBackend, "the wallet has no node to send through")
	}
	need := amount + fee
	if need < amount {
		return nil, errorf(ErrBadAmount, "amount %d plus fee %d overflows", amount, fee)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	wk, err := w.pickKeyLocked(from, need)
	if err != nil {
		return nil, err
	}
	a := wk.key.Address
	now := w.opts.Now()
	nonce := max(w.opts.State.PendingNonce(a), w.opts.State.Account(a).Nonce)
	if r, ok := w.reserved[a]; ok && r.next > nonce && now.Sub(r.at) < w.opts.NonceReservation {
		nonce = r.next
	}
	tx, err := BuildTransfer(w.params, wk.key.Private, pay, nonce)
	if err != nil {
		return nil, err
	}
	if err := w.opts.Submit(tx); err != nil {
		return nil, fmt.Errorf("submitting transaction %s: %w", tx.TxID(), err)
	}
	w.reserved[a] = reservation{next: nonce + 1, at: now}
	w.appendLocked(TxRecord{ID: tx.TxID(), Category: CategorySend, Address: a, Counterparty: pay.To,
		Amount: amount, Fee: fee, Nonce: nonce, Memo: tx.Memo, Time: now.UTC()})
	if err := w.save(); err != nil {
		// The transaction is out; only its record may be lost.
		w.log.Error("saving wallet after send", "txid", tx.TxID(), "err", err)
	}
	w.log.Info("wallet sent transaction", "txid", tx.TxID(), "from", a.Encode(w.params),
		"to", pay.To.Encode(w.params), "amount", amount, "fee", fee, "nonce", nonce)
	return tx, nil
}

// pickKeyLocked chooses the sending key: from if given, else the default
// address if it can pay need, else the first key that can.
func (w *Wallet) pickKeyLocked(from *chain.Address, need uint64) (*walletKey, error) {
	if from != nil {
		wk, ok := w.byAddr[*from]
		if !ok {
			return nil, errorf(ErrUnknownAddress, "address %s is not in this wallet", from.Encode(w.params))
		}
		if b := w.balanceLocked(*from); b.Spendable < need {
			return nil, errorf(ErrInsufficientFunds, "address %s can spend %s, less than amount plus fee %s",
				from.Encode(w.params), FormatAmount(b.Spendable), FormatAmount(need))
		}
		return wk, nil
	}
	if len(w.keys) == 0 {
		return nil, errorf(ErrInsufficientFunds, "the wallet has no addresses yet")
	}
	order := make([]*walletKey, 0, len(w.keys))
	if w.hasDef {
		order = append(order, w.byAddr[w.def])
	}
	for _, wk := range w.keys {
		if !w.hasDef || wk.key.Address != w.def {
			order = append(order, wk)
		}
	}
	var best, total uint64
	for _, wk := range order {
		b := w.balanceLocked(wk.key.Address)
		if b.Spendable >= need {
			return wk, nil
		}
		best = max(best, b.Spendable)
		total += b.Spendable
	}
	if total >= need {
		return nil, errorf(ErrInsufficientFunds, "no single wallet address can pay %s (the largest can spend %s, all together %s); a transaction has one sender: consolidate funds first",
			FormatAmount(need), FormatAmount(best), FormatAmount(total))
	}
	return nil, errorf(ErrInsufficientFunds, "the wallet can spend %s, less than amount plus fee %s", FormatAmount(total), FormatAmount(need))
}

// keyAddr reports whether a belongs to the wallet; w.mu is held.
func (w *Wallet) keyAddr(a chain.Address) bool { _, ok := w.byAddr[a]; return ok }

package chain

import (
	"fmt"
	"math/big"
	"time"
)

// Params are the consensus and default network settings of one network.
// Each network's Params are returned fresh by a function (MainParams, ...),
// so callers may not affect one another; treat a Params as read-only once
// handed to a component.
type Params struct {
	// Name is the network name: main, test, dev or regtest.
	Name string
	// ChainID is committed to by every transaction signature.
	ChainID uint32
	// AddressHRP is the bech32m human-readable prefix of addresses.
	AddressHRP string

	// GenesisBlock is the network's first block, mined honestly at PowLimitBits.
	GenesisBlock *Block
	// GenesisHash is GenesisBlock's hash.
	GenesisHash Hash

	// PowLimit is the easiest allowed target; PowLimitBits its compact form.
	PowLimit     *big.Int
	PowLimitBits uint32
	// InitialBits is the required bits of block 1, the ASERT anchor.
	InitialBits uint32
	// TargetSpacing is the desired time between blocks.
	TargetSpacing time.Duration
	// AsertHalfLife is the ASERT half-life: being one half-life behind
	// schedule halves the difficulty.
	AsertHalfLife time.Duration
	// NoRetarget keeps every block at PowLimitBits (regtest).
	NoRetarget bool
	// MaxFutureBlockTime is how far ahead of local time a block's timestamp may be.
	MaxFutureBlockTime time.Duration

	// InitialSubsidy is the block reward in base units before any halving,
	// halved every SubsidyHalvingInterval blocks.
	InitialSubsidy         uint64
	SubsidyHalvingInterval uint64

	// MaxBlockSize bounds the serialized block size in bytes.
	MaxBlockSize int

	// Default ports, distinct per network so nodes of several networks run side by side.
	DefaultP2PPort     int
	DefaultRPCPort     int
	DefaultMetricsPort int
}

// Coin is the number of base units in one coin.
const Coin = 100_000_000

// MedianTimeBlocks is the number of previous blocks whose median timestamp a
// new block's time must exceed.
const MedianTimeBlocks = 11

// CalcSubsidy returns the block subsidy at height.
func (p *Params) CalcSubsidy(height uint64) uint64 {
	if p.SubsidyHalvingInterval == 0 {
		return p.InitialSubsidy
	}
	halvings := height / p.SubsidyHalvingInterval
	if halvings >= 64 {
		return 0
	}
	return p.InitialSubsidy >> halvings
}

// BlockTopic returns the gossip topic for blocks; it names the network and
// the genesis so two networks never share a mesh.
func (p *Params) BlockTopic() string {
	return fmt.Sprintf("/quarry/%s/%s/blocks/1", p.Name, p.GenesisHash.String()[56:])
}

// TxTopic returns the gossip topic for transactions.
func (p *Params) TxTopic() string {
	return fmt.Sprintf("/quarry/%s/%s/txs/1", p.Name, p.GenesisHash.String()[56:])
}

// NetworkNames lists the known networks.
func NetworkNames() []string { return []string{"main", "test", "dev", "regtest"} }

// ParamsByName returns fresh Params for the named network.
func ParamsByName(name string) (*Params, error) {
	switch name {
	case "main", "mainnet":
		return MainParams(), nil
	case "test", "testnet":
		return TestParams(), nil
	case "dev", "devnet":
		return DevParams(), nil
	case "regtest":
		return RegtestParams(), nil
	}
	return nil, fmt.Errorf("unknown network %q (want one of main, test, dev, regtest)", name)
}

// genesisSpec are the inputs from which a genesis block is built.
type genesisSpec struct {
	time  uint32
	bits  uint32
	nonce uint32
	memo  string
}

func (p *Params) setGenesis(g genesisSpec) {
	cb := &Tx{Kind: TxCoinbase, ChainID: p.ChainID, Height: 0, Memo: []byte(g.memo)}
	root, _ := MerkleRoot([]Hash{cb.TxID()})
	p.GenesisBlock = &Block{
		Header: Header{Version: 1, MerkleRoot: root, Timestamp: g.time, Bits: g.bits, Nonce: g.nonce},
		Txs:    []*Tx{cb},
	}
	p.GenesisHash = p.GenesisBlock.Hash()
}

func mustTarget(bits uint32) *big.Int {
	t, err := CompactToBig(bits)
	if err != nil {
		panic(fmt.Sprintf("bad built-in bits %08x: %v", bits, err))
	}
	return t
}

// genesisTime is 2026-11-21 00:00:00 UTC.
const genesisTime = 1795219200

// MainParams returns the parameters of the main network.
func MainParams() *Params {
	p := &Params{
		Name: "main", ChainID: 0x51525901, AddressHRP: "qm",
		PowLimitBits: 0x1e00ffff, InitialBits: 0x1d00ffff,
		TargetSpacing: 10 * time.Minute, AsertHalfLife: 2 * 24 * time.Hour,
		MaxFutureBlockTime: 2 * time.Hour,
		InitialSubsidy:     50 * Coin, SubsidyHalvingInterval: 210_000,
		MaxBlockSize:   1 << 20,
		DefaultP2PPort: 7733, DefaultRPCPort: 7732, DefaultMetricsPort: 7734,
	}
	p.PowLimit = mustTarget(p.PowLimitBits)
	p.setGenesis(genesisSpec{time: genesisTime, bits: p.PowLimitBits, nonce: mainGenesisNonce, memo: "Quarry main genesis 2026-11-21"})
	return p
}

// TestParams returns the parameters of the public test network.
func TestParams() *Params {
	p := &Params{
		Name: "test", ChainID: 0x51525902, AddressHRP: "qt",
		PowLimitBits: 0x1f00ffff, InitialBits: 0x1e00ffff,
		TargetSpacing: 2 * time.Minute, AsertHalfLife: time.Hour,
		MaxFutureBlockTime: 2 * time.Hour,
		InitialSubsidy:     50 * Coin, SubsidyHalvingInterval: 210_000,
		MaxBlockSize:   1 << 20,
		DefaultP2PPort: 17733, DefaultRPCPort: 17732, DefaultMetricsPort: 17734,
	}
	p.PowLimit = mustTarget(p.PowLimitBits)
	p.setGenesis(genesisSpec{time: genesisTime, bits: p.PowLimitBits, nonce: testGenesisNonce, memo: "Quarry test genesis 2026-11-21"})
	return p
}

// DevParams returns the parameters of the development network, quarryd's
// default: blocks every few seconds so forks, partitions and reorgs show
// within a minute, and a short ASERT half-life so difficulty follows the
// hash power of a laptop quickly.
func DevParams() *Params {
	p := &Params{
		Name: "dev", ChainID: 0x51525903, AddressHRP: "qd",
		// Block 1 starts at the PoW limit (~65k hashes): a fresh devnet
		// mines at once, and ASERT raises the difficulty to the hash
		// power within a few dozen blocks.
		PowLimitBits: 0x1f00ffff, InitialBits: 0x1f00ffff,
		TargetSpacing: 5 * time.Second, AsertHalfLife: time.Minute,
		MaxFutureBlockTime: 2 * time.Minute,
		InitialSubsidy:     50 * Coin, SubsidyHalvingInterval: 1_000_000,
		MaxBlockSize:   1 << 20,
		DefaultP2PPort: 27733, DefaultRPCPort: 27732, DefaultMetricsPort: 27734,
	}
	p.PowLimit = mustTarget(p.PowLimitBits)
	p.setGenesis(genesisSpec{time: genesisTime, bits: p.PowLimitBits, nonce: devGenesisNonce, memo: "Quarry dev genesis 2026-11-21"})
	return p
}

// RegtestParams returns the parameters of the regression-test network:
// trivial difficulty, no retargeting, blocks mined on demand.
func RegtestParams() *Params {
	p := &Params{
		Name: "regtest", ChainID: 0x51525904, AddressHRP: "qr",
		PowLimitBits: 0x207fffff, InitialBits: 0x207fffff, NoRetarget: true,
		TargetSpacing: 10 * time.Minute, AsertHalfLife: 2 * 24 * time.Hour,
		MaxFutureBlockTime: 2 * time.Hour,
		InitialSubsidy:     50 * Coin, SubsidyHalvingInterval: 150,
		MaxBlockSize:   1 << 20,
		DefaultP2PPort: 37733, DefaultRPCPort: 37732, DefaultMetricsPort: 37734,
	}
	p.PowLimit = mustTarget(p.PowLimitBits)
	p.setGenesis(genesisSpec{time: genesisTime, bits: p.PowLimitBits, nonce: regtestGenesisNonce, memo: "Quarry regtest genesis 2026-11-21"})
	return p
}

// Genesis nonces, found by an honest search from nonce 0 at each network's
// PoW limit (TestGenesisBlocks re-checks the proof of work).
const (
	mainGenesisNonce    = 17695117
	testGenesisNonce    = 19616
	devGenesisNonce     = 61593
	regtestGenesisNonce = 0
)

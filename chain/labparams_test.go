package chain

import (
	"testing"
	"time"
)

func TestDevParamsWithBlockTime(t *testing.T) {
	dev := DevParams()
	one, err := DevParamsWithBlockTime(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	two, err := DevParamsWithBlockTime(2 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := DevParamsWithBlockTime(time.Second)
	if again.GenesisHash != one.GenesisHash || again.ChainID != one.ChainID {
		t.Fatal("the same block time gave two networks")
	}
	if one.TargetSpacing != time.Second || one.AsertHalfLife != 12*time.Second || one.Name != "dev" || one.AddressHRP != dev.AddressHRP {
		t.Fatalf("params %+v", one)
	}
	for _, p := range []*Params{dev, two} {
		if p.GenesisHash == one.GenesisHash || p.ChainID == one.ChainID || p.BlockTopic() == one.BlockTopic() || p.TxTopic() == one.TxTopic() {
			t.Fatalf("%s network shares its genesis, chain id or topics with the 1s lab network", p.TargetSpacing)
		}
	}
	if err := CheckProofOfWork(one.GenesisHash, one.PowLimitBits, one.PowLimit); err != nil {
		t.Fatal(err)
	}
	for _, d := range []time.Duration{0, time.Millisecond, 1500 * time.Microsecond, time.Hour} {
		if _, err := DevParamsWithBlockTime(d); err == nil {
			t.Errorf("block time %s: no error", d)
		}
	}
}

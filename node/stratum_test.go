package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/quarrychain/quarry/rpc/rpcjson"
)

func TestStratumConfigChecks(t *testing.T) {
	for _, c := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.StratumListen = "0.0.0.0:3333" }, "--stratum-allow-remote"},
		{func(c *Config) { c.StratumListen = "nohost" }, "--stratum-listen"},
		{func(c *Config) { c.StratumListen = "127.0.0.1:3333"; c.StratumDefaultAddress = "qr1bogus" }, "--stratum-default-address"},
	} {
		cfg := testConfig(t)
		c.mod(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want mention of %s", err, c.want)
		}
	}
	cfg := testConfig(t)
	cfg.StratumListen, cfg.StratumAllowRemote, cfg.StratumDefaultAddress = "0.0.0.0:3333", true, "none"
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

// TestNodeStratumMinesBlock: a miner speaking raw stratum to quarryd's
// server finds a regtest block; it goes through the node's block path
// (the tip moves, the block pays the worker's address), and getstratuminfo
// and the metrics report it.
func TestNodeStratumMinesBlock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := testConfig(t)
	cfg.NoP2P = true
	cfg.StratumListen = "127.0.0.1:0"
	n, _ := startNode(t, cfg)
	if n.StratumAddr() == "" {
		t.Fatal("no stratum address after Ready")
	}
	var addr string
	rpcMust(ctx, t, n, "getnewaddress", &addr)

	nc, err := net.Dial("tcp", n.StratumAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(nc)
	fmt.Fprintf(nc, "{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"nodetest\"]}\n{\"id\":2,\"method\":\"mining.authorize\",\"params\":[%q,\"\"]}\n", addr+".t")
	var ex1 []byte
	var notify []json.RawMessage
	for notify == nil {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m struct {
			ID     json.RawMessage   `json:"id"`
			Method string            `json:"method"`
			Params []json.RawMessage `json:"params"`
			Result json.RawMessage   `json:"result"`
		}
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		switch {
		case string(m.ID) == "1":
			var res []json.RawMessage
			var s string
			_ = json.Unmarshal(m.Result, &res)
			_ = json.Unmarshal(res[1], &s)
			ex1, _ = hex.DecodeString(s)
		case string(m.ID) == "2" && string(m.Result) != "true":
			t.Fatalf("authorize: %s", line)
		case m.Method == "mining.notify":
			notify = m.Params
		}
	}
	str := func(i int) string {
		var s string
		_ = json.Unmarshal(notify[i], &s)
		return s
	}
	var branch []string
	_ = json.Unmarshal(notify[4], &branch)
	unhex := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	sha256d := func(b []byte) []byte { h := sha256.Sum256(b); h = sha256.Sum256(h[:]); return h[:] }
	ex2 := []byte{0, 0, 0, 1}
	root := sha256d(append(append(append(unhex(str(2)), ex1...), ex2...), unhex(str(3))...))
	for _, b := range branch {
		root = sha256d(append(root, unhex(b)...))
	}
	var hdr [80]byte
	binary.LittleEndian.PutUint32(hdr[0:], binary.BigEndian.Uint32(unhex(str(5))))
	prev := unhex(str(1))
	for i := 0; i < 32; i += 4 {
		hdr[4+i], hdr[5+i], hdr[6+i], hdr[7+i] = prev[i+3], prev[i+2], prev[i+1], prev[i]
	}
	copy(hdr[36:], root)
	binary.LittleEndian.PutUint32(hdr[68:], binary.BigEndian.Uint32(unhex(str(7))))
	binary.LittleEndian.PutUint32(hdr[72:], binary.BigEndian.Uint32(unhex(str(6))))
	// Regtest shares are at MinDifficulty 2^-16 (target 0x0000ffff << 224):
	// the top 16 bits of the hash clear and the next 8 not all set is
	// enough (about 65,536 tries).
	var nonce uint32
	for ; ; nonce++ {
		binary.LittleEndian.PutUint32(hdr[76:], nonce)
		if h := sha256d(hdr[:]); h[31] == 0 && h[30] == 0 && h[29] != 0xff {
			break
		}
	}
	fmt.Fprintf(nc, "{\"id\":3,\"method\":\"mining.submit\",\"params\":[%q,%q,%q,%q,\"%08x\"]}\n", addr+".t", str(0), hex.EncodeToString(ex2), str(7), nonce)
	for {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if strings.HasPrefix(string(line), `{"id":3,`) {
			if !strings.Contains(string(line), `"result":true`) {
				t.Fatalf("submit: %s", line)
			}
			break
		}
	}
	var count uint64
	if err := rpcCall(ctx, t, n, "getblockcount", &count); err != nil || count != 1 {
		t.Fatalf("height %d after the stratum block (%v)", count, err)
	}
	var info rpcjson.StratumInfo
	rpcMust(ctx, t, n, "getstratuminfo", &info)
	if info.Blocks.Found != 1 || info.Shares.Accepted != 1 || len(info.Workers) != 1 || info.Workers[0].Address != addr || info.Workers[0].Agent != "nodetest" {
		t.Fatalf("getstratuminfo %+v", info)
	}
	mfs, err := n.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "quarry_stratum_blocks_found_total" {
			found = mf.GetMetric()[0].GetCounter().GetValue() == 1
		}
	}
	if !found {
		t.Fatal("quarry_stratum_blocks_found_total is not 1")
	}
	if problems, err := testutil.GatherAndLint(n.Gatherer()); err != nil || len(problems) > 0 {
		t.Fatalf("metric lint: %v %v", problems, err)
	}
}

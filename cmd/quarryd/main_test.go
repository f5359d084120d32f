package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quarrychain/quarry/node"
)

// designFlags are the quarryd flags the README and ARCHITECTURE.md document
// as the node's interface; --help must list every one of them.
var designFlags = []string{
	"network", "datadir", "config", "p2p-listen", "bootnodes", "no-mdns",
	"rpc-listen", "rpc-user", "rpc-password", "metrics-listen", "mine",
	"miner-threads", "miner-address", "miner-hashrate-limit", "log-level",
}

// parse runs parseConfig with its usage output captured.
func parse(t *testing.T, args ...string) (node.Config, string, error) {
	t.Helper()
	var stderr bytes.Buffer
	cfg, err := parseConfig(args, &stderr)
	return cfg, stderr.String(), err
}

// mustParse parses args, fails the test on error, and checks that the
// result passes the node's own validation (node.New opens nothing).
func mustParse(t *testing.T, args ...string) node.Config {
	t.Helper()
	cfg, out, err := parse(t, args...)
	if err != nil {
		t.Fatalf("parseConfig(%q): %v\n%s", args, err, out)
	}
	if _, err := node.New(cfg); err != nil {
		t.Fatalf("node.New(parseConfig(%q)): %v", args, err)
	}
	return cfg
}

// writeFile writes a config file into a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseConfigDefaults(t *testing.T) {
	cfg := mustParse(t)
	// The flags' defaults; the other zero values mean "the network's
	// default", which node.Config.resolve fills in.
	if want := (node.Config{Network: "dev", LogLevel: "info", LogSummaryInterval: node.DefaultSummaryInterval}); !reflect.DeepEqual(cfg, want) {
		t.Errorf("no flags: got %+v, want %+v", cfg, want)
	}
}

func TestParseConfigEveryFlag(t *testing.T) {
	cfg := mustParse(t,
		"--network", "regtest", "--datadir", "/tmp/q", "--p2p-listen", "127.0.0.1:0",
		"--bootnodes", "/ip4/192.0.2.1/tcp/1/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X,/ip4/192.0.2.2/tcp/2/p2p/12D3KooWH3uVF6wv47WnArKHk5p6cvgCJEb74UTmxztmQDc298L3", "--bootnodes", "/ip4/192.0.2.3/tcp/3/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo",
		"--no-mdns", "--no-p2p", "--rpc-listen", "127.0.0.1:1234", "--rpc-user", "alice", "--rpc-password", "secret",
		"--metrics-listen", "127.0.0.1:9100", "--mine", "--miner-threads", "3",
		"--miner-address", "qr14jsatjtzts3v3fzttgzwxxmnl20mukht8wpsz0", "--miner-hashrate-limit", "1.5e6",
		"--log-level", "debug", "--rpc-allow-remote",
	)
	want := node.Config{
		Network: "regtest", DataDir: "/tmp/q", P2PListen: "127.0.0.1:0",
		Bootnodes: []string{"/ip4/192.0.2.1/tcp/1/p2p/12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X", "/ip4/192.0.2.2/tcp/2/p2p/12D3KooWH3uVF6wv47WnArKHk5p6cvgCJEb74UTmxztmQDc298L3", "/ip4/192.0.2.3/tcp/3/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"},
		NoMDNS:    true, NoP2P: true, RPCListen: "127.0.0.1:1234", RPCAllowRemote: true, RPCUser: "alice", RPCPassword: "secret",
		MetricsListen: "127.0.0.1:9100", Mine: true, MinerThreads: 3,
		MinerAddress: "qr14jsatjtzts3v3fzttgzwxxmnl20mukht8wpsz0", MinerHashrateLimit: 1.5e6, LogLevel: "debug",
		LogSummaryInterval: node.DefaultSummaryInterval,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

// TestConfigExamples parses every shipped example file: no unknown keys,
// the network named in the file name, and values the node accepts.
func TestConfigExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "quarryd.*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d example configs (%v), want one per network", len(files), files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := mustParse(t, "--config", f)
			network := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "quarryd."), ".toml")
			if cfg.Network != network {
				t.Errorf("network = %q, want %q", cfg.Network, network)
			}
			if cfg.RPCListen == "" || cfg.P2PListen == "" || cfg.LogLevel == "" {
				t.Errorf("example leaves rpc-listen/p2p-listen/log-level empty: %+v", cfg)
			}
			// A flag still wins over every example.
			cfg = mustParse(t, "--config", f, "--network", "regtest", "--rpc-listen", "127.0.0.1:1")
			if cfg.Network != "regtest" || cfg.RPCListen != "127.0.0.1:1" {
				t.Errorf("flags did not override %s: %+v", f, cfg)
			}
		})
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	path := writeFile(t, "q.toml", `
network = "dev"
datadir = "/from/file"
rpc-listen = "127.0.0.1:1111"
metrics-listen = "127.0.0.1:2222"
bootnodes = ["/ip4/192.0.2.1/tcp/1/p2p/12D3KooWLJtG8fd2hkQzTn96MrLvThmnNQjTUFZwGEsLRz5EmSzc"]
mine = true
miner-threads = 4
miner-hashrate-limit = 100.5
log-level = "warn"
`)
	// Flags given on the command line win, including explicit zero values
	// (--mine=false, --miner-threads 0); keys not given as flags keep the
	// file's values; the flag's position relative to --config is irrelevant.
	cfg := mustParse(t, "--network", "regtest", "--config", path, "--mine=false", "--miner-threads", "0",
		"--bootnodes", "/ip4/192.0.2.9/tcp/9/p2p/12D3KooWSHj3RRbBjD15g6wekV8y3mm57Pobmps2g2WJm6F67Lay", "--log-level", "error")
	want := node.Config{
		Network: "regtest", DataDir: "/from/file", RPCListen: "127.0.0.1:1111", MetricsListen: "127.0.0.1:2222",
		Bootnodes: []string{"/ip4/192.0.2.9/tcp/9/p2p/12D3KooWSHj3RRbBjD15g6wekV8y3mm57Pobmps2g2WJm6F67Lay"}, Mine: false, MinerThreads: 0,
		MinerHashrateLimit: 100.5, LogLevel: "error", LogSummaryInterval: node.DefaultSummaryInterval,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}

	// Without flags the file's values are taken as they are.
	cfg = mustParse(t, "--config", path)
	if cfg.Network != "dev" || !cfg.Mine || cfg.MinerThreads != 4 || cfg.LogLevel != "warn" ||
		!slices.Equal(cfg.Bootnodes, []string{"/ip4/192.0.2.1/tcp/1/p2p/12D3KooWLJtG8fd2hkQzTn96MrLvThmnNQjTUFZwGEsLRz5EmSzc"}) {
		t.Errorf("file values not taken: %+v", cfg)
	}

	// An empty --bootnodes clears the file's list.
	cfg = mustParse(t, "--config", path, "--bootnodes", "")
	if len(cfg.Bootnodes) != 0 {
		t.Errorf("--bootnodes '' kept %v", cfg.Bootnodes)
	}
}

// TestLayeringEveryKey sets every TOML key of node.Config in a file and as
// a flag, with values that differ from each other and from the default,
// and checks the layering default < file < flag for each, generically, so
// a new setting is covered without editing this test.
func TestLayeringEveryKey(t *testing.T) {
	ct := reflect.TypeFor[node.Config]()
	var file strings.Builder
	var flagArgs []string
	wantFile, wantFlag := mustParse(t), mustParse(t)
	defaults := wantFile
	for i := range ct.NumField() {
		f := ct.Field(i)
		key := f.Tag.Get("toml")
		if key == "" || key == "-" {
			continue
		}
		fv, gv := reflect.ValueOf(&wantFile).Elem().Field(i), reflect.ValueOf(&wantFlag).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			fmt.Fprintf(&file, "%s = %q\n", key, "file-"+key)
			fv.SetString("file-" + key)
			flagArgs = append(flagArgs, "--"+key, "flag-"+key)
			gv.SetString("flag-" + key)
		case reflect.Bool:
			fmt.Fprintf(&file, "%s = true\n", key)
			fv.SetBool(true)
			flagArgs = append(flagArgs, "--"+key+"=false") // an explicit false still wins
			gv.SetBool(false)
		case reflect.Int64: // time.Duration
			fmt.Fprintf(&file, "%s = \"90s\"\n", key)
			fv.SetInt(int64(90 * time.Second))
			flagArgs = append(flagArgs, "--"+key, "2m")
			gv.SetInt(int64(2 * time.Minute))
		case reflect.Int:
			fmt.Fprintf(&file, "%s = 4\n", key)
			fv.SetInt(4)
			flagArgs = append(flagArgs, "--"+key, "7")
			gv.SetInt(7)
		case reflect.Float64:
			fmt.Fprintf(&file, "%s = 2.5\n", key)
			fv.SetFloat(2.5)
			flagArgs = append(flagArgs, "--"+key, "3.5")
			gv.SetFloat(3.5)
		case reflect.Slice:
			fmt.Fprintf(&file, "%s = [\"file-a\", \"file-b\"]\n", key)
			fv.Set(reflect.ValueOf([]string{"file-a", "file-b"}))
			flagArgs = append(flagArgs, "--"+key, "flag-a")
			gv.Set(reflect.ValueOf([]string{"flag-a"}))
		default:
			t.Fatalf("node.Config.%s: no test value for kind %v; extend this test", f.Name, f.Type.Kind())
		}
		if reflect.DeepEqual(fv.Interface(), reflect.ValueOf(defaults).Field(i).Interface()) {
			t.Fatalf("test value of %s equals its default", key)
		}
	}
	path := writeFile(t, "all.toml", file.String())
	check := func(args []string, want node.Config) {
		t.Helper()
		cfg, out, err := parse(t, args...)
		if err != nil {
			t.Fatalf("parseConfig(%q): %v\n%s", args, err, out)
		}
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("parseConfig(%q):\ngot  %+v\nwant %+v", args, cfg, want)
		}
	}
	check([]string{"--config", path}, wantFile)
	check(append([]string{"--config", path}, flagArgs...), wantFlag)
	check(append(flagArgs, "--config", path), wantFlag)
	check(flagArgs, wantFlag)
}

// TestFlagsAndKeysAgree: every flag but --config and --version is a TOML key of
// node.Config with the same name, and every key is a flag.
func TestFlagsAndKeysAgree(t *testing.T) {
	var flagNames []string
	var stderr bytes.Buffer
	if _, err := parseConfig([]string{"--help"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: err = %v, want flag.ErrHelp", err)
	}
	for _, m := range regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`).FindAllStringSubmatch(stderr.String(), -1) {
		if m[1] != "config" && m[1] != "version" { // command-line only
			flagNames = append(flagNames, m[1])
		}
	}
	var keys []string
	ct := reflect.TypeFor[node.Config]()
	for i := range ct.NumField() {
		if tag := ct.Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	slices.Sort(flagNames)
	slices.Sort(keys)
	if !slices.Equal(flagNames, keys) {
		t.Errorf("flags %v\n  != TOML keys %v", flagNames, keys)
	}
}

func TestHelpListsDesignFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("quarryd --help exited %d: %s", code, stderr.String())
	}
	help := stdout.String() + stderr.String()
	for _, name := range designFlags {
		if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(help) {
			t.Errorf("--help does not list --%s:\n%s", name, help)
		}
	}
	for _, s := range []string{"Usage: quarryd", "quarryd bench", "Examples:"} {
		if !strings.Contains(help, s) {
			t.Errorf("--help lacks %q", s)
		}
	}
}

// TestConfigErrors: every kind of bad input names what is wrong. Errors
// found by parseConfig come first; values that parse but are invalid are
// rejected by node.New, which quarryd calls next (exit status 1 there, 2
// for parse errors).
func TestConfigErrors(t *testing.T) {
	unknown := writeFile(t, "unknown.toml", "network = \"regtest\"\nrpc-port = 1\n")
	typo := writeFile(t, "typo.toml", "[rpc]\nlisten = \"127.0.0.1:1\"\n")
	badType := writeFile(t, "type.toml", "miner-threads = \"two\"\n")
	badSyntax := writeFile(t, "syntax.toml", "network = \n")
	dup := writeFile(t, "dup.toml", "mine = true\nmine = false\n")
	badNet := writeFile(t, "net.toml", "network = \"moon\"\n")
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of the error, all required
	}{
		{"unknown key", []string{"--config", unknown}, []string{unknown, "unknown key", "rpc-port"}},
		{"unknown table", []string{"--config", typo}, []string{typo, "unknown key", "rpc"}},
		{"wrong type in file", []string{"--config", badType}, []string{badType, "miner-threads"}},
		{"bad syntax", []string{"--config", badSyntax}, []string{badSyntax, "line 1"}},
		{"duplicate key", []string{"--config", dup}, []string{dup, "mine"}},
		{"missing file", []string{"--config", "/nonexistent/q.toml"}, []string{"/nonexistent/q.toml", "no such file"}},
		{"unknown flag", []string{"--rpc-port", "1"}, []string{"rpc-port"}},
		{"bad int flag", []string{"--miner-threads", "two"}, []string{"miner-threads"}},
		{"bad bool flag", []string{"--mine=maybe"}, []string{"mine"}},
		{"bad float flag", []string{"--miner-hashrate-limit", "fast"}, []string{"miner-hashrate-limit"}},
		{"positional argument", []string{"--network", "regtest", "extra"}, []string{"unexpected argument", "extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parse(t, tc.args...)
			if err == nil {
				t.Fatalf("parseConfig(%q) succeeded", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}

	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown network", []string{"--network", "moon"}, []string{"moon"}},
		{"unknown network in file", []string{"--config", badNet}, []string{"moon"}},
		{"bad log level", []string{"--log-level", "loud"}, []string{"--log-level", "loud"}},
		{"listen without port", []string{"--p2p-listen", "127.0.0.1"}, []string{"--p2p-listen", "host:port"}},
		{"bad port", []string{"--metrics-listen", "127.0.0.1:99999"}, []string{"--metrics-listen", "port"}},
		{"remote rpc", []string{"--rpc-listen", "0.0.0.0:1"}, []string{"--rpc-listen", "loopback", "--rpc-allow-remote"}},
		{"user without password", []string{"--rpc-user", "alice"}, []string{"--rpc-user", "--rpc-password"}},
		{"negative threads", []string{"--miner-threads", "-1"}, []string{"--miner-threads"}},
		{"negative hashrate", []string{"--miner-hashrate-limit", "-1"}, []string{"--miner-hashrate-limit"}},
		{"miner address of another network", []string{"--network", "dev", "--miner-address", "qr14jsatjtzts3v3fzttgzwxxmnl20mukht8wpsz0"},
			[]string{"--miner-address", "another network"}},
		{"garbage miner address", []string{"--miner-address", "nonsense"}, []string{"--miner-address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, out, err := parse(t, tc.args...)
			if err != nil {
				t.Fatalf("parseConfig(%q): %v\n%s", tc.args, err, out)
			}
			_, err = node.New(cfg)
			if err == nil {
				t.Fatalf("node.New accepted %q", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestRunExitStatus checks run's exit statuses for flag errors (2, with a
// "quarryd:" message) and invalid values (1), without starting a node.
func TestRunExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--miner-threads", "x"}, 2, "quarryd: invalid value"},
		{[]string{"--network", "regtest", "oops"}, 2, `quarryd: unexpected argument "oops"`},
		{[]string{"--network", "moon"}, 1, `quarryd: unknown network "moon"`},
		{[]string{"bench", "--duration", "0s"}, 2, "must be positive"},
		{[]string{"bench", "--no-such-flag"}, 2, "no-such-flag"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tc.args, code, tc.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("run(%q) stderr lacks %q:\n%s", tc.args, tc.want, stderr.String())
		}
	}
}

func TestParseConfigStratumFlags(t *testing.T) {
	cfg := mustParse(t, "--stratum-listen", "0.0.0.0:3333", "--stratum-allow-remote", "--stratum-password", "pw",
		"--stratum-default-address", "none")
	want := mustParse(t)
	want.StratumListen, want.StratumAllowRemote, want.StratumPassword, want.StratumDefaultAddress = "0.0.0.0:3333", true, "pw", "none"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got  %+v\nwant %+v", cfg, want)
	}
}

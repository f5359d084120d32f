package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/quarrychain/quarry/chain"
	"github.com/quarrychain/quarry/node/buildinfo"
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// env is everything run needs from the process, injectable in tests.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	homeDir        func() (string, error)
	sleep          func(context.Context, time.Duration) error
}

// exitFailure is the exit status of failures other than RPC errors.
const exitFailure = 1

// rpcWaitInterval is the pause between --rpcwait attempts (bitcoin-cli's).
const rpcWaitInterval = time.Second

// defaultCallTimeout bounds one call unless --rpcclienttimeout says
// otherwise (bitcoin-cli's 900 seconds).
const defaultCallTimeout = 900 * time.Second

// maxStdinLine bounds one line read by --stdin (a large raw transaction
// or block fits).
const maxStdinLine = 64 << 20

const usageText = `Usage:
  quarryctl [flags] <method> [args...]     send a JSON-RPC call to quarryd
  quarryctl [flags] help [method]          list methods, or help on one
  quarryctl [flags] --getinfo              summary of the node
  quarryctl [flags] --netinfo [0-4|help]   peer counts, local addresses, peer list
  quarryctl [flags] --generate [n] [tries] mine n blocks to a new wallet address
  quarryctl [flags] key new --out FILE [--show-private]
  quarryctl [flags] key address --key FILE
  quarryctl [flags] tx transfer --key FILE --to ADDR --amount COINS --fee COINS [--nonce N] [--memo TEXT]
  quarryctl [flags] tx send --key FILE --to ADDR --amount COINS --fee COINS [--nonce N] [--memo TEXT]

Arguments that parse as JSON (numbers, true, false, null, objects, arrays)
are sent as JSON unless the method takes a string there; others are sent
as strings. With --named, arguments are name=value pairs.

Examples:
  quarryctl getblockcount
  quarryctl getblock 00000a...e3 2
  quarryctl --named getblock blockhash=00000a...e3 verbosity=2
  quarryctl --network regtest generatetoaddress 10 qr1...
  quarryctl --rpcwait --rpcwait-timeout 30 getblockchaininfo
  echo "$PASSWORD" | quarryctl --stdinrpcpass --rpc-user alice getblockcount
  printf '%s\n' "$RAWTX" | quarryctl --stdin sendrawtransaction

Flags take one or two dashes and come before the method, as bitcoin-cli's.

Flags:
`

// globals are the parsed common flags.
type globals struct {
	params      *chain.Params
	datadir     string
	connect     string
	user, pass  string
	named       bool
	rpcWait     bool
	waitTimeout time.Duration
	callTimeout time.Duration
}

// secondsOrDuration is a flag value accepting "30" (seconds) or "30s".
type secondsOrDuration struct{ d *time.Duration }

func (v secondsOrDuration) String() string {
	if v.d == nil {
		return "0s"
	}
	return v.d.String()
}

func (v secondsOrDuration) Set(s string) error {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return errors.New("negative duration")
		}
		*v.d = time.Duration(n) * time.Second
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("invalid duration %q (seconds or e.g. 30s)", s)
	}
	*v.d = d
	return nil
}

// options are the parsed command-line flags.
type options struct {
	network, datadir, connect, user, pass string
	port                                  int
	named, rpcWait, help, version         bool
	stdin, stdinRPCPass                   bool
	getInfo, netInfo, generate            bool
	waitTimeout, callTimeout              time.Duration
}

// newFlagSet declares quarryctl's flags. Where bitcoin-cli spells a flag
// differently (-rpcconnect, -rpcuser, ...), both spellings set the same
// value.
func newFlagSet() (*flag.FlagSet, *options) {
	o := &options{callTimeout: defaultCallTimeout}
	fs := flag.NewFlagSet("quarryctl", flag.ContinueOnError)
	fs.StringVar(&o.network, "network", "dev", "network: main, test, dev or regtest")
	fs.StringVar(&o.datadir, "datadir", "", "data directory (default ~/.quarry/<network>), where the cookie is read")
	fs.StringVar(&o.connect, "rpc-connect", "", "server host[:port] (default 127.0.0.1:<network's RPC port>)")
	fs.StringVar(&o.connect, "rpcconnect", "", "same as --rpc-connect")
	fs.IntVar(&o.port, "rpcport", 0, "server port (overrides a port in --rpc-connect)")
	fs.StringVar(&o.user, "rpc-user", "", "RPC user name")
	fs.StringVar(&o.user, "rpcuser", "", "same as --rpc-user")
	fs.StringVar(&o.pass, "rpc-password", "", "RPC password (default: read the cookie from the data directory)")
	fs.StringVar(&o.pass, "rpcpassword", "", "same as --rpc-password")
	fs.BoolVar(&o.named, "named", false, "pass arguments as name=value pairs")
	fs.BoolVar(&o.rpcWait, "rpcwait", false, "wait for the RPC server to start")
	fs.Var(secondsOrDuration{&o.waitTimeout}, "rpcwait-timeout", "give up --rpcwait after this long (seconds or a duration; 0 = forever)")
	fs.Var(secondsOrDuration{&o.waitTimeout}, "rpcwaittimeout", "same as --rpcwait-timeout")
	fs.Var(secondsOrDuration{&o.callTimeout}, "rpcclienttimeout", "bound of one call, in seconds or a duration; 0 = none")
	fs.Var(secondsOrDuration{&o.callTimeout}, "rpc-timeout", "same as --rpcclienttimeout")
	fs.BoolVar(&o.stdin, "stdin", false, "read extra arguments from standard input, one per line until EOF (after the password line of --stdinrpcpass)")
	fs.BoolVar(&o.stdinRPCPass, "stdinrpcpass", false, "read the RPC password from the first line of standard input")
	fs.BoolVar(&o.getInfo, "getinfo", false, "print a summary of the node: chain, network, version, relay fee, wallet balance")
	fs.BoolVar(&o.netInfo, "netinfo", false, `print peer counts and local addresses; an optional level 0-4 adds a peer list ("help" explains)`)
	fs.BoolVar(&o.generate, "generate", false, "mine blocks to a new wallet address: [nblocks (default 1)] [maxtries] (dev and regtest)")
	fs.BoolVar(&o.version, "version", false, "print the version and commit, and exit")
	fs.BoolVar(&o.help, "help", false, "print this help")
	return fs, o
}

// printUsage writes the help text and every flag.
func printUsage(w io.Writer, fs *flag.FlagSet) {
	_, _ = io.WriteString(w, usageText) // the text shows printf examples: not a format
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// run is the whole command: it returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	fs, o := newFlagSet()
	// The flag package would print the error and the whole usage to
	// stderr; one line and a hint are more useful.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout, fs)
			return 0
		}
		fmt.Fprintf(e.stderr, "error: %v (see quarryctl --help)\n", err)
		return exitFailure
	}
	if o.help {
		printUsage(e.stdout, fs)
		return 0
	}
	if o.version {
		fmt.Fprintln(e.stdout, buildinfo.Read().String("quarryctl"))
		return 0
	}
	rest := fs.Args()
	if o.stdinRPCPass || o.stdin {
		var err error
		if rest, err = readStdin(e.stdin, o, rest); err != nil {
			fmt.Fprintf(e.stderr, "error: %v\n", err)
			return exitFailure
		}
	}
	modes := 0
	for _, on := range []bool{o.getInfo, o.netInfo, o.generate} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		fmt.Fprintln(e.stderr, "error: give only one of --getinfo, --netinfo and --generate (see quarryctl --help)")
		return exitFailure
	}
	if modes == 0 && len(rest) == 0 {
		fmt.Fprintln(e.stderr, "error: too few parameters (need at least a method; see quarryctl --help)")
		return exitFailure
	}
	if o.netInfo && len(rest) > 0 && rest[0] == "help" {
		fmt.Fprint(e.stdout, netInfoHelp)
		return 0
	}
	p, err := chain.ParamsByName(o.network)
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitFailure
	}
	g := &globals{params: p, datadir: o.datadir, connect: o.connect, user: o.user, pass: o.pass,
		named: o.named, rpcWait: o.rpcWait, waitTimeout: o.waitTimeout, callTimeout: o.callTimeout}
	if g.datadir == "" {
		home, err := e.homeDir()
		if err != nil {
			fmt.Fprintf(e.stderr, "error: cannot find the home directory for the default --datadir: %v\n", err)
			return exitFailure
		}
		g.datadir = filepath.Join(home, ".quarry", p.Name)
	}
	g.connect = withDefaultPort(g.connect, p.DefaultRPCPort)
	if o.port != 0 {
		if o.port < 0 || o.port > 65535 {
			fmt.Fprintf(e.stderr, "error: --rpcport %d is not a port (see quarryctl --help)\n", o.port)
			return exitFailure
		}
		host, _, _ := net.SplitHostPort(g.connect)
		g.connect = net.JoinHostPort(host, strconv.Itoa(o.port))
	}

	switch {
	case o.getInfo:
		return g.runGetInfo(ctx, e, rest)
	case o.netInfo:
		return g.runNetInfo(ctx, e, rest)
	case o.generate:
		return g.runGenerate(ctx, e, rest)
	}
	switch rest[0] {
	case "key":
		return runKey(g, rest[1:], e)
	case "tx":
		return runTx(ctx, g, rest[1:], e)
	}
	params, err := buildParams(rest[0], rest[1:], g.named)
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitFailure
	}
	result, err := g.call(ctx, e, rest[0], params)
	if err != nil {
		return g.reportError(e, err)
	}
	if err := printResult(e.stdout, result); err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitFailure
	}
	return 0
}

// readStdin applies --stdinrpcpass (the first line is the password) and
// --stdin (every further line is one more argument), as bitcoin-cli does.
func readStdin(r io.Reader, o *options, args []string) ([]string, error) {
	if r == nil {
		r = strings.NewReader("")
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxStdinLine)
	if o.stdinRPCPass {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("--stdinrpcpass: reading standard input: %w", err)
			}
			return nil, errors.New("--stdinrpcpass specified but standard input is empty (the first line must be the RPC password)")
		}
		o.pass = strings.TrimSuffix(sc.Text(), "\r")
	}
	if o.stdin {
		for sc.Scan() {
			args = append(args, strings.TrimSuffix(sc.Text(), "\r"))
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("--stdin: reading standard input: %w", err)
		}
	}
	return args, nil
}

// withDefaultPort completes "host" or "" to host:port.
func withDefaultPort(addr string, port int) string {
	if addr == "" {
		addr = "127.0.0.1"
	}
	if _, _, err := net.SplitHostPort(addr); err == nil {
		return addr
	}
	return net.JoinHostPort(strings.Trim(addr, "[]"), strconv.Itoa(port))
}

// credentials returns the user and password: the flags, or the cookie.
func (g *globals) credentials() (string, string, error) {
	if g.pass != "" {
		return g.user, g.pass, nil
	}
	return client.ReadCookie(g.datadir)
}

// call sends one call, retrying connection failures and warm-up while
// --rpcwait is on.
func (g *globals) call(ctx context.Context, e env, method string, params json.RawMessage) (json.RawMessage, error) {
	var deadline time.Time
	if g.rpcWait && g.waitTimeout > 0 {
		deadline = time.Now().Add(g.waitTimeout)
	}
	for {
		user, pass, credErr := g.credentials()
		result, err := g.callOnce(ctx, user, pass, method, params)
		if errors.Is(err, client.ErrUnauthorized) && credErr != nil {
			err = &credentialsError{err: credErr}
		}
		if err == nil || !g.rpcWait || !retryable(err) || ctx.Err() != nil {
			return result, err
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return nil, &waitTimeoutError{addr: g.connect, err: err}
		}
		if serr := e.sleep(ctx, rpcWaitInterval); serr != nil {
			return nil, err
		}
	}
}

func (g *globals) callOnce(ctx context.Context, user, pass, method string, params json.RawMessage) (json.RawMessage, error) {
	callCtx := ctx
	if g.callTimeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, g.callTimeout)
		defer cancel()
	}
	res, err := client.New(g.connect, user, pass).CallRaw(callCtx, method, params)
	if err != nil && ctx.Err() == nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
		return nil, &callTimeoutError{method: method, addr: g.connect, timeout: g.callTimeout}
	}
	return res, err
}

// callTimeoutError: the server sent no reply within --rpcclienttimeout.
type callTimeoutError struct {
	method  string
	addr    string
	timeout time.Duration
}

func (e *callTimeoutError) Error() string {
	return fmt.Sprintf("the server at %s did not answer %s within %s (--rpcclienttimeout). "+
		"The call may still complete on the server; raise the limit, or use --rpcclienttimeout 0 for none.",
		e.addr, e.method, e.timeout)
}

// retryable: worth another --rpcwait attempt (server not up, warming up,
// busy, or the cookie not written yet).
func retryable(err error) bool {
	var re *client.RPCError
	var he *client.HTTPError
	var ce *credentialsError
	switch {
	case client.IsConnectionError(err), errors.As(err, &ce):
		return true
	case errors.As(err, &re):
		return re.Code == rpcjson.CodeInWarmup
	case errors.As(err, &he):
		return he.StatusCode == 503
	}
	return false
}

// waitTimeoutError: --rpcwait-timeout ran out.
type waitTimeoutError struct {
	addr string
	err  error
}

func (e *waitTimeoutError) Error() string {
	return fmt.Sprintf("timeout waiting for the RPC server at %s (last error: %v)", e.addr, e.err)
}

// credentialsError: 401 while no password was given and no cookie read.
type credentialsError struct{ err error }

func (e *credentialsError) Error() string {
	return "Could not locate RPC credentials. No authentication cookie could be found, and RPC password is not set. See --rpc-password and --datadir. (" + e.err.Error() + ")"
}

// reportError prints an error like bitcoin-cli and returns the exit status.
func (g *globals) reportError(e env, err error) int {
	var re *client.RPCError
	var ce *credentialsError
	var wt *waitTimeoutError
	var ct *callTimeoutError
	switch {
	case errors.As(err, &wt):
		fmt.Fprintf(e.stderr, "error: %s\n", wt.Error())
	case errors.As(err, &ct):
		fmt.Fprintf(e.stderr, "error: %s\n", ct.Error())
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(e.stderr, "error: interrupted before the server answered.")
	case errors.As(err, &re):
		fmt.Fprintf(e.stderr, "error code: %d\nerror message:\n%s\n", re.Code, re.Message)
		code := re.Code
		if code < 0 {
			code = -code
		}
		if code%256 == 0 {
			return exitFailure
		}
		return code
	case errors.As(err, &ce):
		fmt.Fprintf(e.stderr, "error: %s\n", ce.Error())
	case errors.Is(err, client.ErrUnauthorized):
		fmt.Fprintln(e.stderr, "error: Authorization failed: Incorrect rpcuser or rpcpassword")
	case client.IsConnectionError(err):
		fmt.Fprintf(e.stderr, "error: Could not connect to the server %s\n\nMake sure the quarryd server is running and that you are connecting to the correct RPC port.\nUse \"quarryctl --help\" for more info.\n", g.connect)
	default:
		fmt.Fprintf(e.stderr, "error: %v\n", err)
	}
	return exitFailure
}

// printResult prints a result like bitcoin-cli: strings raw, null as
// nothing, everything else as indented JSON.
func printResult(w io.Writer, result json.RawMessage) error {
	switch jsonKind(result) {
	case 0, 'n':
		return nil
	case '"':
		var s string
		if err := json.Unmarshal(result, &s); err != nil {
			return err
		}
		_, err := fmt.Fprintln(w, s)
		return err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, result, "", "  "); err != nil {
		return err
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

func jsonKind(b []byte) byte {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

// buildParams converts command-line arguments into a JSON params array
// (positional) or object (--named), typing each as described in the
// package doc.
func buildParams(method string, args []string, named bool) (json.RawMessage, error) {
	specs, _ := rpcjson.MethodParams(method)
	isString := func(i int, name string) bool {
		for j, s := range specs {
			if (name != "" && s.Name == name) || (name == "" && j == i) {
				return s.String
			}
		}
		return false
	}
	if !named {
		out := make([]json.RawMessage, len(args))
		for i, a := range args {
			out[i] = convertArg(a, isString(i, ""))
		}
		return json.Marshal(out)
	}
	out := make(map[string]json.RawMessage, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("no '=' in named argument '%s', this needs to be present for every argument (even if it is empty)", a)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("parameter %s specified twice", k)
		}
		out[k] = convertArg(v, isString(0, k))
	}
	return json.Marshal(out)
}

// convertArg sends a as JSON if it parses as JSON (and the parameter is
// not a string), else as a JSON string.
func convertArg(a string, stringParam bool) json.RawMessage {
	if !stringParam && strings.TrimSpace(a) != "" && json.Valid([]byte(a)) {
		return json.RawMessage(strings.TrimSpace(a))
	}
	b, _ := json.Marshal(a) // a string always marshals
	return b
}

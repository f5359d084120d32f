package main

import (
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
	"github.com/quarrychain/quarry/rpc/client"
	"github.com/quarrychain/quarry/rpc/rpcjson"
)

// env is everything run needs from the process, injectable in tests.
type env struct {
	stdout, stderr io.Writer
	homeDir        func() (string, error)
	sleep          func(context.Context, time.Duration) error
}

// exitFailure is the exit status of failures other than RPC errors.
const exitFailure = 1

// rpcWaitInterval is the pause between --rpcwait attempts (bitcoin-cli's).
const rpcWaitInterval = time.Second

const usageText = `Usage:
  quarryctl [flags] <method> [args...]     send a JSON-RPC call to quarryd
  quarryctl [flags] help [method]          list methods, or help on one
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

// run is the whole command: it returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	fs := flag.NewFlagSet("quarryctl", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	network := fs.String("network", "dev", "network: main, test, dev or regtest")
	datadir := fs.String("datadir", "", "data directory (default ~/.quarry/<network>), where the cookie is read")
	connect := fs.String("rpc-connect", "", "server host[:port] (default 127.0.0.1:<network's RPC port>)")
	user := fs.String("rpc-user", "", "RPC user name")
	pass := fs.String("rpc-password", "", "RPC password (default: read the cookie from the data directory)")
	named := fs.Bool("named", false, "pass arguments as name=value pairs")
	wait := fs.Bool("rpcwait", false, "wait for the RPC server to start")
	var waitTimeout, callTimeout time.Duration
	callTimeout = 900 * time.Second
	fs.Var(secondsOrDuration{&waitTimeout}, "rpcwait-timeout", "give up --rpcwait after this long (seconds or a duration; 0 = forever)")
	fs.Var(secondsOrDuration{&callTimeout}, "rpc-timeout", "bound of one call (seconds or a duration; 0 = none)")
	help := fs.Bool("help", false, "print this help")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageText)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitFailure
	}
	if *help {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return 0
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintln(e.stderr, "error: too few parameters (need at least a method; see quarryctl --help)")
		return exitFailure
	}
	p, err := chain.ParamsByName(*network)
	if err != nil {
		fmt.Fprintf(e.stderr, "error: %v\n", err)
		return exitFailure
	}
	g := &globals{params: p, datadir: *datadir, connect: *connect, user: *user, pass: *pass,
		named: *named, rpcWait: *wait, waitTimeout: waitTimeout, callTimeout: callTimeout}
	if g.datadir == "" {
		home, err := e.homeDir()
		if err != nil {
			fmt.Fprintf(e.stderr, "error: cannot find the home directory for the default --datadir: %v\n", err)
			return exitFailure
		}
		g.datadir = filepath.Join(home, ".quarry", p.Name)
	}
	g.connect = withDefaultPort(g.connect, p.DefaultRPCPort)

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
	if g.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.callTimeout)
		defer cancel()
	}
	return client.New(g.connect, user, pass).CallRaw(ctx, method, params)
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
	switch {
	case errors.As(err, &wt):
		fmt.Fprintf(e.stderr, "error: %s\n", wt.Error())
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

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/quarrychain/quarry/node/buildinfo"
)

func TestVersionFlag(t *testing.T) {
	want := buildinfo.Read().String("quarryd") + "\n"
	for _, args := range [][]string{{"--version"}, {"-version"}, {"--network", "regtest", "--version"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 || stdout.String() != want || stderr.Len() != 0 {
			t.Errorf("%v: exit %d stdout %q stderr %q, want %q", args, code, stdout.String(), stderr.String(), want)
		}
	}
}

func TestHelpOnStdoutAndFlagErrorsOnOneLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 || !strings.HasPrefix(stdout.String(), "Usage: quarryd") {
		t.Fatalf("--help: exit %d stdout %.60q stderr %q", code, stdout.String(), stderr.String())
	}
	for args, want := range map[string]string{
		"--bogus":         "quarryd: flag provided but not defined: -bogus (see quarryd --help)\n",
		"--miner-threads": "quarryd: flag needs an argument: -miner-threads (see quarryd --help)\n",
	} {
		stdout.Reset()
		stderr.Reset()
		if code := run([]string{args}, &stdout, &stderr); code != 2 || stdout.Len() != 0 || stderr.String() != want {
			t.Errorf("%s: exit %d stdout %q stderr %q, want %q", args, code, stdout.String(), stderr.String(), want)
		}
	}
}

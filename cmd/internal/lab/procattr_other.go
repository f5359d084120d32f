//go:build !linux

package lab

import (
	"os"
	"syscall"
)

// sysProcAttr returns the process attributes of a node: detached nodes run
// in their own session (no Pdeathsig outside Linux; tests reap their nodes
// in t.Cleanup).
func sysProcAttr(attached bool) *syscall.SysProcAttr {
	if attached {
		return nil
	}
	return newSessionAttr()
}

// processAlive reports whether pid is alive. Outside Linux the lab cannot
// check that the pid is still its quarryd.
func processAlive(pid int, _ string) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}

// processRunsWith reports whether pid is alive (outside Linux the command
// line is not checked).
func processRunsWith(pid int, _, _ string) bool { return processAlive(pid, "") }

// pidAlive reports whether pid is alive.
func pidAlive(pid int) bool { return processAlive(pid, "") }

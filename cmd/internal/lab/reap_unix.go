//go:build unix

package lab

import "syscall"

// reapChild collects the exit status of pid if it is a child of this
// program that has exited, so that a detached node or proxy daemon that
// this program started and stopped (an experiment runs lab after lab in
// one process) does not stay a zombie until the program ends. It never
// blocks: a pid that is not this program's child (a lab started by
// another command) or that still runs is left alone.
func reapChild(pid int) {
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
}

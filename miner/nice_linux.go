package miner

import (
	"runtime"
	"syscall"
)

// workerNice is the scheduling niceness of mining threads.
const workerNice = 10

// lowerThreadPriority pins the calling goroutine to its OS thread and makes
// that thread nice, so that the kernel runs the node's other threads (RPC,
// p2p, block processing) ahead of the miners whenever they have work. The
// goroutine must exit without unlocking: the runtime then discards the
// thread instead of reusing it, niceness and all, for other goroutines.
func lowerThreadPriority() {
	runtime.LockOSThread()
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), workerNice)
}

package node

import "runtime"

// ReserveRPCProc raises GOMAXPROCS to one more than the number of CPUs and
// returns the previous value. quarryd calls it at startup.
//
// Why: mining workers keep every P busy. A worker yields (runtime.Gosched)
// after each batch, but a yielding goroutine goes to the global run queue,
// where the scheduler finds it again before it polls the network, so a
// goroutine waiting for an RPC request or a peer's message is woken only by
// sysmon's network poll, about every 10 ms (measured: getblockcount p50
// 15 ms while mining on all cores). With one spare P, an idle P always
// sits in the network poller and runs such goroutines at once; the OS
// scheduler gives its briefly-running thread the CPU ahead of the busy
// workers. The spare P costs nothing while idle.
func ReserveRPCProc() int {
	want := runtime.NumCPU() + 1
	prev := runtime.GOMAXPROCS(0)
	if prev < want {
		runtime.GOMAXPROCS(want)
	}
	return prev
}

//go:build unix

package stratum

import (
	"syscall"
	"time"
)

// processCPUTime returns the user+system CPU time of the process, or -1.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build !linux

package kernel

import "time"

// threadCPUTime is unavailable on this platform.
func threadCPUTime() time.Duration { return -1 }

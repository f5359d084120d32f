//go:build !unix

package stratum

import "time"

// processCPUTime is unavailable on this platform.
func processCPUTime() time.Duration { return -1 }

//go:build !linux

package miner

// lowerThreadPriority is a no-op where per-thread niceness is unavailable.
func lowerThreadPriority() {}

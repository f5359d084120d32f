//go:build !unix

package lab

// reapChild does nothing where processes leave no zombies.
func reapChild(int) {}

//go:build !unix

package lab

import "syscall"

func newSessionAttr() *syscall.SysProcAttr { return nil }

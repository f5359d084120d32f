//go:build unix && !linux

package lab

import "syscall"

func newSessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

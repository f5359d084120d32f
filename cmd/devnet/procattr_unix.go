//go:build unix && !linux

package main

import "syscall"

func newSessionAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

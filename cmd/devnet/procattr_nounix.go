//go:build !unix

package main

import "syscall"

func newSessionAttr() *syscall.SysProcAttr { return nil }

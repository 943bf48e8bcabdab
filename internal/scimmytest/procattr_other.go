//go:build !linux

package scimmytest

import "syscall"

// procAttr returns nil: only Linux can tie the server's life to the test process.
func procAttr() *syscall.SysProcAttr { return nil }

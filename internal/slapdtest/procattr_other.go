//go:build !linux

package slapdtest

import "syscall"

// procAttr returns nil: only Linux can tie slapd's life to the test process.
func procAttr() *syscall.SysProcAttr { return nil }

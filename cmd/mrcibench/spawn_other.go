//go:build !linux

package main

import "syscall"

// hostProcAttr: only Linux ends a child with its parent.
func hostProcAttr() *syscall.SysProcAttr { return nil }

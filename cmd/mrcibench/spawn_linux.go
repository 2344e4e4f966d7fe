package main

import "syscall"

// hostProcAttr makes a spawned host end with the load tool, even when a
// run fails (no orphan holding the output pipe open).
func hostProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

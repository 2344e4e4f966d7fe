//go:build unix

package module

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr puts the module in a process group of its own, so that a
// forced kill also ends the processes it started.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killTree force-kills the process group led by p.
func killTree(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
	_ = p.Kill()
}

// signalled reports whether the process ended by a signal, and which.
func signalled(ps *os.ProcessState) (string, bool) {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String(), true
	}
	return "", false
}

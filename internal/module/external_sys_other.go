//go:build !unix

package module

import (
	"os"
	"os/exec"
)

func setProcAttr(cmd *exec.Cmd) {}

func killTree(p *os.Process) { _ = p.Kill() }

func signalled(ps *os.ProcessState) (string, bool) { return "", false }

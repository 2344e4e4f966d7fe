//go:build linux

package module

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// checkPeer accepts a pipe connection only from the started process (or a
// process it started) running under the host's own account
// (modules.md §13.3, SO_PEERCRED).
func checkPeer(c *net.UnixConn, pid int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return fmt.Errorf("peer credentials: %w", credErr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("peer runs as uid %d, not %d", cred.Uid, os.Getuid())
	}
	if int(cred.Pid) == pid || descends(int(cred.Pid), pid) {
		return nil
	}
	return fmt.Errorf("peer pid %d is not the module process %d or one of its children", cred.Pid, pid)
}

// descends reports whether process p is a descendant of ancestor.
func descends(p, ancestor int) bool {
	for range 32 {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			return false
		}
		// The command name is in parentheses and may contain spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			return false
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			return false
		}
		pp, err := strconv.Atoi(f[1])
		if err != nil || pp <= 1 {
			return false
		}
		if pp == ancestor {
			return true
		}
		p = pp
	}
	return false
}

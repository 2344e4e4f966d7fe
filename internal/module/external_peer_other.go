//go:build !linux

package module

import "net"

// checkPeer is a no-op where SO_PEERCRED is not available; the private
// directory (mode 0700) still keeps other accounts out.
func checkPeer(c *net.UnixConn, pid int) error { return nil }

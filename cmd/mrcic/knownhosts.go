package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// knownHosts is the file in which mrcic remembers the certificate of each
// host it connected to, like ssh's known_hosts: one line per host,
//
//	127.0.0.1:35516 sha256:ab:cd:...
//
// with the address as given to --addr and the SHA-256 fingerprint of the
// certificate's DER bytes. Lines starting with # and empty lines are
// ignored.
type knownHosts struct {
	path string
}

// lookup returns the recorded fingerprint of addr and its line number, or
// "" when the host is not recorded. A missing file records nothing.
func (k knownHosts) lookup(addr string) (fp string, line int, err error) {
	f, err := os.Open(k.path)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, nil
	}
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if fields[0] == addr {
			return strings.TrimPrefix(fields[1], "sha256:"), n, nil
		}
	}
	return "", 0, sc.Err()
}

// record sets addr's fingerprint, replacing an earlier line for addr. The
// file and its directory are created private (0600 / 0700).
func (k knownHosts) record(addr, fp string) error {
	if err := os.MkdirAll(filepath.Dir(k.path), 0o700); err != nil {
		return err
	}
	var keep []string
	if b, err := os.ReadFile(k.path); err == nil {
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if fields := strings.Fields(l); len(fields) >= 1 && fields[0] == addr {
				continue
			}
			if l != "" {
				keep = append(keep, l)
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	keep = append(keep, addr+" sha256:"+fp)
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(keep, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, k.path)
}

// changedWarning is the loud message for a certificate that does not match
// the recorded one.
func changedWarning(addr, file string, line int, recorded, got string) string {
	bar := strings.Repeat("@", 62)
	return fmt.Sprintf(`%[1]s
@  WARNING: THE HOST CERTIFICATE HAS CHANGED!                  @
%[1]s
The certificate of %[2]s is not the one recorded in
%[3]s (line %[4]d).
  recorded: sha256:%[5]s
  now:      sha256:%[6]s
Someone may be intercepting the connection (a man-in-the-middle), or the
host's certificate was replaced. mrcic did not log in.
If you know the certificate was replaced, run mrcic again with
--accept-new-cert to record the new one.
`, bar, addr, file, line, recorded, got)
}

func defaultKnownHosts() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".mrcic", "known_hosts")
}

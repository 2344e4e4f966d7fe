package host_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/mrci/mrci/internal/hosttest"
	"github.com/mrci/mrci/internal/store"
)

// TestEveryDocumentedError runs each documented error of the account and
// user-administration commands (commands.md §4 and §6), over plaintext and
// over TLS, and checks that nothing changed in the database.
func TestEveryDocumentedError(t *testing.T) {
	for _, tls := range []bool{false, true} {
		name := "plaintext"
		if tls {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			h := hosttest.StartWith(t, hosttest.Options{ForceTLS: tls})
			h.RankAll(t, 2, "rm_acct", "lock_acct", "set_user_rank", "request_new_pw")
			h.CreateUser(t, "alice", "Alice-Pass-1", 2)
			h.CreateUser(t, "bob", "Bob-Pass-123", 2)
			h.CreateUser(t, "carl", "Carl-Pass-12", 3)
			if _, err := h.Store.CreateChannel(context.Background(), "alices", user(t, h, "alice").ID); err != nil {
				t.Fatal(err)
			}
			root := h.Root(t)
			alice := h.Login(t, "alice", "Alice-Pass-1")
			if tls != root.Encrypted() {
				t.Fatalf("encrypted = %v, want %v", root.Encrypted(), tls)
			}
			before := snapshotUsers(t, h)
			cases := []struct {
				c       string // "root" or "alice"
				cmd     string
				args    string
				answers []string
				want    string
			}{
				{"root", "set_user_name", "", nil, "-new_name missing"},
				{"root", "set_disp_name", "", nil, "-new_name missing"},
				{"root", "set_email", "-new_email bob@example.com", nil, "email already in use"},
				{"root", "set_pw", "", []string{"weak", ""}, "invalid password (8-200 chars with digits, mixed case letters and special characters)"},
				{"root", "add_acct", "", nil, "-name missing"},
				{"root", "add_acct", "-name x -email x@y.z", nil, "invalid user name (2-24 chars, no spaces)"},
				{"root", "add_acct", "-name newuser -email nope", nil, "invalid email (needs '@', a host with a '.', no spaces, at most 64 chars)"},
				{"root", "add_acct", "-name newuser -email n@y.z -disp 12345678901234567890123456789012X", nil, "display name too long or contains a line break"},
				{"root", "add_acct", "-name newuser -email alice@example.com", nil, "email already in use"},
				{"root", "add_acct", "-name newuser -email n@y.z", []string{"weak", ""}, "invalid password (8-200 chars with digits, mixed case letters and special characters)"},
				{"root", "rm_acct", "", nil, "-name missing"},
				{"root", "rm_acct", "-name x", nil, "invalid user name"},
				{"root", "rm_acct", "-name nobody -force", nil, "no such user"},
				{"root", "rm_acct", "-name alice -force", nil, "target owns channels; transfer ownership or delete them first"},
				{"root", "lock_acct", "", nil, "-user missing"},
				{"root", "lock_acct", "-user x -state 1", nil, "invalid user name"},
				{"root", "lock_acct", "-user nobody -state 1", nil, "no such user"},
				{"root", "set_user_rank", "-rank 3", nil, "-user missing"},
				{"root", "set_user_rank", "-user bob", nil, "-rank missing"},
				{"root", "set_user_rank", "-user x -rank 3", nil, "invalid user name"},
				{"root", "set_user_rank", "-user nobody -rank 3", nil, "no such user"},
				{"alice", "set_user_rank", "-user bob -rank 3", nil, "target out-ranks or equals you"},
				{"root", "force_set_email", "-user bob", nil, "-new_email missing"},
				{"root", "force_set_email", "-new_email b@c.d", nil, "-user missing"},
				{"root", "force_set_email", "-user x -new_email b@c.d", nil, "invalid user name"},
				{"root", "force_set_email", "-user bob -new_email bcd", nil, "invalid email address"},
				{"root", "force_set_email", "-user bob -new_email alice@example.com", nil, "email already in use"},
				{"root", "force_set_email", "-user nobody -new_email b@c.d", nil, "no such user"},
				{"root", "request_new_pw", "-req 1", nil, "-user missing"},
				{"root", "request_new_pw", "-user bob", nil, "-req missing"},
				{"root", "request_new_pw", "-user bob -req 2", nil, "-req must be 0 or 1"},
				{"root", "request_new_pw", "-user x -req 1", nil, "invalid user name"},
				{"root", "request_new_pw", "-user nobody -req 1", nil, "no such user"},
				{"alice", "request_new_pw", "-user bob -req 1", nil, "target out-ranks or equals you"},
				{"root", "request_new_user_name", "-user bob -req x", nil, "-req must be 0 or 1"},
				{"alice", "rm_acct", "-name bob -force", nil, "target out-ranks you"},
				{"alice", "lock_acct", "-user bob -state 1", nil, "target out-ranks or equals you"},
			}
			for _, tc := range cases {
				c := root
				if tc.c == "alice" {
					c = alice
				}
				wantErr(t, run(t, c, tc.cmd, tc.args, tc.answers...), tc.want)
			}
			if after := snapshotUsers(t, h); after != before {
				t.Fatalf("a refused command changed the accounts:\nbefore %s\nafter  %s", before, after)
			}
			// The forced rename inside auth refuses invalid names too.
			wantOK(t, run(t, root, "request_new_user_name", "-user carl -req 1"))
			res := run(t, h.Dial(t), "auth", "-user carl", "Carl-Pass-12", "x", "")
			wantErr(t, res, "invalid user name (2-24 chars, no spaces)")
		})
	}
}

// snapshotUsers renders every account row that a command could change.
func snapshotUsers(t *testing.T, h *hosttest.Host) string {
	t.Helper()
	rows, err := h.Store.ListView(context.Background(), store.ViewUsers, nil, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	out := ""
	for _, r := range rows {
		u, err := h.Store.UserByName(context.Background(), r.Cells[1])
		if err != nil {
			t.Fatal(err)
		}
		out += u.Name + "|" + u.Email + "|" + u.DisplayName + "|" + u.PasswordHash + "|" +
			strconv.FormatUint(uint64(u.Rank), 10) + "|" + boolStr(u.Locked, u.NewPasswordReq, u.NewNameReq, u.EmailVerified) + ";"
	}
	return out
}

func boolStr(bs ...bool) string {
	s := ""
	for _, b := range bs {
		if b {
			s += "1"
		} else {
			s += "0"
		}
	}
	return s
}

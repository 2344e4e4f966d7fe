// Command notebook is an MRCI module that gives every account a private
// key-value notebook, stored as one JSON file per account in a data
// directory, and lets users cast a note to the sub-channels they have open.
//
// Commands (rank-exempt: every logged-in user has them):
//
//	note_set  -key K -value V     store a note (V may be quoted)
//	note_get  -key K              print a note
//	note_ls                       list your notes
//	note_rm   -key K {-force}     delete a note (asks first unless -force)
//	note_cast -key K              send a note as TEXT to your writable sub-channels
//
// The data directory is $MRCI_NOTEBOOK_DIR, else "mrci-notebook" in the
// user configuration directory of the account running the host. Module
// processes get a clean environment, so pass the variable on with
// MRCI_MODULE_ENV=MRCI_NOTEBOOK_DIR in the host's environment. Files are
// replaced atomically; two calls of the same account writing at the same
// moment keep the last write.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mrci/mrci/pkg/modsdk"
)

// Limits of one notebook.
const (
	maxKeyLen   = 64
	maxValueLen = 4096
	maxNotes    = 1000
)

func main() { module().Main() }

func module() *modsdk.Module {
	m := &modsdk.Module{Library: "notebook 1.0"}
	cmd := func(name, summary, io, long string, run func(context.Context, *modsdk.Call, *notebook) error) *modsdk.Command {
		return &modsdk.Command{Name: name, Summary: summary, IO: io, Long: long, Exempt: true,
			Run: func(ctx context.Context, c *modsdk.Call) error {
				nb, err := open(c)
				if err != nil {
					return err
				}
				return run(ctx, c, nb)
			}}
	}
	m.Add(
		cmd("note_set", "store a note.", "[-key (text) -value (text)]/[text]",
			"Stores -value under -key in your notebook, replacing an older note of that key.", runSet),
		cmd("note_get", "print a note.", "[-key (text)]/[text]", "Prints the note stored under -key.", runGet),
		cmd("note_ls", "list your notes.", "[none]/[text]", "Lists the keys and values of your notes.", runLs),
		cmd("note_rm", "delete a note.", "[-key (text) {-force}]/[text]",
			"Deletes the note stored under -key after a y/n confirmation (skipped with -force).", runRm),
		cmd("note_cast", "cast a note to your sub-channels.", "[-key (text)]/[text]",
			"Sends the note stored under -key as TEXT to every session that has one of your writable "+
				"open sub-channels open.", runCast),
	)
	return m
}

// notebook is one account's notes.
type notebook struct {
	path  string
	Notes map[string]string `json:"notes"`
}

func dataDir() (string, error) {
	if d := os.Getenv("MRCI_NOTEBOOK_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no data directory: %w", err)
	}
	return filepath.Join(d, "mrci-notebook"), nil
}

// open loads the calling account's notebook.
func open(c *modsdk.Call) (*notebook, error) {
	s, err := c.Session()
	if err != nil {
		return nil, err
	}
	if !s.LoggedIn {
		return nil, errors.New("log in first")
	}
	dir, err := dataDir()
	if err != nil {
		return nil, err
	}
	nb := &notebook{path: filepath.Join(dir, s.UserIDHex()+".json"), Notes: map[string]string{}}
	b, err := os.ReadFile(nb.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nb, nil
	case err != nil:
		return nil, fmt.Errorf("read notebook: %w", err)
	}
	if err := json.Unmarshal(b, nb); err != nil {
		return nil, fmt.Errorf("notebook file is damaged: %w", err)
	}
	if nb.Notes == nil {
		nb.Notes = map[string]string{}
	}
	return nb, nil
}

// save writes the notebook atomically.
func (nb *notebook) save() error {
	if err := os.MkdirAll(filepath.Dir(nb.path), 0o700); err != nil {
		return fmt.Errorf("save notebook: %w", err)
	}
	b, err := json.MarshalIndent(nb, "", "  ")
	if err != nil {
		return fmt.Errorf("save notebook: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(nb.path), ".note-*")
	if err != nil {
		return fmt.Errorf("save notebook: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save notebook: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save notebook: %w", err)
	}
	if err := os.Rename(tmp.Name(), nb.path); err != nil {
		return fmt.Errorf("save notebook: %w", err)
	}
	return nil
}

func key(c *modsdk.Call) (string, error) {
	k := c.Param("-key")
	switch {
	case k == "":
		return "", errors.New("-key missing")
	case utf8.RuneCountInString(k) > maxKeyLen:
		return "", fmt.Errorf("-key is longer than %d characters", maxKeyLen)
	}
	return k, nil
}

func runSet(_ context.Context, c *modsdk.Call, nb *notebook) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	v := c.Param("-value")
	switch {
	case v == "":
		return errors.New("-value missing")
	case utf8.RuneCountInString(v) > maxValueLen:
		return fmt.Errorf("-value is longer than %d characters", maxValueLen)
	}
	if _, ok := nb.Notes[k]; !ok && len(nb.Notes) >= maxNotes {
		return fmt.Errorf("your notebook is full (%d notes)", maxNotes)
	}
	nb.Notes[k] = v
	return nb.save()
}

func runGet(_ context.Context, c *modsdk.Call, nb *notebook) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	v, ok := nb.Notes[k]
	if !ok {
		return fmt.Errorf("no note %q", k)
	}
	return c.Text(v + "\n")
}

func runLs(_ context.Context, c *modsdk.Call, nb *notebook) error {
	if len(nb.Notes) == 0 {
		return c.Text("your notebook is empty\n")
	}
	keys := make([]string, 0, len(nb.Notes))
	for k := range nb.Notes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %s\n", k, nb.Notes[k])
	}
	return c.Text(b.String())
}

func runRm(ctx context.Context, c *modsdk.Call, nb *notebook) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	if _, ok := nb.Notes[k]; !ok {
		return fmt.Errorf("no note %q", k)
	}
	if !c.Flag("-force") {
		ok, err := c.Confirm(ctx, fmt.Sprintf("delete the note %q? (y/n): ", k))
		if err != nil || !ok {
			return err
		}
	}
	delete(nb.Notes, k)
	return nb.save()
}

func runCast(_ context.Context, c *modsdk.Call, nb *notebook) error {
	k, err := key(c)
	if err != nil {
		return err
	}
	v, ok := nb.Notes[k]
	if !ok {
		return fmt.Errorf("no note %q", k)
	}
	s, _ := c.Session()
	err = c.Cast(modsdk.TypeText, modsdk.EncodeText(fmt.Sprintf("%s shares a note: %s: %s\n", s.UserName, k, v)))
	if errors.Is(err, modsdk.ErrNoWritableSubChannel) {
		return errors.New("open a sub-channel you may write to first (open_sub_ch)")
	}
	return err
}

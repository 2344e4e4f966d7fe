package importer

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Report is the result of one import: per table what was read, imported,
// found already present and skipped (with the reason for every skip), the
// differences between the original's settings and ours, and notes.
type Report struct {
	Source   string `json:"source"`
	DryRun   bool   `json:"dry_run"`
	Merge    bool   `json:"merge"`
	WithLogs bool   `json:"with_logs"`
	// Changed is whether the import writes (or, in a dry run, would write)
	// anything; false means the target already holds everything.
	Changed bool `json:"changed"`
	// Written is whether the import was committed (false for dry runs).
	Written  bool           `json:"written"`
	Tables   []*TableReport `json:"tables"`
	Settings []SettingDiff  `json:"settings"`
	Notes    []string       `json:"notes,omitempty"`
}

// TableReport counts the rows of one table of the original's database.
// Read = Imported + Present + Skipped.
type TableReport struct {
	Table    string  `json:"table"`
	Read     int     `json:"read"`
	Imported int     `json:"imported"` // in a dry run: would be imported
	Present  int     `json:"already_present"`
	Skipped  int     `json:"skipped"`
	Skips    []Issue `json:"skips,omitempty"`
	// Warnings are rows imported with a change (a field dropped) or with
	// something the operator should know (a module file missing here).
	Warnings []Issue `json:"warnings,omitempty"`
}

// Issue names one row and what happened to it.
type Issue struct {
	Row    string `json:"row"`
	Reason string `json:"reason"`
}

// SettingDiff is one host setting whose value in the original differs from
// ours, or that mrci does not carry over.
type SettingDiff struct {
	Setting  string `json:"setting"`
	Original string `json:"original"`
	Current  string `json:"current"`
	// Action: "applied" ("would be applied" in a dry run), "kept ours" or
	// "not carried over", with the reason.
	Action string `json:"action"`
}

// Table returns the report of one table, by name (nil if absent).
func (r *Report) Table(name string) *TableReport {
	for _, t := range r.Tables {
		if t.Table == name {
			return t
		}
	}
	return nil
}

func (r *Report) table(name string) *TableReport {
	if t := r.Table(name); t != nil {
		return t
	}
	t := &TableReport{Table: name}
	r.Tables = append(r.Tables, t)
	return t
}

func (t *TableReport) imported() { t.Read++; t.Imported++ }
func (t *TableReport) present()  { t.Read++; t.Present++ }
func (t *TableReport) skip(row, format string, args ...any) {
	t.Read++
	t.Skipped++
	t.Skips = append(t.Skips, Issue{Row: row, Reason: fmt.Sprintf(format, args...)})
}
func (t *TableReport) warn(row, format string, args ...any) {
	t.Warnings = append(t.Warnings, Issue{Row: row, Reason: fmt.Sprintf(format, args...)})
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := "import"
	if r.DryRun {
		mode = "dry run (nothing is written)"
	}
	fmt.Fprintf(&b, "import from the original host: %s\nmode: %s", r.Source, mode)
	if r.Merge {
		b.WriteString(", merge")
	}
	if r.WithLogs {
		b.WriteString(", with logs")
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "table\tread\timported\talready present\tskipped\t")
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", t.Table, t.Read, t.Imported, t.Present, t.Skipped)
	}
	tw.Flush()
	section := func(title string, get func(*TableReport) []Issue) {
		first := true
		for _, t := range r.Tables {
			for _, is := range get(t) {
				if first {
					fmt.Fprintf(&b, "\n%s:\n", title)
					first = false
				}
				fmt.Fprintf(&b, "  %s %s: %s\n", t.Table, is.Row, is.Reason)
			}
		}
	}
	section("skipped", func(t *TableReport) []Issue { return t.Skips })
	section("warnings", func(t *TableReport) []Issue { return t.Warnings })
	if len(r.Settings) > 0 {
		b.WriteString("\nsettings:\n")
		for _, d := range r.Settings {
			fmt.Fprintf(&b, "  %s: original %s, ours %s: %s\n", d.Setting, d.Original, d.Current, d.Action)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nnotes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	b.WriteString("\n")
	switch {
	case !r.Changed:
		b.WriteString("result: nothing to import, everything is already present; nothing was changed\n")
	case r.DryRun:
		b.WriteString("result: dry run, nothing was written\n")
	case r.Written:
		b.WriteString("result: imported in one transaction\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

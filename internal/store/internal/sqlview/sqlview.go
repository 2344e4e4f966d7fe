// Package sqlview builds the SQL of the table viewers (store.ListView and
// store.DeleteView) for the SQL backends. A backend describes each view once
// (its FROM clause, paging key and one display expression per column) in its
// own dialect; this package turns filters and pages into a parameterised
// query. User input only ever travels as bound parameters.
package sqlview

import (
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// Dialect holds the SQL differences between backends.
type Dialect struct {
	// Placeholder returns the text of the n-th (1-based) bound parameter.
	Placeholder func(n int) string
	// Like is the case-insensitive pattern operator including its escape
	// clause, with %s standing for the pattern placeholder, e.g.
	// "LIKE %s ESCAPE '\'".
	Like string
	// Fold returns an expression folding the case of expr, e.g. "lower(expr)".
	Fold func(expr string) string
}

// Column is one displayed column of a view.
type Column struct {
	Name string
	// Expr is an SQL expression yielding the cell's display text; it must
	// never be NULL.
	Expr string
}

// Hidden is a filter column compared natively (so that an index can be used)
// when an Exact filter names it. Substring filters on it compare Text.
type Hidden struct {
	Name string
	// Expr is the native expression compared with "=" to Parse's result.
	Expr string
	// Text is the display-text expression used for substring filters.
	Text string
	// Parse converts a filter value into the bound parameter; false means
	// the value can match no row.
	Parse func(value string) (any, bool)
}

// Def describes one view.
type Def struct {
	// From is the FROM clause without the keyword (tables, aliases, joins).
	From string
	// Key is the expression of the stable, increasing paging key.
	Key string
	// Columns are the displayed columns in store.ViewColumns order.
	Columns []Column
	// Hidden are the extra exact-filter columns (store.HiddenFilterColumns).
	Hidden []Hidden
	// Table and TableKey name the main table and its key column, used by
	// DeleteView; Key must select TableKey's values.
	Table, TableKey string
}

// args accumulates bound parameters.
type args struct {
	d    Dialect
	vals []any
}

func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	return a.d.Placeholder(len(a.vals))
}

// like renders the substring match of value: the dialect's Like operator
// with the escaped value bound as a %value% pattern.
func (a *args) like(value string) string {
	return strings.Replace(a.d.Like, "%s", a.add("%"+EscapeLike(value)+"%"), 1)
}

// EscapeLike escapes the LIKE metacharacters \, % and _ of s with a
// backslash.
func EscapeLike(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	for _, r := range s {
		if r == '\\' || r == '%' || r == '_' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ParseID parses a canonical decimal unsigned integer (no sign, no leading
// zeros) for exact id filters; the value must also fit an SQL bigint.
func ParseID(v string) (any, bool) {
	n, err := strconv.ParseUint(v, 10, 63)
	if err != nil || strconv.FormatUint(n, 10) != v {
		return nil, false
	}
	return int64(n), true
}

// ParseUserID parses a user id in hex (either case) for exact filters.
func ParseUserID(v string) (any, bool) {
	b, err := hex.DecodeString(v)
	if err != nil || len(b) != wire.UserIDLen {
		return nil, false
	}
	return b, true
}

// where renders the filter conditions, ANDed, or "" when there are none.
func (d Def) where(a *args, filters []store.Filter) []string {
	var conds []string
	for _, f := range filters {
		if c, ok := d.cond(a, f); ok {
			conds = append(conds, c)
		}
	}
	return conds
}

// cond renders one filter; false means the filter names an unknown column
// and is ignored.
func (d Def) cond(a *args, f store.Filter) (string, bool) {
	for _, h := range d.Hidden {
		if h.Name != f.Column {
			continue
		}
		if !f.Exact {
			return h.Text + " " + a.like(f.Value), true
		}
		v, ok := h.Parse(f.Value)
		if !ok {
			return "1 = 0", true
		}
		return h.Expr + " = " + a.add(v), true
	}
	for _, c := range d.Columns {
		if c.Name != f.Column {
			continue
		}
		if f.Exact {
			return a.d.Fold(c.Expr) + " = " + a.d.Fold(a.add(f.Value)), true
		}
		return c.Expr + " " + a.like(f.Value), true
	}
	return "", false
}

// Select returns the query and arguments of one page of the view. The
// result columns are the key followed by the display columns.
func (d Def) Select(dl Dialect, filters []store.Filter, p store.Page) (string, []any) {
	a := &args{d: dl}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(d.Key)
	for _, c := range d.Columns {
		b.WriteString(", ")
		b.WriteString(c.Expr)
	}
	b.WriteString(" FROM ")
	b.WriteString(d.From)
	b.WriteString(" WHERE ")
	b.WriteString(d.Key)
	b.WriteString(" > ")
	b.WriteString(a.add(p.After))
	for _, c := range d.where(a, filters) {
		b.WriteString(" AND ")
		b.WriteString(c)
	}
	b.WriteString(" ORDER BY ")
	b.WriteString(d.Key)
	if p.Limit > 0 {
		b.WriteString(" LIMIT ")
		b.WriteString(a.add(int64(p.Limit)))
	}
	return b.String(), a.vals
}

// Delete returns the statement deleting the main-table rows of the view
// that match the filters.
func (d Def) Delete(dl Dialect, filters []store.Filter) (string, []any) {
	a := &args{d: dl}
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	b.WriteString(d.Table)
	conds := d.where(a, filters)
	if len(conds) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(d.TableKey)
		b.WriteString(" IN (SELECT ")
		b.WriteString(d.Key)
		b.WriteString(" FROM ")
		b.WriteString(d.From)
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(conds, " AND "))
		b.WriteString(")")
	}
	return b.String(), a.vals
}

package cmds

import (
	"context"
	"fmt"
	"strings"

	"github.com/mrci/mrci/internal/module"
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/wire"
)

// pageSize is the number of rows a table viewer prints per page.
const pageSize = 50

// viewer returns the Run function of a table viewer (commands.md §3):
// -column value arguments filter by substring, pages of 50 rows are
// printed with a "next page" question, and deletable viewers accept -delete.
func viewer(v store.View, deletable bool) func(context.Context, *module.Call) error {
	return viewerWith(v, deletable, nil)
}

// viewerWith is viewer with decorate, if not nil, changing the cells of
// each page before it is printed (the filters apply to the stored cells).
func viewerWith(v store.View, deletable bool, decorate func(*module.Call, []store.Row)) func(context.Context, *module.Call) error {
	return func(ctx context.Context, c *module.Call) error {
		var filters []store.Filter
		for _, col := range store.ViewColumns(v) {
			if val := c.Param("-" + col); val != "" {
				filters = append(filters, store.Filter{Column: col, Value: val})
			}
		}
		if deletable && c.Flag("-delete") {
			return deleteRows(ctx, c, v, filters)
		}
		return showPages(ctx, c, v, filters, decorate)
	}
}

// showPages prints a view page by page.
func showPages(ctx context.Context, c *module.Call, v store.View, filters []store.Filter, decorate func(*module.Call, []store.Row)) error {
	var after int64
	for {
		rows, err := c.Store().ListView(ctx, v, filters, store.Page{After: after, Limit: pageSize})
		if err != nil {
			return err
		}
		if decorate != nil {
			decorate(c, rows)
		}
		c.Text(formatTable(store.ViewColumns(v), rows))
		if len(rows) < pageSize {
			return nil
		}
		after = rows[len(rows)-1].Key
		more, err := c.Confirm(ctx, "next page (y/n)? ")
		if err != nil || !more {
			return err
		}
	}
}

// formatTable lays out a header, a separator and the rows, each column as
// wide as the viewer rule says: scanning the column's cells in order,
// whenever a cell is at least as long as the current width the width
// becomes its length + 4.
func formatTable(cols []string, rows []store.Row) string {
	widths := make([]int, len(cols))
	lines := make([][]string, 0, len(rows)+2)
	sep := make([]string, len(cols))
	for i := range sep {
		sep[i] = "-------"
	}
	lines = append(lines, cols, sep)
	for _, r := range rows {
		lines = append(lines, r.Cells)
	}
	for i := range cols {
		for _, l := range lines {
			if i < len(l) {
				if n := wire.TextLen(l[i]); n >= widths[i] {
					widths[i] = n + 4
				}
			}
		}
	}
	var b strings.Builder
	for _, l := range lines {
		for i := range cols {
			cell := ""
			if i < len(l) {
				cell = l[i]
			}
			b.WriteString(cell)
			b.WriteString(strings.Repeat(" ", max(widths[i]-wire.TextLen(cell), 0)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// deleteRows runs a viewer's delete mode.
func deleteRows(ctx context.Context, c *module.Call, v store.View, filters []store.Filter) error {
	var b strings.Builder
	for _, f := range filters {
		fmt.Fprintf(&b, "delete parameter: %s ~= %s\n", f.Column, f.Value)
	}
	b.WriteString("\n")
	c.Text(b.String())
	q := "Delete the matching rows? (y/n): "
	if len(filters) == 0 {
		q = "No filters were given: ALL rows will be deleted. Continue? (y/n): "
	}
	ok, err := c.Confirm(ctx, q)
	if err != nil || !ok {
		return err
	}
	n, err := c.Store().DeleteView(ctx, v, filters)
	if err != nil {
		return err
	}
	c.Text(fmt.Sprintf("%d rows deleted.\n", n))
	if v == store.ViewBans {
		c.Emit(wire.TypePrivIPC, wire.AsyncUpdateBans, nil)
	}
	return nil
}

package sqlite

import (
	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/internal/sqlview"
)

// dialect returns SQLite's flavour of the view SQL: "?" placeholders, LIKE
// (case-insensitive for ASCII letters) and lower().
func dialect() sqlview.Dialect {
	return sqlview.Dialect{
		Placeholder: func(int) string { return "?" },
		Like:        `LIKE %s ESCAPE '\'`,
		Fold:        func(e string) string { return "lower(" + e + ")" },
	}
}

// exprs returns SQLite's display-text expressions.
func exprs() sqlview.Exprs {
	return sqlview.Exprs{
		Text:    func(col string) string { return "COALESCE(" + col + ", '')" },
		Int:     func(col string) string { return "COALESCE(CAST(" + col + " AS TEXT), '')" },
		Hex:     func(col string) string { return "lower(hex(" + col + "))" },
		Bool:    func(col string) string { return "CASE WHEN " + col + " THEN '1' ELSE '0' END" },
		Time:    tsExpr,
		Untyped: func(col string) string { return "CAST(" + col + " AS TEXT)" },
	}
}

// viewDef describes the table viewers in SQLite SQL.
func viewDef(v store.View) (sqlview.Def, bool) { return sqlview.ViewDef(v, exprs()) }

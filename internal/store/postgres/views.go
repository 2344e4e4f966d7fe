package postgres

import (
	"strconv"

	"github.com/mrci/mrci/internal/store"
	"github.com/mrci/mrci/internal/store/internal/sqlview"
)

// dialect returns PostgreSQL's flavour of the view SQL: $n placeholders,
// ILIKE and lower(); the escape character is written as E'\\' so that it
// does not depend on standard_conforming_strings.
func dialect() sqlview.Dialect {
	return sqlview.Dialect{
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		Like:        `ILIKE %s ESCAPE E'\\'`,
		Fold:        func(e string) string { return "lower((" + e + ")::text)" },
	}
}

// exprs returns PostgreSQL's display-text expressions.
func exprs() sqlview.Exprs {
	return sqlview.Exprs{
		Text:    func(col string) string { return "COALESCE(" + col + ", '')" },
		Int:     func(col string) string { return "COALESCE((" + col + ")::text, '')" },
		Hex:     func(col string) string { return "COALESCE(encode(" + col + ", 'hex'), '')" },
		Bool:    func(col string) string { return "CASE WHEN " + col + " THEN '1' ELSE '0' END" },
		Time:    tsExpr,
		Untyped: func(col string) string { return col },
	}
}

// viewDef describes the table viewers in PostgreSQL SQL.
func viewDef(v store.View) (sqlview.Def, bool) { return sqlview.ViewDef(v, exprs()) }

// tsExpr renders a time_stamp column as UTC "YYYY-MM-DD HH:MM:SS" text.
func tsExpr(col string) string {
	return "COALESCE(to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), '')"
}

package sqlview

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mrci/mrci/internal/store"
)

func TestEscapeLike(t *testing.T) {
	for in, want := range map[string]string{
		"":        "",
		"abc":     "abc",
		"a%b_c":   `a\%b\_c`,
		`a\b`:     `a\\b`,
		`\%_`:     `\\\%\_`,
		"x' OR 1": "x' OR 1",
		"ünï%":    `ünï\%`,
	} {
		if got := EscapeLike(in); got != want {
			t.Errorf("EscapeLike(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]any{"1": int64(1), "9223372036854775807": int64(9223372036854775807)} {
		got, ok := ParseID(in)
		if !ok || got != want {
			t.Errorf("ParseID(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "01", "-1", "+1", "1 ", "1a", "9223372036854775808", "1 OR 1=1"} {
		if _, ok := ParseID(in); ok {
			t.Errorf("ParseID(%q) accepted", in)
		}
	}
}

func TestParseUserID(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	got, ok := ParseUserID(hex)
	if !ok || len(got.([]byte)) != 32 {
		t.Fatalf("ParseUserID(%q) = %v, %v", hex, got, ok)
	}
	for _, in := range []string{"", "ab", strings.Repeat("ab", 31), strings.Repeat("zz", 32), hex + "00"} {
		if _, ok := ParseUserID(in); ok {
			t.Errorf("ParseUserID(%q) accepted", in)
		}
	}
}

func TestSelectBindsEverything(t *testing.T) {
	d := Dialect{
		Placeholder: func(int) string { return "?" },
		Like:        `LIKE %s ESCAPE '\'`,
		Fold:        func(e string) string { return "lower(" + e + ")" },
	}
	def := Def{From: "t", Key: "t.id", Columns: []Column{{Name: "a", Expr: "t.a"}},
		Hidden: []Hidden{{Name: "h", Expr: "t.h", Text: "t.h", Parse: ParseID}}}
	evil := "x' OR '1'='1"
	q, args := def.Select(d, []store.Filter{
		{Column: "a", Value: evil},
		{Column: "a", Value: evil, Exact: true},
		{Column: "h", Value: "7", Exact: true},
		{Column: "h", Value: "bad", Exact: true},
		{Column: "ignored", Value: evil},
	}, store.Page{After: 3, Limit: 10})
	if strings.Contains(q, evil) || strings.Contains(q, "ignored") {
		t.Fatalf("user input in SQL: %s", q)
	}
	want := "SELECT t.id, t.a FROM t WHERE t.id > ? AND t.a LIKE ? ESCAPE '\\' AND lower(t.a) = lower(?) AND t.h = ? AND 1 = 0 ORDER BY t.id LIMIT ?"
	if q != want {
		t.Fatalf("query\n got  %s\n want %s", q, want)
	}
	wantArgs := []any{int64(3), "%x' OR '1'='1%", evil, int64(7), int64(10)}
	if !reflect.DeepEqual(args, wantArgs) {
		t.Fatalf("args %#v, want %#v", args, wantArgs)
	}
}

func TestDelete(t *testing.T) {
	d := Dialect{
		Placeholder: func(n int) string { return "$" + string(rune('0'+n)) },
		Like:        `ILIKE %s`,
		Fold:        func(e string) string { return "lower(" + e + ")" },
	}
	def := Def{From: "logs t", Key: "t.id", Table: "logs", TableKey: "id", Columns: []Column{{Name: "a", Expr: "t.a"}}}
	q, args := def.Delete(d, nil)
	if q != "DELETE FROM logs" || len(args) != 0 {
		t.Fatalf("delete all: %s %v", q, args)
	}
	q, args = def.Delete(d, []store.Filter{{Column: "a", Value: "x"}, {Column: "nope", Value: "y"}})
	if q != "DELETE FROM logs WHERE id IN (SELECT t.id FROM logs t WHERE t.a ILIKE $1)" || !reflect.DeepEqual(args, []any{"%x%"}) {
		t.Fatalf("delete filtered: %s %v", q, args)
	}
}

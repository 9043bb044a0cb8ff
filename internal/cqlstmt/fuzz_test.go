package cqlstmt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzNormalize checks, on any input, that Normalize and Classify do not
// panic, that Normalize is idempotent, bounded by MaxLen and keeps valid
// UTF-8 valid, and that Classify's names are short and plain.
//
// It also splices lit, as a string literal, into a statement built from
// stmt, and checks that the normal form does not depend on the literal's
// contents, which therefore never appear in it. The statement around the
// literal is stmt with every byte that could open a string, a quoted name,
// a $$ string or a comment removed, so that the quotes put around lit
// really make it a string literal.
//
// Seeds are the table tests' statements and the files in
// testdata/fuzz/FuzzNormalize.
func FuzzNormalize(f *testing.F) {
	for _, tc := range normalizeCases {
		f.Add(tc.in, "secret")
	}
	for _, tc := range classifyCases {
		f.Add(tc.in, "it's -- /* $$ \"x\" 日本")
	}

	f.Fuzz(func(t *testing.T, stmt, lit string) {
		got := Normalize(stmt)
		if again := Normalize(got); again != got {
			t.Fatalf("not idempotent:\n in:     %q\n once:   %q\n twice:  %q", stmt, got, again)
		}
		if len(got) > MaxLen {
			t.Fatalf("%d bytes, more than MaxLen: %q", len(got), got)
		}
		if utf8.ValidString(stmt) && !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8 from valid input %q: %q", stmt, got)
		}
		checkInfo(t, stmt, Classify(stmt))

		safe := strings.Map(func(r rune) rune {
			switch r {
			case '\'', '"', '$', '-', '/':
				return -1
			}
			return r
		}, stmt)
		head, tail := safe[:len(safe)/2], safe[len(safe)/2:]
		quoted := "'" + strings.ReplaceAll(lit, "'", "''") + "'"
		withLit := Normalize(head + " = " + quoted + " " + tail)
		withEmpty := Normalize(head + " = '' " + tail)
		if withLit != withEmpty {
			t.Fatalf("the literal's contents changed the normal form:\n %q\n %q", withLit, withEmpty)
		}
		if len(lit) >= 4 && !strings.Contains(withEmpty, lit) && strings.Contains(withLit, lit) {
			t.Fatalf("literal %q survives in %q", lit, withLit)
		}
	})
}

// checkInfo fails t unless info is something Classify may return.
func checkInfo(t *testing.T, stmt string, info Info) {
	t.Helper()
	if info.Kind > Use {
		t.Fatalf("Classify(%q): kind %d", stmt, info.Kind)
	}
	for _, name := range []string{info.Keyspace, info.Table} {
		if len(name) > maxNameLen {
			t.Fatalf("Classify(%q): name of %d bytes", stmt, len(name))
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; !isLetter(c) && !isDigit(c) && c != '_' {
				t.Fatalf("Classify(%q): name %q", stmt, name)
			}
		}
	}
}

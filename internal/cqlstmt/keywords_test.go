package cqlstmt

import "testing"

func TestLookupKeyword(t *testing.T) {
	probes := 0
	for w, f := range keywords {
		for _, v := range []string{w, toLower(w)} {
			if got := lookupKeyword(v); got != f {
				t.Errorf("lookupKeyword(%q) = %b, want %b", v, got, f)
			}
		}
		for h := keywordHash(w); keywordTable[h].word != w; h++ {
			probes++
		}
	}
	t.Logf("%d keywords, %d extra probes in all", len(keywords), probes)
	for _, w := range []string{"", "x", "users", "selec", "selectt", "SELECTED", "inn", "date", "ä", "MATERIALIZEDX"} {
		if got := lookupKeyword(w); got != 0 {
			t.Errorf("lookupKeyword(%q) = %b, want 0", w, got)
		}
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

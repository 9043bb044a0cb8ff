package cqlstmt

import (
	"strconv"
	"strings"
	"testing"
)

// benchStatements are what a service typically sends: literals inline
// (which Normalize must hide, and so allocates its result), markers only
// (already in normal form: no allocation), and a long IN list.
var benchStatements = []struct{ name, stmt string }{
	{"SelectLiterals", "SELECT id, name, email FROM ks.users WHERE id = 8f2c1d3e-4b5a-4c6d-8e7f-901234567890 AND region = 'eu-west' LIMIT 10"},
	{"InsertLiterals", "INSERT INTO ks.events (id, day, kind, payload, tags) VALUES (now(), '2024-06-01', 3, 0xdeadbeef, {'a', 'b'}) USING TTL 86400"},
	{"SelectMarkers", "SELECT id, name, email FROM ks.users WHERE id = ? AND region = ? LIMIT ?"},
	{"InsertMarkers", "INSERT INTO ks.events (id, day, kind, payload, tags) VALUES (?, ?, ?, ?, ?) USING TTL ?"},
	{"SelectIN1000", "SELECT * FROM ks.t WHERE k IN (" + strings.TrimSuffix(strings.Repeat("123456, ", 1000), ", ") + ")"},
}

func BenchmarkNormalize(b *testing.B) {
	for _, bs := range benchStatements {
		b.Run(bs.name, func(b *testing.B) {
			b.SetBytes(int64(len(bs.stmt)))
			b.ReportAllocs()
			for range b.N {
				_ = Normalize(bs.stmt)
			}
		})
	}
}

func BenchmarkClassify(b *testing.B) {
	for _, bs := range benchStatements[:2] {
		b.Run(bs.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				_ = Classify(bs.stmt)
			}
		})
	}
}

// BenchmarkNormalizeLength normalises statements of growing length (a
// batch of ever more literal-laden inserts): MB/s stays flat if the time
// is linear in the length.
func BenchmarkNormalizeLength(b *testing.B) {
	const insert = "INSERT INTO ks.events (id, day, payload) VALUES (8f2c1d3e-4b5a-4c6d-8e7f-901234567890, 'it''s', [1, 2.5, -3]); "
	for _, n := range []int{10, 1000, 100000} {
		stmt := "BEGIN BATCH " + strings.Repeat(insert, n) + "APPLY BATCH"
		b.Run(strconv.Itoa(len(stmt)/1024)+"KiB", func(b *testing.B) {
			b.SetBytes(int64(len(stmt)))
			b.ReportAllocs()
			for range b.N {
				_ = Normalize(stmt)
			}
		})
	}
}

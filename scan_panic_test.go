package cassandra

import (
	"errors"
	"testing"

	gocql "github.com/apache/cassandra-gocql-driver/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gocql panics (in reflect) when it decodes a list of tuples into a slice
// of structs with unexported fields. Scan runs on the caller's goroutine:
// the panic comes back as an error naming the column, and the row can
// still be read into a destination that fits. The row-decoding fuzz test
// found it.
func TestScanTurnsADriverPanicIntoAnError(t *testing.T) {
	info := gocql.NewNativeType(4, gocql.TypeCustom, "list<frozen<tuple<int,text>>>")
	b, err := gocql.Marshal(info, [][]any{{1, "a"}})
	require.NoError(t, err)
	var c cursor // on a row whose one column holds b, as a ResultSet's would
	c.setColumns([]gocql.ColumnInfo{{Keyspace: "ks", Table: "t", Name: "pairs", TypeInfo: info}}, nil)
	c.raw[0] = rawColumn{info: info, data: b}
	c.onRow = true

	type hidden struct {
		//lint:ignore U1000 unexported on purpose: gocql cannot set them
		n int
		//lint:ignore U1000 unexported on purpose: gocql cannot set them
		s string
	}
	var bad []hidden
	err = c.scan([]any{&bad})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `cassandra: Scan: column "pairs": cannot decode into *[]cassandra.hidden`)
	var pe *PanicError
	assert.True(t, errors.As(err, &pe), "the driver's panic is kept, with its stack")

	type pair struct {
		N int
		S string
	}
	var good []pair
	require.NoError(t, c.scan([]any{&good}), "the row is still there")
	assert.Equal(t, []pair{{1, "a"}}, good)
}

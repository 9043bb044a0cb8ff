package cqltest

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/datastax/go-cassandra-native-protocol/datacodec"
	"github.com/datastax/go-cassandra-native-protocol/datatype"
	"github.com/datastax/go-cassandra-native-protocol/message"
	"github.com/datastax/go-cassandra-native-protocol/primitive"
)

// Type is a CQL data type of the native-protocol library.
type Type = datatype.DataType

// CQL types for [Column.Type] and [Server.SetBindTypes]. Any other
// datatype.DataType of the native-protocol library works too.
var (
	Int       Type = datatype.Int
	Bigint    Type = datatype.Bigint
	Smallint  Type = datatype.Smallint
	Tinyint   Type = datatype.Tinyint
	Counter   Type = datatype.Counter
	Varint    Type = datatype.Varint
	Decimal   Type = datatype.Decimal
	Float     Type = datatype.Float
	Double    Type = datatype.Double
	Text      Type = datatype.Varchar
	Varchar   Type = datatype.Varchar
	Ascii     Type = datatype.Ascii
	Blob      Type = datatype.Blob
	Boolean   Type = datatype.Boolean
	UUID      Type = datatype.Uuid
	Timeuuid  Type = datatype.Timeuuid
	Timestamp Type = datatype.Timestamp
	Date      Type = datatype.Date
	Time      Type = datatype.Time
	Inet      Type = datatype.Inet
)

// SetOf, ListOf and MapOf build collection types.
func SetOf(elem Type) Type     { return datatype.NewSet(elem) }
func ListOf(elem Type) Type    { return datatype.NewList(elem) }
func MapOf(key, val Type) Type { return datatype.NewMap(key, val) }

// Column describes one result column. Keyspace and Table default to
// "cqltest" and "t".
type Column struct {
	Name     string
	Type     Type
	Keyspace string
	Table    string
}

// Cols is shorthand for building columns: Cols("id", Int, "name", Text).
// It panics on an odd argument count or a non-string/non-Type argument.
func Cols(nameTypePairs ...any) []Column {
	if len(nameTypePairs)%2 != 0 {
		panic("cqltest.Cols: odd number of arguments")
	}
	cols := make([]Column, 0, len(nameTypePairs)/2)
	for i := 0; i < len(nameTypePairs); i += 2 {
		name, ok1 := nameTypePairs[i].(string)
		typ, ok2 := nameTypePairs[i+1].(Type)
		if !ok1 || !ok2 {
			panic(fmt.Sprintf("cqltest.Cols: want (string, Type) pairs, got (%T, %T)", nameTypePairs[i], nameTypePairs[i+1]))
		}
		cols = append(cols, Column{Name: name, Type: typ})
	}
	return cols
}

// encodeVersion is the protocol version used to encode values. Versions 3 and
// 4 (the only ones served) share all value encodings.
const encodeVersion = primitive.ProtocolVersion4

func columnsMetadata(cols []Column) []*message.ColumnMetadata {
	md := make([]*message.ColumnMetadata, len(cols))
	for i, c := range cols {
		ks, tbl := c.Keyspace, c.Table
		if ks == "" {
			ks = "cqltest"
		}
		if tbl == "" {
			tbl = "t"
		}
		md[i] = &message.ColumnMetadata{Keyspace: ks, Table: tbl, Name: c.Name, Index: int32(i), Type: c.Type}
	}
	return md
}

// encodeRows encodes Go values with the column types. nil is a CQL null.
func encodeRows(cols []Column, rows [][]any) (message.RowSet, error) {
	codecs := make([]datacodec.Codec, len(cols))
	for i, c := range cols {
		if c.Type == nil {
			return nil, fmt.Errorf("column %q has no type", c.Name)
		}
		codec, err := datacodec.NewCodec(c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		codecs[i] = codec
	}
	out := make(message.RowSet, len(rows))
	for r, row := range rows {
		if len(row) != len(cols) {
			return nil, fmt.Errorf("row %d has %d values, want %d", r, len(row), len(cols))
		}
		enc := make(message.Row, len(row))
		for i, v := range row {
			b, err := encodeValue(codecs[i], v)
			if err != nil {
				return nil, fmt.Errorf("row %d column %q: %w", r, cols[i].Name, err)
			}
			enc[i] = b
		}
		out[r] = enc
	}
	return out, nil
}

func encodeValue(codec datacodec.Codec, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	// Named 16-byte arrays (gocql.UUID, google/uuid.UUID) are plain UUIDs to the codec.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Len() == 16 && rv.Type().Elem().Kind() == reflect.Uint8 {
		var u [16]byte
		reflect.Copy(reflect.ValueOf(u[:]), rv)
		v = u
	}
	return codec.Encode(v, encodeVersion)
}

// table is an encoded result: column metadata plus rows.
type table struct {
	cols []Column
	md   []*message.ColumnMetadata
	rows message.RowSet
	echo bool // answer with one row of the bound values instead of rows (EchoValues)
	// tokens, for SetTokenRows, holds each row's token, ascending: a
	// request gets the rows within the token range its values bound.
	tokens []int64
}

func newTable(cols []Column, rows [][]any) (*table, error) {
	enc, err := encodeRows(cols, rows)
	if err != nil {
		return nil, err
	}
	return &table{cols: cols, md: columnsMetadata(cols), rows: enc}, nil
}

// project keeps the named columns, in the given order (case-insensitive).
func (t *table) project(names []string) (*table, message.Error, bool) {
	idx := make([]int, len(names))
	cols := make([]Column, len(names))
	for i, n := range names {
		n = strings.Trim(strings.TrimSpace(n), `"`)
		idx[i] = -1
		for j, c := range t.cols {
			if strings.EqualFold(c.Name, n) {
				idx[i] = j
				cols[i] = c
				break
			}
		}
		if idx[i] < 0 {
			return nil, &message.Invalid{ErrorMessage: "Undefined column name " + n}, true
		}
	}
	rows := make(message.RowSet, len(t.rows))
	for r, row := range t.rows {
		out := make(message.Row, len(idx))
		for i, j := range idx {
			out[i] = row[j]
		}
		rows[r] = out
	}
	return &table{cols: cols, md: columnsMetadata(cols), rows: rows}, nil, true
}

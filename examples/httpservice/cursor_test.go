package main

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A cursor gives back its page state for its own list and key only, and any
// change to any of its bytes is refused.
func TestCursor(t *testing.T) {
	codec := cursorCodec{key: []byte("0123456789abcdef0123456789abcdef")}
	state := []byte("\x00\x04list\x10page state bytes")
	c := codec.encode("groceries", state)

	got, err := codec.decode("groceries", c)
	require.NoError(t, err)
	assert.Equal(t, state, got)

	_, err = codec.decode("groceries2", c)
	assert.ErrorIs(t, err, errBadCursor, "another list")
	_, err = cursorCodec{key: []byte("another key, just as long as that")}.decode("groceries", c)
	assert.ErrorIs(t, err, errBadCursor, "another key")

	raw, err := base64.RawURLEncoding.DecodeString(c)
	require.NoError(t, err)
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			changed := append([]byte(nil), raw...)
			changed[i] ^= bit
			_, err := codec.decode("groceries", base64.RawURLEncoding.EncodeToString(changed))
			assert.ErrorIs(t, err, errBadCursor, "byte %d changed", i)
		}
	}
	for _, bad := range []string{"", "AQ", "not base64!", c[:len(c)-1], c + "A"} {
		_, err := codec.decode("groceries", bad)
		assert.ErrorIs(t, err, errBadCursor, "%q", bad)
	}

	// The first page has no state; a cursor of an empty state still
	// round-trips.
	got, err = codec.decode("groceries", codec.encode("groceries", nil))
	require.NoError(t, err)
	assert.Empty(t, got)
}

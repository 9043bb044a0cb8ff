package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// errBadCursor is the error for a cursor this service did not make for this
// list: altered, truncated, made with another key, or from another list.
var errBadCursor = errors.New("invalid cursor")

// cursorVersion is the first byte of every cursor, so that the format can
// change without old cursors being misread.
const cursorVersion = 1

// cursorCodec turns a Cassandra page state into the cursor a client sees in
// a URL, and back. A cursor is base64url of the version, the page state and
// an HMAC-SHA256 of both and of the list it belongs to: the client can
// neither forge one nor point one at another list. It is signed, not
// encrypted: the page state holds the list's name and the last row's key,
// both of which the client has seen already.
type cursorCodec struct {
	key []byte
}

// encode returns the cursor for page state state of list.
func (c cursorCodec) encode(list string, state []byte) string {
	b := make([]byte, 0, 1+len(state)+sha256.Size)
	b = append(b, cursorVersion)
	b = append(b, state...)
	b = append(b, c.mac(list, state)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decode returns the page state of cursor, or errBadCursor if the cursor
// was not made by encode, with this key, for list.
func (c cursorCodec) decode(list, cursor string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) < 1+sha256.Size || b[0] != cursorVersion {
		return nil, errBadCursor
	}
	state, sum := b[1:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if !hmac.Equal(sum, c.mac(list, state)) { // constant time
		return nil, errBadCursor
	}
	return state, nil
}

// mac signs the version, list and state; the list's length comes first so
// that no other (list, state) pair gives the same bytes.
func (c cursorCodec) mac(list string, state []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte{cursorVersion})
	h.Write(binary.AppendUvarint(nil, uint64(len(list))))
	h.Write([]byte(list))
	h.Write(state)
	return h.Sum(nil)
}

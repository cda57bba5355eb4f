package strictjson

import (
	"encoding/json"
	"io"
	"unicode/utf8"
)

// tokens is what the walk reads JSON with: encoding/json's Decoder, or
// validTokens for input already known to be valid.
type tokens interface {
	Token() (json.Token, error)
	More() bool
	InputOffset() int64
}

// validTokens reads the tokens of JSON that json.Valid accepted, as a
// Decoder with UseNumber would read them, without the Decoder's cost per
// token (most of what checking a small request body costs). Being valid,
// the input needs no grammar checked: the walk knows where it is.
type validTokens struct {
	raw []byte
	pos int // where the last token ended
}

func (v *validTokens) InputOffset() int64 { return int64(v.pos) }

// next returns the index of the next byte that is not whitespace or a
// separator.
func (v *validTokens) next() int {
	i := v.pos
	for i < len(v.raw) {
		switch v.raw[i] {
		case ' ', '\t', '\r', '\n', ',', ':':
			i++
		default:
			return i
		}
	}
	return i
}

func (v *validTokens) More() bool {
	i := v.pos
	for i < len(v.raw) && (v.raw[i] == ' ' || v.raw[i] == '\t' || v.raw[i] == '\r' || v.raw[i] == '\n') {
		i++
	}
	return i < len(v.raw) && v.raw[i] != ']' && v.raw[i] != '}'
}

func (v *validTokens) Token() (json.Token, error) {
	i := v.next()
	if i >= len(v.raw) {
		v.pos = i
		return nil, io.EOF
	}
	switch c := v.raw[i]; c {
	case '{', '}', '[', ']':
		v.pos = i + 1
		return json.Delim(c), nil
	case 't':
		v.pos = i + len("true")
		return true, nil
	case 'f':
		v.pos = i + len("false")
		return false, nil
	case 'n':
		v.pos = i + len("null")
		return nil, nil
	case '"':
		return v.str(i)
	}
	j := i + 1
	for j < len(v.raw) && isNumberByte(v.raw[j]) {
		j++
	}
	v.pos = j
	return json.Number(v.raw[i:j]), nil
}

// str reads the string that starts at i.
func (v *validTokens) str(i int) (json.Token, error) {
	plain := true
	j := i + 1
	for ; v.raw[j] != '"'; j++ {
		if v.raw[j] == '\\' {
			plain = false
			j++ // the escaped byte cannot end the string
		}
	}
	v.pos = j + 1
	body := v.raw[i+1 : j]
	if plain {
		// A field's name (most keys) is handed out as made once.
		if known := keyTokens.Load(); known != nil {
			if tok, ok := (*known)[string(body)]; ok {
				return tok, nil
			}
		}
	}
	if plain && utf8.Valid(body) {
		return string(body), nil
	}
	// Escapes, or bytes that are not UTF-8 (which encoding/json reads as
	// U+FFFD): as encoding/json unquotes them.
	var s string
	if err := json.Unmarshal(v.raw[i:j+1], &s); err != nil {
		return nil, err
	}
	return s, nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

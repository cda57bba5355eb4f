package strictjson

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
)

// JSONType is the JSON type a Go type is written as.
type JSONType int

// The JSON types.
const (
	KindOther JSONType = iota
	KindString
	KindBool
	KindInteger
	KindNumber
	KindArray
	KindObject
)

// KindOf is the JSON kind a value of Go type t (pointers followed) is
// written as.
func KindOf(t reflect.Type) JSONType {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return KindString
	case reflect.Bool:
		return KindBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return KindInteger
	case reflect.Float32, reflect.Float64:
		return KindNumber
	case reflect.Slice, reflect.Array:
		return KindArray
	case reflect.Map, reflect.Struct:
		return KindObject
	}
	return KindOther
}

// typeNames are the words configuration messages use for each kind.
var typeNames = map[JSONType]string{
	KindString: "a string", KindBool: "true or false", KindInteger: "a whole number",
	KindNumber: "a number", KindArray: "a list", KindObject: "a mapping",
}

// TypeName says in a few words what JSON a value of Go type t is written as:
// "a string", "true or false", "a whole number", "a number", "a list", "a
// mapping", else the type's name.
func TypeName(t reflect.Type) string {
	if name, ok := typeNames[KindOf(t)]; ok {
		return name
	}
	return t.String()
}

func intRange(t reflect.Type) (lo, hi int64) {
	bits := t.Bits()
	return -1 << (bits - 1), 1<<(bits-1) - 1
}

func uintMax(t reflect.Type) uint64 {
	return math.MaxUint64 >> (64 - t.Bits())
}

// isInteger reports whether a JSON number is written as a whole number
// (without a fraction or an exponent), however large.
func isInteger(s string) bool {
	return !strings.ContainsAny(s, ".eE")
}

// isNumber reports whether s is a JSON number, as a json.Number held in a
// string must be.
func isNumber(s string) bool {
	return s != "" && (s[0] == '-' || '0' <= s[0] && s[0] <= '9') && json.Valid([]byte(s))
}

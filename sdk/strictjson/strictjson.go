// Package strictjson checks JSON against the Go type it is to be decoded
// into, more strictly than encoding/json decodes it, and says what is wrong
// and where. It serves the host's configuration (read from YAML and turned
// into JSON), the plugin configuration (sdk.DecodeConfig), the bodies of
// HTTP requests and the arguments of catalogue signals alike, and its
// Problem is the one "problem at a path" type of all of them (sdk.FieldError
// and the host's config.Problem are the same type). A Problem's Message is
// worded for a configuration's reader; other readers word the problem from
// its Kind and details.
//
// encoding/json alone cannot do this: it reports only the first type
// mismatch, names it by struct field names without map keys or list
// indexes, ignores unknown fields or stops at the first one, lets the last
// of a repeated key win and matches keys to fields without regard to case.
// A proxy or WAF that read a body differently (the first "password", say)
// would then disagree with the host about what was sent.
//
// Check walks the JSON token by token, so that it sees repeated keys, and
// judges each value as encoding/json would decode it into the type: the
// names of struct fields (tags, promoted fields of embedded structs, a
// shallower field hiding a deeper one), integer ranges, fractions, base64
// for []byte, encoding.TextUnmarshaler, json.Number, `json:",string"`
// fields. A json.Unmarshaler, a json.RawMessage and an interface take any
// value (only repeated keys are looked for inside), and null is accepted
// everywhere, as encoding/json accepts it: what the walk cannot judge is for
// the decoding that follows to report.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what sort of problem a Problem is. It is zero for a problem that
// no check of this package found: a rule of the reader's own (a value out of
// range for the setting, a name given twice), already worded in Message.
type Kind int

// The kinds of problem.
const (
	// Empty: there is no value at all, only whitespace.
	Empty Kind = iota + 1
	// Syntax: the JSON is not valid. Nothing after the error is looked at.
	Syntax
	// Trailing: something other than whitespace follows the value.
	Trailing
	// Duplicate: a key is given twice in one object. encoding/json would
	// let the last one win.
	Duplicate
	// WrongCase: a key of a struct is one of its fields' JSON names only
	// without regard to case ("Password" for "password"). encoding/json
	// would take it for the field.
	WrongCase
	// Unknown: a key of a struct names none of its fields.
	Unknown
	// WrongType: a value is of the wrong JSON type (a string for a number,
	// an array for a struct).
	WrongType
	// Invalid: a value is of the right JSON type but the Go type cannot
	// hold it: a number out of range or with a fraction, a string that is
	// not base64 or that an encoding.TextUnmarshaler refuses, a map key that
	// is not one, too many items for an array, a badly quoted
	// `json:",string"` value.
	Invalid
)

var kindNames = [...]string{Empty: "empty", Syntax: "syntax", Trailing: "trailing", Duplicate: "duplicate",
	WrongCase: "wrong case", Unknown: "unknown", WrongType: "wrong type", Invalid: "invalid"}

func (k Kind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Problem is one thing wrong at a path: in a configuration, a request body,
// a signal's arguments. Only Path and Message cross the wire between host
// and plugin; the other fields are for a reader that words the problem its
// own way.
type Problem struct {
	// Path is where: dotted keys and [i] indexes ("servers[1].port"), ""
	// for the value as a whole (and for Empty, Syntax and Trailing).
	Path string
	// Message says what, without the path, for a configuration's reader:
	// "unknown key (known: a, b)", "given twice", "must be a whole number,
	// not a string". For Empty, Syntax and Trailing it is encoding/json's
	// own message ("unexpected end of JSON input", "invalid character 'x'
	// after top-level value").
	Message string
	Kind    Kind
	// Offset is where in the input the key or value the problem is about
	// begins (for Syntax, where the error was found): the problem with the
	// smallest Offset is the first a reader of the JSON comes to.
	Offset int64

	// Type is, for WrongType and Invalid, the Go type the value is for,
	// without pointers (for an Invalid map key, the key's type).
	Type reflect.Type
	// Got is, for WrongType, the JSON type of the value given: "bool",
	// "number", "string", "array" or "object".
	Got string
	// ParentKind is what holds the value of a WrongType or Invalid
	// problem: reflect.Struct for a field, reflect.Map for a map's value,
	// reflect.Slice or reflect.Array for an item, reflect.Invalid for the
	// whole value. Parent is its path.
	ParentKind reflect.Kind
	Parent     string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Check checks that raw holds exactly one JSON value that decodes into a
// value of type t as it is written, and returns every problem found, or
// none. A nil t takes any value: then only the syntax, trailing data and
// repeated keys are checked.
//
// The problems come in a stable order: a problem with the input as a whole
// (Empty, Syntax or Trailing) first, then the problems inside the value,
// the members of each object in key order (repeated keys in the order
// given) and the items of each list in index order, the problems of an
// object, list or key before those inside it. After a syntax error, the
// problems found before it are reported too.
func Check(raw []byte, t reflect.Type) []Problem {
	if json.Valid(raw) {
		return check(raw, t, &validTokens{raw: raw})
	}
	// Invalid input is read by encoding/json's Decoder, which finds where
	// it goes wrong; the problems before that are reported too.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	return check(raw, t, dec)
}

// check is Check, reading raw with dec.
func check(raw []byte, t reflect.Type, dec tokens) []Problem {
	w := &walker{raw: raw, dec: dec}
	off := w.offset()
	tok, err := w.dec.Token()
	if errors.Is(err, io.EOF) {
		return []Problem{{Kind: Empty, Message: "unexpected end of JSON input", Offset: int64(len(raw))}}
	}
	var problems []Problem
	if err != nil {
		w.fail(err)
	} else {
		problems = w.value(tok, off, t, place{})
	}
	if w.stop != nil {
		return append([]Problem{*w.stop}, problems...)
	}
	// Only whitespace may follow the value.
	end := w.dec.InputOffset()
	if rest := bytes.TrimLeft(raw[end:], " \t\r\n"); len(rest) > 0 {
		msg := fmt.Sprintf("invalid character %q after top-level value", rest[0])
		if err := json.Unmarshal(raw, new(json.RawMessage)); err != nil {
			msg = err.Error() // the same, as encoding/json words it
		}
		trailing := Problem{Kind: Trailing, Message: msg, Offset: int64(len(raw) - len(rest))}
		problems = append([]Problem{trailing}, problems...)
	}
	return problems
}

// maxDepth is how deeply encoding/json lets objects and arrays nest.
const maxDepth = 10000

// walker is Check's walk.
type walker struct {
	raw   []byte
	dec   tokens
	depth int
	// stop is the syntax error that ended the walk.
	stop *Problem
}

// offset returns where the next token begins.
func (w *walker) offset() int64 {
	i := w.dec.InputOffset()
	for i < int64(len(w.raw)) && strings.IndexByte(" \t\r\n,:", w.raw[i]) >= 0 {
		i++
	}
	return i
}

// token returns the next token, or false once the walk has stopped.
func (w *walker) token() (json.Token, bool) {
	if w.stop != nil {
		return nil, false
	}
	tok, err := w.dec.Token()
	if err != nil {
		w.fail(err)
		return nil, false
	}
	return tok, true
}

// fail stops the walk at a syntax error, worded as encoding/json words it
// for the whole input ("unexpected end of JSON input" rather than the
// Decoder's "unexpected EOF").
func (w *walker) fail(err error) {
	p := Problem{Kind: Syntax, Message: strings.TrimPrefix(err.Error(), "json: "), Offset: w.dec.InputOffset()}
	var syntax *json.SyntaxError
	if errors.As(json.Unmarshal(w.raw, new(json.RawMessage)), &syntax) {
		p.Message, p.Offset = syntax.Error(), syntax.Offset
	}
	w.stop = &p
}

// enter counts an object or array opened, refusing them past maxDepth.
func (w *walker) enter() bool {
	w.depth++
	if w.depth > maxDepth {
		w.fail(errors.New("exceeded max depth"))
		return false
	}
	return true
}

// place is where a value sits.
type place struct {
	path       string
	parent     string
	parentKind reflect.Kind
}

func (at place) problem(kind Kind, off int64, t reflect.Type, format string, args ...any) Problem {
	return Problem{Path: at.path, Kind: kind, Message: fmt.Sprintf(format, args...), Offset: off,
		Type: t, ParentKind: at.parentKind, Parent: at.parent}
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	numberType      = reflect.TypeFor[json.Number]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// implements reports whether a value of type t, addressable as encoding/json
// makes it, has the method set of iface.
func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface))
}

// value checks the value that begins with tok, at off, against t (nil: any
// value), reading the rest of it.
func (w *walker) value(tok json.Token, off int64, t reflect.Type, at place) []Problem {
	if tok == nil {
		return nil // null leaves a value as it is, or sets it to nil
	}
	for t != nil && t.Kind() == reflect.Pointer {
		if t.Implements(jsonUnmarshaler) {
			t = nil
			break
		}
		t = t.Elem()
	}
	if t != nil && (implements(t, jsonUnmarshaler) || t.Kind() == reflect.Interface) {
		// Anything goes: a json.Unmarshaler judges for itself, an empty
		// interface takes anything and a non-empty one is for Unmarshal to
		// judge.
		t = nil
	}
	if t == nil {
		return w.skip(tok, at.path)
	}
	wrong := func(format string) []Problem {
		p := at.problem(WrongType, off, t, format, gotWords[tokenKind(tok)])
		p.Got = tokenKind(tok)
		return append([]Problem{p}, w.skip(tok, at.path)...)
	}
	invalid := func(format string, args ...any) []Problem {
		return []Problem{at.problem(Invalid, off, t, format, args...)}
	}
	if implements(t, textUnmarshaler) {
		s, ok := tok.(string)
		if !ok {
			return wrong("must be a string, not %s")
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return invalid("%s", err)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if tok != json.Delim('{') {
			return wrong("must be a mapping, not %s")
		}
		return w.object(t, at.path)
	case reflect.Map:
		if tok != json.Delim('{') {
			return wrong("must be a mapping, not %s")
		}
		return w.mapObject(t, at.path)
	case reflect.Slice, reflect.Array:
		if s, ok := tok.(string); ok && t.Kind() == reflect.Slice && isBytes(t) {
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return invalid("must be %s, not a string that is not base64", describe(t))
			}
			return nil
		}
		if tok != json.Delim('[') {
			return wrong("must be " + describe(t) + ", not %s")
		}
		limit := -1
		if t.Kind() == reflect.Array {
			limit = t.Len()
		}
		problems, n := w.array(t.Elem(), limit, at.path, t.Kind())
		if limit >= 0 && n > limit {
			// encoding/json would drop the extra items silently.
			problems = append(invalid("must be a list of at most %d items, not %d", limit, n), problems...)
		}
		return problems
	case reflect.String:
		if t == numberType {
			switch n := tok.(type) {
			case json.Number:
			case string:
				if !isNumber(n) {
					return invalid("must be a number, not string %q", n)
				}
			default:
				return wrong("must be a number, not %s")
			}
			return nil
		}
		if _, ok := tok.(string); !ok {
			return wrong("must be a string, not %s")
		}
	case reflect.Bool:
		if _, ok := tok.(bool); !ok {
			return wrong("must be true or false, not %s")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong("must be " + describe(t) + ", not %s")
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		switch {
		case err == nil && !reflect.Zero(t).OverflowInt(i):
		case isInteger(n.String()):
			lo, hi := intRange(t)
			return invalid("must be a whole number from %d to %d, not %s", lo, hi, n)
		default:
			return invalid("must be %s, not number %s", describe(t), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong("must be " + describe(t) + ", not %s")
		}
		u, err := strconv.ParseUint(n.String(), 10, 64)
		switch {
		case err == nil && !reflect.Zero(t).OverflowUint(u):
		case isInteger(n.String()):
			return invalid("must be a whole number from 0 to %d, not %s", uintMax(t), n)
		default:
			return invalid("must be %s, not number %s", describe(t), n)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := tok.(json.Number)
		if !ok {
			return wrong("must be a number, not %s")
		}
		if _, err := strconv.ParseFloat(n.String(), t.Bits()); err != nil {
			return invalid("must be a number within the range of a %d-bit float, not %s", t.Bits(), n)
		}
	default:
		// Complex numbers, channels, functions: Unmarshal refuses them
		// with a type error of its own.
		return w.skip(tok, at.path)
	}
	return nil
}

// isBytes reports whether encoding/json takes a base64 string for slice
// type t.
func isBytes(t reflect.Type) bool {
	e := t.Elem()
	return e.Kind() == reflect.Uint8 && !implements(e, jsonUnmarshaler) && !implements(e, textUnmarshaler)
}

// skip reads the rest of the value that begins with tok, taking any value
// and looking only for repeated keys.
func (w *walker) skip(tok json.Token, path string) []Problem {
	switch tok {
	case json.Delim('{'):
		return w.members(path, func(key string, _ int64) []Problem {
			sub := joinPath(path, key)
			off := w.offset()
			tok, ok := w.token()
			if !ok {
				return nil
			}
			return w.value(tok, off, nil, place{path: sub})
		})
	case json.Delim('['):
		problems, _ := w.array(nil, -1, path, reflect.Slice)
		return problems
	}
	return nil
}

// object checks the members of an object, its '{' read, against struct t.
func (w *walker) object(t reflect.Type, path string) []Problem {
	fields := fieldsOf(t)
	return w.members(path, func(key string, keyOff int64) []Problem {
		sub := joinPath(path, key)
		var problems []Problem
		f, known := fields.byName[key]
		if !known {
			kind := Unknown
			if slices.ContainsFunc(fields.names, func(name string) bool { return strings.EqualFold(name, key) }) {
				kind = WrongCase
			}
			problems = append(problems, Problem{Path: sub, Kind: kind, Message: fields.unknown, Offset: keyOff})
		}
		off := w.offset()
		tok, ok := w.token()
		if !ok {
			return problems
		}
		at := place{path: sub, parent: path, parentKind: reflect.Struct}
		switch {
		case !known:
			return append(problems, w.skip(tok, sub)...)
		case f.quoted:
			return append(problems, w.quoted(tok, off, f.typ, at)...)
		}
		return append(problems, w.value(tok, off, f.typ, at)...)
	})
}

// quoted checks the value of a field tagged `json:",string"`: a string
// holding the JSON of the value.
func (w *walker) quoted(tok json.Token, off int64, t reflect.Type, at place) []Problem {
	if tok == nil {
		return nil
	}
	s, ok := tok.(string)
	if !ok {
		p := at.problem(WrongType, off, deref(t), "must be a string holding %s, not %s", describe(t), gotWords[tokenKind(tok)])
		p.Got = tokenKind(tok)
		return append([]Problem{p}, w.skip(tok, at.path)...)
	}
	if len(Check([]byte(s), t)) > 0 {
		return []Problem{at.problem(Invalid, off, deref(t), "must be a string holding %s, not %q", describe(t), s)}
	}
	return nil
}

// mapObject checks the members of an object, its '{' read, against map
// type t.
func (w *walker) mapObject(t reflect.Type, path string) []Problem {
	return w.members(path, func(key string, keyOff int64) []Problem {
		sub := joinPath(path, key)
		off := w.offset()
		tok, ok := w.token()
		if !ok {
			return nil
		}
		at := place{path: sub, parent: path, parentKind: reflect.Map}
		if msg := checkKey(key, t.Key()); msg != "" {
			p := at.problem(Invalid, keyOff, t.Key(), "%s", msg)
			return append([]Problem{p}, w.skip(tok, sub)...)
		}
		return w.value(tok, off, t.Elem(), at)
	})
}

// members reads the members of an object, its '{' read, up to its '}':
// each key is checked for a repeat, then member reads and checks the value.
// The problems are ordered by key.
func (w *walker) members(path string, member func(key string, keyOff int64) []Problem) []Problem {
	if !w.enter() {
		return nil
	}
	defer func() { w.depth-- }()
	type keyed struct {
		key      string
		problems []Problem
	}
	var found []keyed
	seen := map[string]bool{}
	for w.stop == nil && w.dec.More() {
		keyOff := w.offset()
		tok, ok := w.token()
		if !ok {
			break
		}
		key, _ := tok.(string) // Token sees to it that keys are strings
		var problems []Problem
		if seen[key] {
			problems = append(problems, Problem{Path: joinPath(path, key), Kind: Duplicate, Message: "given twice", Offset: keyOff})
		}
		seen[key] = true
		problems = append(problems, member(key, keyOff)...)
		if len(problems) > 0 {
			found = append(found, keyed{key, problems})
		}
	}
	w.token() // '}'
	slices.SortStableFunc(found, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	var problems []Problem
	for _, k := range found {
		problems = append(problems, k.problems...)
	}
	return problems
}

// array checks the items of an array, its '[' read, up to its ']', against
// elem (nil: any value); items past limit (unless it is negative) take any
// value. It returns the problems and the number of items.
func (w *walker) array(elem reflect.Type, limit int, path string, kind reflect.Kind) ([]Problem, int) {
	if !w.enter() {
		return nil, 0
	}
	defer func() { w.depth-- }()
	var problems []Problem
	n := 0
	for ; w.stop == nil && w.dec.More(); n++ {
		off := w.offset()
		tok, ok := w.token()
		if !ok {
			break
		}
		t := elem
		if limit >= 0 && n >= limit {
			t = nil
		}
		at := place{path: path + "[" + strconv.Itoa(n) + "]", parent: path, parentKind: kind}
		problems = append(problems, w.value(tok, off, t, at)...)
	}
	w.token() // ']'
	return problems, n
}

// checkKey returns what is wrong with k as a key of type kt, or "".
func checkKey(k string, kt reflect.Type) string {
	if reflect.PointerTo(kt).Implements(textUnmarshaler) {
		if err := reflect.New(kt).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(k)); err != nil {
			return "is not a valid key: " + err.Error()
		}
		return ""
	}
	switch kt.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i, err := strconv.ParseInt(k, 10, 64); err != nil || reflect.Zero(kt).OverflowInt(i) {
			lo, hi := intRange(kt)
			return fmt.Sprintf("is not a valid key: keys must be whole numbers from %d to %d", lo, hi)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u, err := strconv.ParseUint(k, 10, 64); err != nil || reflect.Zero(kt).OverflowUint(u) {
			return fmt.Sprintf("is not a valid key: keys must be whole numbers from 0 to %d", uintMax(kt))
		}
	}
	// String keys take anything; other key types are refused by Unmarshal
	// itself.
	return ""
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// gotWords name the JSON types tokenKind gives for a configuration's
// reader.
var gotWords = map[string]string{"null": "null", "bool": "a boolean", "string": "a string",
	"number": "a number", "array": "a list", "object": "a mapping"}

// tokenKind names the JSON type of the value a token begins, as
// encoding/json's type errors do.
func tokenKind(tok json.Token) string {
	switch tok := tok.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case json.Number:
		return "number"
	case json.Delim:
		if tok == '[' {
			return "array"
		}
		return "object"
	}
	return fmt.Sprintf("%T", tok)
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// describe says what a value of type t must be, for a message.
func describe(t reflect.Type) string {
	t = deref(t)
	switch {
	case t == durationType:
		return "a whole number of nanoseconds"
	case t == numberType:
		return "a number"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "a base64-encoded string or a list of whole numbers from 0 to 255"
	}
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32:
		lo, hi := intRange(t)
		return fmt.Sprintf("a whole number from %d to %d", lo, hi)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("a whole number from 0 to %d", uintMax(t))
	case reflect.Interface:
		return "any value"
	}
	return TypeName(t)
}

package sdk

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// decodeStrict decodes raw into v and reports, in one *ConfigError, every
// unknown field and every value of the wrong type, at any depth, each at
// its exact path (dotted keys, [i] indexes) and in a stable order. v is
// only written when there is no problem.
//
// encoding/json alone cannot do this: it reports only the first type
// mismatch, names it by struct field names without map keys or list
// indexes, and ignores unknown fields or stops at the first one. So the
// JSON is first decoded generically and walked against v's type, as
// encoding/json would decode it; Unmarshal runs only once the walk found
// nothing.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	// Into a RawMessage, Unmarshal only checks the syntax (with its usual
	// messages) and leaves numbers as written, however large.
	if err := json.Unmarshal(raw, new(json.RawMessage)); err != nil {
		return &ConfigError{Problems: []FieldError{{Message: "not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	generic, err := decodeGeneric(raw)
	if err != nil { // unreachable: raw is valid JSON
		return &ConfigError{Problems: []FieldError{{Message: "not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		var c checker
		c.check(generic, t.Elem(), "")
		if len(c.problems) > 0 {
			return &ConfigError{Problems: c.problems}
		}
	}
	// What the walk cannot judge (a json.Unmarshaler's own rules, say),
	// Unmarshal still reports.
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, v); errors.As(err, &typeErr) {
		return &ConfigError{Problems: []FieldError{{Path: typeErr.Field, Message: fmt.Sprintf("must be %s, not %s", typeName(typeErr.Type), typeErr.Value)}}}
	} else if err != nil {
		return &ConfigError{Problems: []FieldError{{Message: strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	return nil
}

// decodeGeneric decodes one JSON value into nil, bool, string, json.Number,
// []any and map[string]any, keeping numbers as written.
func decodeGeneric(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	numberType      = reflect.TypeFor[json.Number]()
	durationType    = reflect.TypeFor[time.Duration]()
)

// checker walks a generic JSON value against the Go type it will be
// decoded into, collecting problems.
type checker struct {
	problems []FieldError
}

func (c *checker) fail(path, format string, args ...any) {
	c.problems = append(c.problems, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

// implements reports whether a value of type t, addressable as encoding/json
// makes it, has the method set of iface.
func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface))
}

// check checks value (from decodeGeneric) against t at path.
func (c *checker) check(value any, t reflect.Type, path string) {
	if value == nil {
		return // null leaves a value as it is, or sets it to nil
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(jsonUnmarshaler) {
			return
		}
		t = t.Elem()
	}
	switch {
	case implements(t, jsonUnmarshaler):
		return // anything goes; Unmarshal lets the type judge
	case implements(t, textUnmarshaler):
		s, ok := value.(string)
		if !ok {
			c.fail(path, "must be a string, not %s", jsonKind(value))
			return
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			c.fail(path, "%s", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		// An empty interface takes anything; a non-empty one is for
		// Unmarshal to judge.
	case reflect.Struct:
		c.checkStruct(value, t, path)
	case reflect.Map:
		c.checkMap(value, t, path)
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !implements(t.Elem(), jsonUnmarshaler) && !implements(t.Elem(), textUnmarshaler) {
			if s, ok := value.(string); ok {
				if _, err := base64.StdEncoding.DecodeString(s); err != nil {
					c.fail(path, "must be %s, not a string that is not base64", describe(t))
				}
				return
			}
		}
		list, ok := value.([]any)
		if !ok {
			c.fail(path, "must be %s, not %s", describe(t), jsonKind(value))
			return
		}
		for i, e := range list {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Array:
		list, ok := value.([]any)
		if !ok {
			c.fail(path, "must be %s, not %s", describe(t), jsonKind(value))
			return
		}
		if len(list) > t.Len() {
			// encoding/json would drop the extra items silently.
			c.fail(path, "must be a list of at most %d items, not %d", t.Len(), len(list))
		}
		for i, e := range list[:min(len(list), t.Len())] {
			c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.String:
		if t == numberType {
			switch n := value.(type) {
			case json.Number:
			case string:
				if !isNumber(n) {
					c.fail(path, "must be a number, not string %q", n)
				}
			default:
				c.fail(path, "must be a number, not %s", jsonKind(value))
			}
			return
		}
		if _, ok := value.(string); !ok {
			c.fail(path, "must be a string, not %s", jsonKind(value))
		}
	case reflect.Bool:
		if _, ok := value.(bool); !ok {
			c.fail(path, "must be true or false, not %s", jsonKind(value))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := value.(json.Number)
		if !ok {
			c.fail(path, "must be %s, not %s", describe(t), jsonKind(value))
			return
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		switch {
		case err == nil && !reflect.Zero(t).OverflowInt(i):
		case isInteger(n.String()):
			lo, hi := intRange(t)
			c.fail(path, "must be a whole number from %d to %d, not %s", lo, hi, n)
		default:
			c.fail(path, "must be %s, not number %s", describe(t), n)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := value.(json.Number)
		if !ok {
			c.fail(path, "must be %s, not %s", describe(t), jsonKind(value))
			return
		}
		u, err := strconv.ParseUint(n.String(), 10, 64)
		switch {
		case err == nil && !reflect.Zero(t).OverflowUint(u):
		case isInteger(n.String()):
			c.fail(path, "must be a whole number from 0 to %d, not %s", uintMax(t), n)
		default:
			c.fail(path, "must be %s, not number %s", describe(t), n)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := value.(json.Number)
		if !ok {
			c.fail(path, "must be a number, not %s", jsonKind(value))
			return
		}
		if _, err := strconv.ParseFloat(n.String(), t.Bits()); err != nil {
			c.fail(path, "must be a number within the range of a %d-bit float, not %s", t.Bits(), n)
		}
	default:
		// Complex numbers, channels, functions: Unmarshal refuses them
		// with a type error of its own.
	}
}

func (c *checker) checkStruct(value any, t reflect.Type, path string) {
	obj, ok := value.(map[string]any)
	if !ok {
		c.fail(path, "must be a mapping, not %s", jsonKind(value))
		return
	}
	fields := jsonFields(t)
	for _, k := range sortedKeys(obj) {
		sub := joinPath(path, k)
		f, ok := fields[k]
		switch {
		case !ok:
			c.fail(sub, "unknown field")
		case f.quoted:
			c.checkQuoted(obj[k], f.typ, sub)
		default:
			c.check(obj[k], f.typ, sub)
		}
	}
}

// checkQuoted checks the value of a field tagged `json:",string"`: a string
// holding the JSON of the value.
func (c *checker) checkQuoted(value any, t reflect.Type, path string) {
	if value == nil {
		return
	}
	s, ok := value.(string)
	if !ok {
		c.fail(path, "must be a string holding %s, not %s", describe(t), jsonKind(value))
		return
	}
	inner, err := decodeGeneric([]byte(s))
	if err == nil {
		switch inner.(type) {
		case map[string]any, []any:
			err = errors.New("not a single value")
		default:
			var sub checker
			sub.check(inner, t, path)
			if len(sub.problems) > 0 {
				err = errors.New("wrong type")
			}
		}
	}
	if err != nil || !json.Valid([]byte(s)) {
		c.fail(path, "must be a string holding %s, not %q", describe(t), s)
	}
}

func (c *checker) checkMap(value any, t reflect.Type, path string) {
	obj, ok := value.(map[string]any)
	if !ok {
		c.fail(path, "must be a mapping, not %s", jsonKind(value))
		return
	}
	kt := t.Key()
	for _, k := range sortedKeys(obj) {
		sub := joinPath(path, k)
		if msg := checkKey(k, kt); msg != "" {
			c.fail(sub, "%s", msg)
			continue
		}
		c.check(obj[k], t.Elem(), sub)
	}
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
	case reflect.String:
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
	// Other key types are refused by Unmarshal itself.
	return ""
}

// field is a struct field as encoding/json sees it.
type field struct {
	name   string
	typ    reflect.Type
	depth  int  // how many embedded structs deep
	tagged bool // named by a json tag
	quoted bool // `json:",string"`
}

// jsonFields maps the JSON names of t's fields to them, as encoding/json
// names them: the tag's name, else the Go name; the fields of an embedded
// struct without a tag name are promoted, a shallower field hiding a deeper
// one, and a name given twice at the same depth (neither or both tagged)
// naming no field at all.
func jsonFields(t reflect.Type) map[string]field {
	var all []field
	next := []reflect.Type{t}
	nextCount := map[reflect.Type]int{t: 1}
	visited := map[reflect.Type]bool{}
	for depth := 0; len(next) > 0; depth++ {
		current, count := next, nextCount
		next, nextCount = nil, map[reflect.Type]int{}
		for _, st := range current {
			if visited[st] {
				continue
			}
			visited[st] = true
			for i := range st.NumField() {
				sf := st.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !isValidTag(name) {
					name = ""
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					f := field{name: name, typ: sf.Type, depth: depth, tagged: name != ""}
					if f.name == "" {
						f.name = sf.Name
					}
					if slices.Contains(strings.Split(opts, ","), "string") {
						switch ft.Kind() {
						case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
							reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
							f.quoted = true
						}
					}
					all = append(all, f)
					if count[st] > 1 {
						// The struct is embedded more than once at this
						// depth: its fields collide with themselves.
						all = append(all, f)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, ft)
				}
			}
		}
	}
	byName := map[string][]field{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	m := make(map[string]field, len(byName))
	for name, fs := range byName {
		slices.SortStableFunc(fs, func(a, b field) int {
			if a.depth != b.depth {
				return a.depth - b.depth
			}
			switch {
			case a.tagged == b.tagged:
				return 0
			case a.tagged:
				return -1
			}
			return 1
		})
		if len(fs) > 1 && fs[0].depth == fs[1].depth && fs[0].tagged == fs[1].tagged {
			continue // ambiguous: encoding/json fills neither
		}
		m[name] = fs[0]
	}
	return m
}

// isValidTag is encoding/json's rule for a usable tag name.
func isValidTag(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonKind names the JSON type of a value from decodeGeneric, as
// encoding/json's type errors do.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "bool"
	case string:
		return "string"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// describe says what a value of type t must be, for a message.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
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
	return typeName(t)
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

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

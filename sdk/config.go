package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// decodeStrict decodes raw into v and reports, in one *ConfigError, every
// unknown field (at any depth) and the first value of the wrong type.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return &ConfigError{Problems: []FieldError{{Message: "not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	problems := unknownFields(generic, reflect.TypeOf(v), "")
	// Without DisallowUnknownFields, Unmarshal fills every field it can and
	// reports the first type mismatch.
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, v); errors.As(err, &typeErr) {
		problems = append(problems, FieldError{Path: typeErr.Field, Message: fmt.Sprintf("must be %s, not %s", typeName(typeErr.Type), typeErr.Value)})
	} else if err != nil {
		problems = append(problems, FieldError{Message: strings.TrimPrefix(err.Error(), "json: ")})
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}

// unknownFields lists the keys of value that t has no field for.
func unknownFields(value any, t reflect.Type, path string) []FieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []FieldError
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := value.(map[string]any)
		if !ok {
			return nil // a type error; Unmarshal reports it
		}
		fields := jsonFields(t)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub := joinPath(path, k)
			f, ok := fields[k]
			if !ok {
				out = append(out, FieldError{Path: sub, Message: "unknown field"})
				continue
			}
			out = append(out, unknownFields(obj[k], f, sub)...)
		}
	case reflect.Slice, reflect.Array:
		if list, ok := value.([]any); ok {
			for i, e := range list {
				out = append(out, unknownFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case reflect.Map:
		if obj, ok := value.(map[string]any); ok {
			for k, e := range obj {
				out = append(out, unknownFields(e, t.Elem(), joinPath(path, k))...)
			}
		}
	}
	return out
}

// jsonFields maps a struct's JSON names to field types, as encoding/json
// names them (tag name, else the Go name).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
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

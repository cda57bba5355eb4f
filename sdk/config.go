package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// decodeStrict decodes raw into v and reports, in one *ConfigError, every
// unknown field, repeated key and value of the wrong type, at any depth,
// each at its exact path (dotted keys, [i] indexes) and in a stable order
// (see strictjson.Check). v is only written when there is no problem.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	var target reflect.Type
	if t := reflect.TypeOf(v); t != nil && t.Kind() == reflect.Pointer {
		target = t.Elem()
	}
	if problems := strictjson.Check(raw, target); len(problems) > 0 {
		switch p := problems[0]; p.Kind {
		case strictjson.Empty, strictjson.Syntax, strictjson.Trailing:
			p.Message = "not valid JSON: " + p.Message
			return &ConfigError{Problems: []FieldError{p}}
		}
		return &ConfigError{Problems: problems}
	}
	// What the check cannot judge (a json.Unmarshaler's own rules, say),
	// Unmarshal still reports.
	var typeErr *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, v); errors.As(err, &typeErr) {
		return &ConfigError{Problems: []FieldError{{Path: typeErr.Field, Message: fmt.Sprintf("must be %s, not %s", strictjson.TypeName(typeErr.Type), typeErr.Value)}}}
	} else if err != nil {
		return &ConfigError{Problems: []FieldError{{Message: strings.TrimPrefix(err.Error(), "json: ")}}}
	}
	return nil
}

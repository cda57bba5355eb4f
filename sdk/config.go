package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// decodeStrict decodes raw into v and reports unknown fields and type
// mismatches as a *ConfigError.
func decodeStrict(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		return &ConfigError{Problems: []FieldError{{
			Path:    typeErr.Field,
			Message: "must be " + typeErr.Type.String() + ", not " + typeErr.Value,
		}}}
	}
	msg := err.Error()
	if field, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return &ConfigError{Problems: []FieldError{{Path: strings.Trim(field, `"`), Message: "unknown field"}}}
	}
	return &ConfigError{Problems: []FieldError{{Message: strings.TrimPrefix(msg, "json: ")}}}
}

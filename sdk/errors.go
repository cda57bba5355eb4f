package sdk

import (
	"github.com/portcullis-auth/portcullis/sdk/internal/errwire"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// Sentinel errors. They keep their identity across the wire: errors.Is works
// on an error that came from the other side.
var (
	// ErrNotFound: the user or storage key does not exist.
	ErrNotFound = errwire.ErrNotFound
	// ErrConflict: the value changed meanwhile (SetPasswordHash's old hash
	// no longer matches). A lost CompareAndSwap is not an error: it
	// returns false.
	ErrConflict = errwire.ErrConflict
	// ErrInvalidArgument: the request itself is malformed.
	ErrInvalidArgument = errwire.ErrInvalidArgument
	// ErrPermissionDenied: the plugin was not granted this service, or may
	// not send this signal.
	ErrPermissionDenied = errwire.ErrPermissionDenied
	// ErrUnavailable: the other side could not be reached or is down. On the
	// host this makes a login fail closed (503).
	ErrUnavailable = errwire.ErrUnavailable
	// ErrUnimplemented: the other side does not offer this call.
	ErrUnimplemented = errwire.ErrUnimplemented
)

// FieldError is one problem in a plugin's configuration, at a dotted path
// relative to the backend's `config:` section (e.g. "failure_limit"), with
// a message for the configuration's reader ("must be > 0"). Set Path and
// Message; they are what crosses the wire. It is the problem type of
// package strictjson, which DecodeConfig's problems come from.
type FieldError = strictjson.Problem

// ConfigError is returned by Configure to list every configuration problem at
// once. errors.Is(err, ErrInvalidArgument) holds for it.
type ConfigError = errwire.ConfigError

package mobiledevice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/strictjson"
)

// The admin commands (sdk.Admin) the plugin answers: the host's device
// endpoints and command line call them. Args are a JSON object; a
// malformed one, an unknown key or a bad value is sdk.ErrInvalidArgument.
const (
	// CommandRegister registers a device for a user, or reactivates an
	// inactive one of theirs. Args: user_id, username (required), name,
	// device_id, public_key, primary (default true), user_agent. Result:
	// {"device_id", "device_token" (a token device's, shown this once),
	// "primary", "reactivated", "key_type"}. An active device of that id,
	// or any device of that id of another user, is sdk.ErrConflict.
	CommandRegister = "device_register"
	// CommandAuthenticate checks a device's proof: its token in
	// AdminRequest.Secret with Args {"device_id"}, or a signed request's
	// signature with Args {"device_id", "nonce", "signature", "method",
	// "target", "body_sha256"}. Result: {"device_id", "user_id",
	// "username", "name"}. A proof that fails, for whatever reason, is
	// sdk.ErrPermissionDenied.
	CommandAuthenticate = "device_authenticate"
	// CommandNonce issues a nonce for a signed request of the device:
	// {"nonce", "expires_at"}. It is issued for any well-formed device id
	// and stores nothing.
	CommandNonce = "device_nonce"
	// CommandList lists the devices of a user (Args {"user_id"}), or every
	// device: {"devices": [...]}, by creation time.
	CommandList = "device_list"
	// CommandGet shows one device ({"device_id"}); sdk.ErrNotFound if
	// there is none.
	CommandGet = "device_get"
	// CommandRevoke revokes a device ({"device_id"}): {"revoked",
	// "user_id"}, revoked false if it was already inactive; sdk.ErrNotFound
	// if there is none.
	CommandRevoke = "device_revoke"
)

// Bounds of the arguments.
const (
	maxDeviceID  = 64
	maxName      = 100 // characters
	maxUserID    = 255 // bytes
	maxUsername  = 255 // bytes
	maxUserAgent = 256 // bytes, truncated
	defaultName  = "device"
)

// Admin implements sdk.Admin. Its Messages and errors never hold a
// token, a signature or a nonce.
func (p *Plugin) Admin(ctx context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	if err := p.ready(); err != nil {
		return err
	}
	var result any
	var err error
	switch req.Command {
	case CommandRegister:
		result, resp.Message, err = p.register(ctx, req.Args)
	case CommandAuthenticate:
		result, resp.Message, err = p.authenticateCommand(ctx, req.Args, req.Secret)
	case CommandNonce:
		result, resp.Message, err = p.nonce(ctx, req.Args)
	case CommandList:
		result, resp.Message, err = p.list(ctx, req.Args)
	case CommandGet:
		result, resp.Message, err = p.get(ctx, req.Args)
	case CommandRevoke:
		result, resp.Message, err = p.revoke(ctx, req.Args)
	default:
		return fmt.Errorf("%w: the mobiledevice backend has no command %q", sdk.ErrUnimplemented, req.Command)
	}
	if err != nil {
		resp.Message = ""
		return err
	}
	resp.Result, err = json.Marshal(result)
	return err
}

// decodeArgs decodes a command's Args strictly into v (a pointer to a
// struct): an unknown or repeated key, a value of the wrong type or
// anything but one JSON object is sdk.ErrInvalidArgument, every problem
// named at its key. Missing Args, or null, are {}.
func decodeArgs(command string, raw json.RawMessage, v any) error {
	if trimmed := bytes.TrimSpace(raw); len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		raw = json.RawMessage("{}")
	}
	if problems := strictjson.Check(raw, reflect.TypeOf(v).Elem()); len(problems) > 0 {
		parts := make([]string, len(problems))
		for i, pr := range problems {
			parts[i] = pr.String()
		}
		return fmt.Errorf("%w: the arguments of %s: %s", sdk.ErrInvalidArgument, command, strings.Join(parts, "; "))
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: the arguments of %s must be a JSON object", sdk.ErrInvalidArgument, command)
	}
	return nil
}

// invalid is an sdk.ErrInvalidArgument saying what is wrong.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sdk.ErrInvalidArgument}, args...)...)
}

// validDeviceID reports whether id is 1 to maxDeviceID characters of
// [A-Za-z0-9._-]: safe in a storage key, a URL path and a header.
func validDeviceID(id string) bool {
	if id == "" || len(id) > maxDeviceID {
		return false
	}
	for i := range len(id) {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// shownID is a device id as the log shows it: a malformed one, which
// may be anything a client sent, is not.
func shownID(id string) string {
	if validDeviceID(id) {
		return id
	}
	return "(malformed)"
}

// checkDeviceID refuses a device id that is missing or malformed.
func checkDeviceID(id string) error {
	if id == "" {
		return invalid("device_id is required")
	}
	if !validDeviceID(id) {
		return invalid("device_id must be 1 to %d characters of A-Z, a-z, 0-9, '.', '_' and '-'", maxDeviceID)
	}
	return nil
}

// plainText reports whether s is UTF-8 text without control characters.
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// checkUserID refuses a user id that is missing or not plain text of at
// most maxUserID bytes.
func checkUserID(id string) error {
	switch {
	case id == "":
		return invalid("user_id is required")
	case len(id) > maxUserID || !plainText(id):
		return invalid("user_id must be at most %d bytes of text without control characters", maxUserID)
	}
	return nil
}

// truncateText cuts s to at most n bytes, at a character's boundary,
// invalid UTF-8 replaced.
func truncateText(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

package sdk

import (
	"context"
	"encoding/json"
)

// Admin serves operator commands: the host's command line and admin API
// call it, so that an operator never needs to reach into a plugin's
// storage or code. A plugin answers ErrUnimplemented for a command it does
// not know.
type Admin interface {
	Admin(ctx context.Context, req *AdminRequest, resp *AdminResponse) error
}

// AdminRequest is one operator command.
type AdminRequest struct {
	// Command names the command, e.g. "hash_password".
	Command string
	// Args are the command's arguments as a JSON object ("{}" if none).
	Args json.RawMessage
	// Secret is a secret the command needs (a password): never log it.
	Secret string
}

// AdminResponse is a command's result.
type AdminResponse struct {
	// Result is the command's result as JSON, for programs.
	Result json.RawMessage
	// Message says what the command did, for people ("3 attempts removed.").
	Message string
}

// Package apikey is a Portcullis backend: a user logs in with the
// credential "api_key", checked against the SHA-256 sums in the backend's
// configuration. It is the example of docs/plugin-guide.md.
package apikey

import (
	"log/slog"

	"github.com/portcullis-auth/portcullis/sdk"
)

// SignalKeyUsed is sent when a login this backend granted has succeeded.
const SignalKeyUsed = "apikey.key_used"

// Backend is the API-key backend. Create it with New; it is ready after
// Configure.
type Backend struct {
	cfg     Config
	users   sdk.Users
	signals sdk.Emitter
	log     *slog.Logger
}

// New returns an unconfigured backend.
func New() *Backend { return &Backend{log: sdk.Logger()} }

// Metadata implements sdk.Plugin.
func (b *Backend) Metadata() sdk.Metadata {
	return sdk.Metadata{
		Name:    "apikey",
		Version: "1.0.0",
		Emits:   []string{SignalKeyUsed},
	}
}

// The capabilities: the host learns them from the interfaces the value
// implements, and these lines make the compiler check them.
var (
	_ sdk.Plugin          = (*Backend)(nil)
	_ sdk.Authenticator   = (*Backend)(nil)
	_ sdk.OutcomeObserver = (*Backend)(nil)
	_ sdk.Admin           = (*Backend)(nil)
)

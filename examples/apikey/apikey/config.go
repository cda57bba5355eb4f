package apikey

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Config is the backend's `config:` section.
type Config struct {
	// Keys maps a username to the hex SHA-256 of each API key the user may
	// log in with: two while a key is being replaced.
	Keys map[string][]string `json:"keys"`
	// Revoked lists users whose keys must no longer work.
	Revoked []string `json:"revoked"`
}

var hexSHA256 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Configure implements sdk.Plugin.
func (b *Backend) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	var cfg Config
	if err := req.DecodeConfig(&cfg); err != nil {
		return err // a *sdk.ConfigError naming every unknown field and wrong type
	}
	var problems []sdk.FieldError
	for _, user := range slices.Sorted(maps.Keys(cfg.Keys)) {
		for i, sum := range cfg.Keys[user] {
			if !hexSHA256.MatchString(sum) {
				problems = append(problems, sdk.FieldError{
					Path:    fmt.Sprintf("keys.%s[%d]", user, i),
					Message: "must be 64 lower-case hex digits",
				})
			}
		}
	}
	if len(problems) > 0 {
		return &sdk.ConfigError{Problems: problems}
	}
	b.cfg, b.users, b.signals = cfg, req.Host.Users(), req.Host.Signals()
	return nil
}

// Package builtin lists the first-party plugins the portcullis binary can
// run as itself. The list is one literal map: adding a plugin means adding
// it here, nowhere else.
package builtin

import (
	"encoding/json"
	"sort"

	"github.com/portcullis-auth/portcullis/host/hostsvc"
	"github.com/portcullis-auth/portcullis/plugins/ldap"
	"github.com/portcullis-auth/portcullis/plugins/lockout"
	"github.com/portcullis-auth/portcullis/plugins/mobiledevice"
	"github.com/portcullis-auth/portcullis/plugins/oauth2"
	"github.com/portcullis-auth/portcullis/plugins/otp"
	"github.com/portcullis-auth/portcullis/plugins/password"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Plugin is one first-party plugin.
type Plugin struct {
	// New returns a fresh plugin value to Serve.
	New func() sdk.Plugin
	// CheckConfig validates a backend's config section without starting
	// the plugin; it returns a *sdk.ConfigError listing every problem.
	CheckConfig func(json.RawMessage) error
	// Warnings, if set, lists settings in a valid config section that work
	// but are likely mistakes.
	Warnings func(json.RawMessage) []string
	// Grants are the host services the plugin needs beyond what its
	// capabilities give it (see package hostsvc).
	Grants []string
}

// Plugins are the first-party plugins by name.
var Plugins = map[string]Plugin{
	// ldap checks passwords with binds to a directory and vouches for the
	// user itself (its subject is the directory's id, and its roles come
	// from the directory's groups), so it needs no grant.
	"ldap": {
		New: func() sdk.Plugin { return ldap.New() },
		CheckConfig: func(raw json.RawMessage) error {
			_, err := ldap.ParseConfig(raw)
			return err
		},
		Warnings: func(raw json.RawMessage) []string {
			s, err := ldap.ParseConfig(raw)
			if err != nil {
				return nil
			}
			return s.Warnings
		},
	},
	"lockout": {
		New: func() sdk.Plugin { return lockout.New() },
		CheckConfig: func(raw json.RawMessage) error {
			_, err := lockout.ParseConfig(raw)
			return err
		},
		Warnings: func(raw json.RawMessage) []string {
			s, err := lockout.ParseConfig(raw)
			if err != nil {
				return nil
			}
			return s.Warnings
		},
	},
	// mobiledevice looks users up only as an Authenticator, which needs
	// no grant: it never reads a password hash.
	"mobiledevice": {
		New: func() sdk.Plugin { return mobiledevice.New() },
		CheckConfig: func(raw json.RawMessage) error {
			_, err := mobiledevice.ParseConfig(raw)
			return err
		},
		Warnings: func(raw json.RawMessage) []string {
			s, err := mobiledevice.ParseConfig(raw)
			if err != nil {
				return nil
			}
			return s.Warnings
		},
	},
	// oauth2 signs users in at an external provider; the host maps the
	// identity to a user, so the plugin needs no grant.
	"oauth2": {
		New: func() sdk.Plugin { return oauth2.New() },
		CheckConfig: func(raw json.RawMessage) error {
			_, err := oauth2.ParseConfig(raw)
			return err
		},
		Warnings: func(raw json.RawMessage) []string {
			s, err := oauth2.ParseConfig(raw)
			if err != nil {
				return nil
			}
			return s.Warnings
		},
	},
	"otp": {
		New: func() sdk.Plugin { return otp.New() },
		CheckConfig: func(raw json.RawMessage) error {
			_, err := otp.ParseConfig(raw)
			return err
		},
		Warnings: func(raw json.RawMessage) []string {
			s, err := otp.ParseConfig(raw)
			if err != nil {
				return nil
			}
			return s.Warnings
		},
	},
	"password": {
		New:    func() sdk.Plugin { return password.New() },
		Grants: []string{hostsvc.GrantReadPasswordHashes, hostsvc.GrantWritePasswordHashes},
		CheckConfig: func(raw json.RawMessage) error {
			_, err := password.ParseConfig(raw)
			return err
		},
	},
}

// Names returns the first-party plugin names, sorted.
func Names() []string {
	names := make([]string, 0, len(Plugins))
	for n := range Plugins {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

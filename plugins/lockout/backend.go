package lockout

import (
	"context"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// Version is the plugin's version, reported in its metadata.
const Version = "2.0.0"

// Plugin is the lockout backend. Create it with New; its rule is ready
// after Configure.
type Plugin struct {
	settings *Settings
}

// New returns an unconfigured plugin.
func New() *Plugin { return &Plugin{} }

// Metadata implements sdk.Plugin.
func (p *Plugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "lockout", Version: Version}
}

// Configure implements sdk.Plugin.
func (p *Plugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	s, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	log := sdk.Logger()
	for _, w := range s.Warnings {
		log.Warn("lockout configuration: " + w)
	}
	p.settings = s
	return nil
}

// AttemptRule implements sdk.AttemptLimiter: the configuration, as the rule
// the host enforces.
func (p *Plugin) AttemptRule() attempts.Rule {
	if p.settings == nil {
		return attempts.Rule{}
	}
	return p.settings.Rule
}

// Interface guards.
var (
	_ sdk.Plugin         = (*Plugin)(nil)
	_ sdk.AttemptLimiter = (*Plugin)(nil)
)

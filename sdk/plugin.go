package sdk

import (
	"context"
	"encoding/json"
)

// ProtocolVersion is the version of the host/plugin wire protocol. A plugin
// built against a different version is refused at the handshake.
const ProtocolVersion = 1

// Plugin is implemented by every plugin.
type Plugin interface {
	// Metadata describes the plugin. It must not do I/O. The host calls it
	// after start, before Configure, to learn the capabilities (which must
	// not depend on configuration), and again after Configure to learn the
	// subscriptions (which may).
	Metadata() Metadata

	// Configure is called once, after Metadata and before any capability
	// method, with the backend's instance name and configuration. A bad
	// configuration is reported as a *ConfigError listing every problem;
	// the host then refuses to start.
	Configure(ctx context.Context, req *ConfigureRequest) error
}

// Capability names one capability interface a plugin implements.
type Capability string

// The capabilities a plugin can declare.
const (
	CapabilityAuthenticator               Capability = "authenticator"
	CapabilityRedirectAuthenticator       Capability = "redirect_authenticator"
	CapabilityAuthorizationRequestBackend Capability = "authorization_request_backend"
	CapabilitySignalReceiver              Capability = "signal_receiver"
)

// Metadata is what a plugin says about itself.
type Metadata struct {
	// Name is the plugin's name, e.g. "password".
	Name string
	// Version is the plugin's own version, for operators.
	Version string
	// Capabilities lists the capability interfaces the plugin implements.
	Capabilities []Capability
	// Subscriptions lists the signals the plugin receives; it needs
	// CapabilitySignalReceiver.
	Subscriptions []Subscription
}

// Has reports whether the metadata declares the capability.
func (m Metadata) Has(c Capability) bool {
	for _, have := range m.Capabilities {
		if have == c {
			return true
		}
	}
	return false
}

// Subscription selects signals by name and, optionally, by sender (an
// authorization request's slug such as "2FA"). An empty Sender receives
// every sender.
type Subscription struct {
	Signal string
	Sender string
	// IgnoreOwn skips the signals this plugin instance is the sender of: for
	// a backend, the login signals of logins it decided itself (it already
	// knows), which saves a round trip on that path.
	IgnoreOwn bool
}

// ConfigureRequest carries what a plugin instance needs to run.
type ConfigureRequest struct {
	// Instance is the backend's name in the host's configuration; one
	// plugin executable may run as several instances.
	Instance string
	// Config is the backend's `config:` section as JSON ("{}" when absent).
	Config json.RawMessage
	// Host gives access to the host's services. It stays valid for the life
	// of the plugin process.
	Host Host
}

// DecodeConfig decodes the configuration strictly into v. Every unknown
// field (including one that matches a field only without regard to case),
// every key given twice and every value of the wrong type, at any depth, is
// reported in one *ConfigError, each at its exact path; v is written only
// when there is no problem.
func (r *ConfigureRequest) DecodeConfig(v any) error {
	return decodeStrict(r.Config, v)
}

package sdk

import (
	"context"
	"encoding/json"

	"github.com/portcullis-auth/portcullis/sdk/internal/wire"
)

// ProtocolVersion is the version of the host/plugin wire protocol. A plugin
// built against a different version is refused at the handshake.
const ProtocolVersion = wire.ProtocolVersion

// Plugin is implemented by every plugin. What else a plugin can do is told
// by the capability interfaces its value implements (Authenticator,
// OutcomeObserver, AttemptLimiter, Admin, AuthorizationRequestBackend,
// SignalReceiver, and redirect.Authenticator of package sdk/redirect);
// Serve derives the plugin's capabilities from them, so they are never
// declared twice.
type Plugin interface {
	// Metadata describes the plugin. It must not do I/O. The host calls it
	// after start, before Configure, and again after Configure, to learn
	// the subscriptions (which may depend on the configuration; the signals
	// the plugin emits may not).
	Metadata() Metadata

	// Configure is called once, after Metadata and before any capability
	// method, with the backend's instance name and configuration. A bad
	// configuration is reported as a *ConfigError listing every problem;
	// the host then refuses to start.
	Configure(ctx context.Context, req *ConfigureRequest) error
}

// Metadata is what a plugin says about itself.
type Metadata struct {
	// Name is the plugin's name, e.g. "password".
	Name string
	// Version is the plugin's own version, for operators.
	Version string
	// Subscriptions lists the signals the plugin receives; the plugin must
	// implement SignalReceiver.
	Subscriptions []Subscription
	// Emits lists the signals the plugin may send with its Host's Emitter:
	// its own signal names (lower case, digits, _ and .) or catalogue
	// signals that plugins may send (package sdk/signals). The host refuses
	// any other, and every signal the host owns (logins, tokens, sessions,
	// lockouts, plugin_*) whatever a plugin declares.
	Emits []string
}

// Subscription selects signals by name and, optionally, by sender (an
// authorization request's slug such as "2FA"). An empty Sender receives
// every sender.
type Subscription struct {
	Signal string
	Sender string
}

// ConfigureRequest carries what a plugin instance needs to run.
type ConfigureRequest struct {
	// Instance is the backend's name in the host's configuration; one
	// plugin executable may run as several instances.
	Instance string
	// Config is the backend's `config:` section as JSON ("{}" when absent).
	Config json.RawMessage
	// Host gives access to the host's services. It stays valid for the life
	// of the plugin process. Which services answer depends on the plugin's
	// capabilities and on what the operator granted it (see Host).
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

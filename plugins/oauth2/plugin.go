package oauth2

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// Version is the plugin's version, reported in its metadata.
const Version = "1.0.0"

// The signals the plugin sends (package sdk/signals has their
// arguments).
const (
	SignalAuthorizeURLGenerated = "oauth2_authorize_url_generated"
	SignalTokenFetched          = "oauth2_token_fetched"
	SignalTokenFetchFailed      = "oauth2_token_fetch_failed"
	SignalTokenRefreshed        = "oauth2_token_refreshed"
	SignalTokenRefreshFailed    = "oauth2_token_refresh_failed"
)

// Plugin is the oauth2 backend. Create it with New; it is ready after
// Configure.
type Plugin struct {
	settings *Settings
	instance string
	host     sdk.Host
	log      *slog.Logger
	// client makes every call to the provider; each call is bounded by
	// the configured timeout through its context, not by the client.
	client *http.Client

	mu       sync.Mutex
	provider *provider // the discovered or configured provider, once known (provider.go)
}

// New returns an unconfigured plugin.
func New() *Plugin {
	return &Plugin{log: sdk.Logger(), client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
}

// Metadata implements sdk.Plugin.
func (p *Plugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "oauth2", Version: Version, Emits: []string{
		SignalAuthorizeURLGenerated, SignalTokenFetched, SignalTokenFetchFailed, SignalTokenRefreshed, SignalTokenRefreshFailed,
	}}
}

// Configure implements sdk.Plugin. It does no I/O: an issuer's discovery
// document and keys are fetched on first use, so that a provider that is
// down when the host starts does not stop it from starting.
func (p *Plugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	s, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		p.log.Warn("oauth2 configuration: " + w)
	}
	p.mu.Lock()
	p.provider = nil
	if !s.OIDC() {
		p.provider = explicitProvider(s)
	}
	p.mu.Unlock()
	p.settings, p.instance, p.host = &s, req.Instance, req.Host
	return nil
}

// ready refuses a call before Configure.
func (p *Plugin) ready() error {
	if p.settings == nil {
		return fmt.Errorf("%w: the oauth2 backend is not configured", sdk.ErrUnavailable)
	}
	return nil
}

// emit sends a signal. What it tells of has happened whether or not it is
// sent, so a signal that cannot be sent is logged, not returned.
func (p *Plugin) emit(ctx context.Context, name string, args any) {
	if _, err := p.host.Signals().Emit(ctx, name, args); err != nil {
		p.log.Warn("oauth2: a signal could not be sent", "backend", p.instance, "signal", name, "error", err)
	}
}

// Interface guards.
var (
	_ sdk.Plugin             = (*Plugin)(nil)
	_ redirect.Authenticator = (*Plugin)(nil)
)

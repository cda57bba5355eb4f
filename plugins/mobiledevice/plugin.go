package mobiledevice

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/plugins/internal/webhook"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Version is the plugin's version, reported in its metadata.
const Version = "1.0.0"

// The signals the plugin sends (package sdk/signals has their
// arguments).
const (
	SignalDeviceRegistered = "device_registered"
	SignalDeviceRevoked    = "device_revoked"
)

// Plugin is the mobiledevice backend. Create it with New; it is ready
// after Configure.
type Plugin struct {
	settings *Settings
	host     sdk.Host
	storage  sdk.Storage
	notify   *webhook.Sender // nil without notify.webhook
	log      *slog.Logger
	// random is where tokens and nonces come from: crypto/rand.
	random io.Reader
	// now is the clock of nonces, registrations and last uses.
	now func() time.Time

	mu        sync.Mutex
	storedKey []byte // the nonce key, once read (key.go)
}

// New returns an unconfigured plugin.
func New() *Plugin { return &Plugin{log: sdk.Logger(), random: rand.Reader, now: time.Now} }

// Metadata implements sdk.Plugin.
func (p *Plugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "mobiledevice", Version: Version, Emits: []string{SignalDeviceRegistered, SignalDeviceRevoked}}
}

// Configure implements sdk.Plugin. It does no I/O: the nonce key is read
// on first use.
func (p *Plugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	s, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		p.log.Warn("mobiledevice configuration: " + w)
	}
	if s.Webhook != "" {
		p.notify, err = webhook.New(s.Webhook, s.WebhookKey, webhook.Options{UserAgent: "portcullis-mobiledevice", IDPrefix: "dev_"})
		if err != nil {
			return err
		}
	}
	p.settings, p.host, p.storage = &s, req.Host, req.Host.Storage()
	return nil
}

// ready refuses a call before Configure.
func (p *Plugin) ready() error {
	if p.settings == nil {
		return fmt.Errorf("%w: the mobiledevice backend is not configured", sdk.ErrUnavailable)
	}
	return nil
}

// clock is now, in UTC to the millisecond, as records keep it.
func (p *Plugin) clock() time.Time { return p.now().UTC().Truncate(time.Millisecond) }

// emit sends a signal. The change it tells of is already stored, so a
// signal that cannot be sent is logged, not returned.
func (p *Plugin) emit(ctx context.Context, name string, args any) {
	if _, err := p.host.Signals().Emit(ctx, name, args); err != nil {
		p.log.Warn("mobiledevice: a signal could not be sent", "signal", name, "error", err)
	}
}

// Interface guards.
var (
	_ sdk.Plugin                      = (*Plugin)(nil)
	_ sdk.Admin                       = (*Plugin)(nil)
	_ sdk.Authenticator               = (*Plugin)(nil)
	_ sdk.AuthorizationRequestBackend = (*Plugin)(nil)
)

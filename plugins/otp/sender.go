package otp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/portcullis-auth/portcullis/plugins/internal/webhook"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
)

// sender delivers a code to the user a request is for.
type sender interface {
	// send returns once the code is delivered, or with an error that
	// holds neither the code nor a secret.
	send(ctx context.Context, req *authreq.Request, code string) error
	// kind names the delivery in Challenge.Delivery.
	kind() string
}

// Delivery is the JSON body the webhook sender POSTs: the request, and
// the code to show or send to its user.
type Delivery struct {
	ID          string     `json:"id"`
	Slug        string     `json:"slug"`
	UserID      string     `json:"user_id"`
	Username    string     `json:"username"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Code        string     `json:"code"`
}

// webhookSender POSTs each code to the app's delivery service through
// the first-party plugins' webhook sender: signed with the Standard
// Webhooks scheme as the host's signal webhooks are, one webhook-id per
// delivery ("otp_" and 32 hex digits), retried a few times within the
// call's deadline, never redirected.
type webhookSender struct {
	hook *webhook.Sender
}

func newWebhookSender(rawURL string, key []byte) (*webhookSender, error) {
	hook, err := webhook.New(rawURL, key, webhook.Options{UserAgent: "portcullis-otp", IDPrefix: "otp_"})
	if err != nil {
		return nil, errors.New("otp: the webhook secret gives no key")
	}
	return &webhookSender{hook: hook}, nil
}

func (w *webhookSender) kind() string { return "webhook" }

func (w *webhookSender) send(ctx context.Context, req *authreq.Request, code string) error {
	d := Delivery{
		ID: req.ID, Slug: req.Slug, UserID: req.UserID, Username: req.Username,
		Title: req.Title, Description: req.Description, Code: code,
	}
	if !req.ExpiresAt.IsZero() {
		at := req.ExpiresAt.UTC()
		d.ExpiresAt = &at
	}
	body, err := json.Marshal(d)
	if err != nil {
		return errors.New("otp: encoding the delivery") // not err: it could quote the body
	}
	return w.hook.Send(ctx, body)
}

// DevelopmentWarning starts every line of the log sender: a code in the
// log is for development only.
const DevelopmentWarning = "WARNING: DEVELOPMENT ONLY, NEVER IN PRODUCTION: one-time code written to the log by sender.log"

// logSender writes each code to the plugin's log, loudly: development
// only (the configuration refuses it without development: true).
type logSender struct{ log *slog.Logger }

func (logSender) kind() string { return "log" }

func (l logSender) send(_ context.Context, req *authreq.Request, code string) error {
	l.log.Warn(DevelopmentWarning, "request_id", req.ID, "slug", req.Slug, "username", req.Username, "generation", req.Generation, "code", code)
	return nil
}

// Interface guards.
var (
	_ sender = (*webhookSender)(nil)
	_ sender = logSender{}
)

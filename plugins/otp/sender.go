package otp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/internal/redact"
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

// The webhook's retries: tries in all, the wait before the second, which
// doubles before each next one, and the time an attempt gets when the call
// has no deadline.
const (
	webhookTries        = 3
	webhookBackoff      = 200 * time.Millisecond
	webhookNoDeadline   = 10 * time.Second
	webhookMaxBodyDrain = 64 << 10
)

// webhookSender POSTs each code to the app's delivery service, signed with
// the Standard Webhooks scheme as the host's signal webhooks are:
// webhook-id is one delivery's, the same on each of its tries, so that the
// receiver can drop duplicates; webhook-timestamp is each try's time;
// webhook-signature is the HMAC of both and the body. Any 2xx answer is a
// delivery; redirects are not followed. A network error, a timeout, a 5xx,
// 408 or 429 is tried again, up to webhookTries in all within the call's
// deadline; another answer is final.
type webhookSender struct {
	url    string
	shown  string // the URL as errors show it, without credentials
	signer *standardwebhooks.Webhook
	client *http.Client
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) bool
}

func newWebhookSender(rawURL string, key []byte) (*webhookSender, error) {
	signer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, errors.New("otp: the webhook secret gives no key")
	}
	return &webhookSender{
		url:    rawURL,
		shown:  redact.URL(rawURL),
		signer: signer,
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:   time.Now,
		sleep: sleep,
	}, nil
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
	var id [16]byte
	_, _ = rand.Read(id[:])
	msgID := "otp_" + hex.EncodeToString(id[:])

	var last error
	tries := 0
	for tries < webhookTries {
		if tries > 0 && !w.sleep(ctx, webhookBackoff<<(tries-1)) {
			break
		}
		tries++
		retry, err := w.attempt(ctx, msgID, body, webhookTries-tries+1)
		if err == nil {
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("webhook POST %s: %w (%s)", w.shown, last, plural(tries, "try", "tries"))
}

// attempt makes one try, with a part of the time left: its share among
// the tries left. It reports whether a failure is worth another try.
func (w *webhookSender) attempt(ctx context.Context, msgID string, body []byte, triesLeft int) (retry bool, err error) {
	budget := webhookNoDeadline
	if deadline, ok := ctx.Deadline(); ok {
		budget = time.Until(deadline) / time.Duration(triesLeft)
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the request cannot be made") // not err, which may quote the URL
	}
	now := w.now()
	sig, err := w.signer.Sign(msgID, now, body)
	if err != nil {
		return false, errors.New("signing failed")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portcullis-otp")
	req.Header.Set(standardwebhooks.HeaderWebhookID, msgID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := w.client.Do(req)
	if err != nil {
		// net/http's error quotes the URL, credentials and query
		// included: keep only its cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return true, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookMaxBodyDrain))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		return false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("answered %s", resp.Status)
	}
	return false, fmt.Errorf("answered %s", resp.Status)
}

// sleep waits d, and reports false if ctx ends first or would end before.
func sleep(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
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

package signals

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/signals/webhooksig"
	"github.com/portcullis-auth/portcullis/internal/redact"
	"github.com/portcullis-auth/portcullis/sdk"
)

// HeaderSignal names the signal of a webhook delivery, so that a receiver
// can route it without parsing the body. It is not signed; the body's
// "name" is.
const HeaderSignal = "X-Portcullis-Signal"

// Webhook POSTs each signal as JSON to a URL, signed with the Standard
// Webhooks scheme (package webhooksig): webhook-id is the signal's id, the
// same on every retry, so that the receiver can drop the duplicates that
// at-least-once delivery can bring; webhook-timestamp is the time of each
// attempt; webhook-signature is the HMAC of both and the body, keyed with
// webhooksig.Key of the secret. Any 2xx answer is a delivery; redirects
// are not followed.
//
// The URL may carry credentials (user information, a token in the query):
// they are used for the request, and never appear in an error Receive
// returns, which names the URL as redact.URL shows it.
type Webhook struct {
	url string
	// shown is the URL as errors name it.
	shown string
	// key signs.
	key []byte
	// broken, if set, says why the URL or the secret cannot be used:
	// every Receive fails with it without sending anything.
	broken error
	// now is the clock of webhook-timestamp.
	now    func() time.Time
	client *http.Client
}

// NewWebhook returns a webhook subscriber. A URL that cannot be parsed, or
// a secret webhooksig.Key refuses, gives a webhook whose every Receive
// fails: configuration validation reports both before a host starts.
func NewWebhook(rawURL, secret string) *Webhook {
	w := &Webhook{
		shown: redact.URL(rawURL),
		now:   time.Now,
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	if _, err := url.Parse(rawURL); err != nil {
		// Not err: url.Parse's error quotes the whole URL.
		w.broken = errors.New("the URL cannot be parsed (it is not shown: it may hold credentials)")
		return w
	}
	w.url = rawURL
	w.key, w.broken = webhooksig.Key(secret)
	return w
}

// Receive implements sdk.SignalReceiver. It makes one attempt, signed at
// the time it is made.
func (w *Webhook) Receive(ctx context.Context, sig *sdk.Signal) error {
	if w.broken != nil {
		return fmt.Errorf("webhook: %w", w.broken)
	}
	// The id is signed between dots; the standard asks that it hold none.
	if sig.ID == "" || strings.ContainsAny(sig.ID, ". \r\n") {
		return fmt.Errorf("webhook: signal id %q cannot be a webhook-id", sig.ID)
	}
	body, err := encodeEnvelope(sig)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		// Not err, which may quote the URL.
		return fmt.Errorf("webhook: POST %s: the request cannot be made", w.shown)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portcullis-webhook")
	req.Header.Set(HeaderSignal, sig.Name)
	webhooksig.SetHeaders(req.Header, w.key, sig.ID, w.now(), body)
	resp, err := w.client.Do(req)
	if err != nil {
		// net/http's error quotes the URL, user information (password
		// starred) and query included: name it as shown instead.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("webhook: POST %s: %w", w.shown, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Interface guard.
var _ sdk.SignalReceiver = (*Webhook)(nil)

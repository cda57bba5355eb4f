package signals

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"

	"github.com/portcullis-auth/portcullis/sdk"
)

// Webhook headers.
const (
	HeaderSignature = "X-Portcullis-Signature"
	HeaderSignalID  = "X-Portcullis-Signal-Id"
	HeaderSignal    = "X-Portcullis-Signal"
)

// Webhook POSTs each signal as JSON to a URL. The body is signed:
// X-Portcullis-Signature is "sha256=" and the hex HMAC-SHA256 of the body
// keyed with the secret; X-Portcullis-Signal-Id lets the receiver drop the
// duplicates that at-least-once delivery can bring. Any 2xx answer is a
// delivery; redirects are not followed.
type Webhook struct {
	url    string
	secret []byte
	client *http.Client
}

// NewWebhook returns a webhook subscriber.
func NewWebhook(url, secret string) *Webhook {
	return &Webhook{
		url:    url,
		secret: []byte(secret),
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Sign returns the X-Portcullis-Signature value of body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Receive implements sdk.SignalReceiver.
func (w *Webhook) Receive(ctx context.Context, sig *sdk.Signal) error {
	body, err := encodeEnvelope(sig)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "portcullis-webhook")
	req.Header.Set(HeaderSignature, Sign(w.secret, body))
	req.Header.Set(HeaderSignalID, sig.ID)
	req.Header.Set(HeaderSignal, sig.Name)
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
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

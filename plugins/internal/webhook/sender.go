// Package webhook is the signed, retried webhook POST of the first-party
// plugins, and the rules of the configuration that names one (an http(s)
// URL and a secret). The otp plugin delivers codes with it; the
// mobiledevice plugin tells an app that a device has a request to answer.
//
// A delivery is signed with the Standard Webhooks scheme as the host's
// signal webhooks are (host/signals/webhooksig), with the same secret
// rules, so that a receiver verifies both with one library and one secret.
package webhook

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/portcullis-auth/portcullis/internal/redact"
)

// The retries: tries in all, the wait before the second, which doubles
// before each next one, and the time an attempt gets when the call has no
// deadline.
const (
	Tries        = 3
	Backoff      = 200 * time.Millisecond
	NoDeadline   = 10 * time.Second
	maxBodyDrain = 64 << 10
)

// Options are what tells one plugin's deliveries from another's.
type Options struct {
	// UserAgent is the User-Agent of every POST ("portcullis-otp").
	UserAgent string
	// IDPrefix starts each delivery's webhook-id ("otp_"), so that a
	// receiver of several plugins' webhooks can tell them apart.
	IDPrefix string
}

// Sender POSTs JSON bodies to one URL, signed with the Standard Webhooks
// scheme: webhook-id is one delivery's, the same on each of its tries, so
// that the receiver can drop duplicates; webhook-timestamp is each try's
// time; webhook-signature is the HMAC of both and the body. Any 2xx
// answer is a delivery; redirects are not followed, so that a signed body
// never goes where the operator did not send it. A network error, a
// timeout, a 5xx, 408 or 429 is tried again, up to Tries in all within the
// call's deadline; another answer is final. No error holds the URL's
// credentials or query, the secret or the body.
type Sender struct {
	url    string
	shown  string // the URL as errors show it, without credentials
	opts   Options
	signer *standardwebhooks.Webhook
	client *http.Client
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) bool
}

// New returns a Sender to rawURL (checked with Check beforehand) whose
// signatures are keyed with key (Key of the configured secret).
func New(rawURL string, key []byte, opts Options) (*Sender, error) {
	signer, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook: the secret gives no key")
	}
	return &Sender{
		url:    rawURL,
		shown:  redact.URL(rawURL),
		opts:   opts,
		signer: signer,
		client: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now:   time.Now,
		sleep: sleep,
	}, nil
}

// Shown is the URL as logs and errors show it: without user information
// or query.
func (s *Sender) Shown() string { return s.shown }

// Sign returns the webhook-signature of body sent as msgID at at, as each
// try signs it.
func (s *Sender) Sign(msgID string, at time.Time, body []byte) (string, error) {
	return s.signer.Sign(msgID, at, body)
}

// Send delivers body (JSON) as one delivery, trying again as the type
// says, and returns nil once a try was answered 2xx. Its error says how
// the last try failed and how many there were, e.g. "webhook POST
// https://codes.example.com/send: answered 503 Service Unavailable (3
// tries)".
func (s *Sender) Send(ctx context.Context, body []byte) error {
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails: it crashes the program first
	msgID := s.opts.IDPrefix + hex.EncodeToString(id[:])

	var last error
	tries := 0
	for tries < Tries {
		if tries > 0 && !s.sleep(ctx, Backoff<<(tries-1)) {
			break
		}
		tries++
		retry, err := s.attempt(ctx, msgID, body, Tries-tries+1)
		if err == nil {
			return nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("webhook POST %s: %w (%s)", s.shown, last, plural(tries, "try", "tries"))
}

// attempt makes one try, with a part of the time left: its share among
// the tries left. It reports whether a failure is worth another try.
func (s *Sender) attempt(ctx context.Context, msgID string, body []byte, triesLeft int) (retry bool, err error) {
	budget := NoDeadline
	if deadline, ok := ctx.Deadline(); ok {
		budget = time.Until(deadline) / time.Duration(triesLeft)
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return false, errors.New("the request cannot be made") // not err, which may quote the URL
	}
	now := s.now()
	sig, err := s.signer.Sign(msgID, now, body)
	if err != nil {
		return false, errors.New("signing failed")
	}
	req.Header.Set("Content-Type", "application/json")
	if s.opts.UserAgent != "" {
		req.Header.Set("User-Agent", s.opts.UserAgent)
	}
	req.Header.Set(standardwebhooks.HeaderWebhookID, msgID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := s.client.Do(req)
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
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyDrain))
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

package otp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
)

// Version is the plugin's version, reported in its metadata.
const Version = "1.1.0"

// The reasons of a verdict that is not valid.
const (
	// ReasonInvalidCode: the code is empty, wrong, or not this request's
	// or this generation's.
	ReasonInvalidCode = "invalid_code"
	// ReasonCodeUsed: the challenge's code was already accepted once.
	ReasonCodeUsed = "code_used"
)

// Plugin is the otp backend. Create it with New; it is ready after
// Configure.
type Plugin struct {
	settings *Settings
	storage  sdk.Storage
	send     sender
	log      *slog.Logger
	// random is where codes, TOTP secrets, nonces and recovery codes
	// come from: crypto/rand.
	random io.Reader
	// now is the clock TOTP codes are checked by.
	now func() time.Time

	mu        sync.Mutex
	storedKey []byte // the stored hash key, once read (key.go)
}

// New returns an unconfigured plugin.
func New() *Plugin { return &Plugin{log: sdk.Logger(), random: rand.Reader, now: time.Now} }

// Metadata implements sdk.Plugin.
func (p *Plugin) Metadata() sdk.Metadata {
	return sdk.Metadata{Name: "otp", Version: Version}
}

// Configure implements sdk.Plugin. It does no I/O: the stored hash key,
// if it is the one used, is read on first use.
func (p *Plugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	s, err := ParseConfig(req.Config)
	if err != nil {
		return err
	}
	for _, w := range s.Warnings {
		p.log.Warn("otp configuration: " + w)
	}
	if s.LogSender {
		p.send = logSender{log: p.log}
	} else if p.send, err = newWebhookSender(s.Webhook, s.WebhookKey); err != nil {
		return err
	}
	p.settings, p.storage = s, req.Host.Storage()
	return nil
}

// PrepareChallenge implements sdk.AuthorizationRequestBackend: it draws a
// new code for the request's generation, delivers it, and returns its
// keyed hash as the state. A code that could not be delivered is an error
// matching sdk.ErrUnavailable, and the host refuses the request.
//
// The 2FA request of a user with a confirmed TOTP enrollment is the
// exception: nothing is sent, the user answers with a code of their
// authenticator app (or a recovery code), and the challenge's Delivery is
// "totp". If the enrollment cannot be read, the request is refused.
func (p *Plugin) PrepareChallenge(ctx context.Context, req *authreq.Request) (authreq.Challenge, error) {
	if p.settings == nil {
		return authreq.Challenge{}, fmt.Errorf("%w: the otp backend is not configured", sdk.ErrUnavailable)
	}
	if req.ID == "" {
		return authreq.Challenge{}, fmt.Errorf("%w: the request has no id", sdk.ErrInvalidArgument)
	}
	if req.Slug == Slug2FA {
		enrolled, err := p.totpEnrolled(ctx, req.UserID)
		if err != nil {
			return authreq.Challenge{}, fmt.Errorf("%w: otp: reading the user's TOTP enrollment: %v", sdk.ErrUnavailable, err)
		}
		if enrolled {
			p.log.Debug("otp: TOTP challenge prepared", "request_id", req.ID, "generation", req.Generation)
			return prepareTOTP(req)
		}
	}
	key, err := p.hashKey(ctx)
	if err != nil {
		return authreq.Challenge{}, err
	}
	code, err := newCode(p.random, p.settings.Length, p.settings.Alphabet)
	if err != nil {
		return authreq.Challenge{}, err
	}
	st := state{Version: stateVersion, RequestID: req.ID, Generation: req.Generation, MAC: codeMAC(key, req.ID, req.Generation, code)}
	raw := st.encode()
	if len(raw) > authreq.MaxState {
		return authreq.Challenge{}, fmt.Errorf("%w: the request id is too long for a state of %d bytes", sdk.ErrInvalidArgument, authreq.MaxState)
	}
	if err := p.send.send(ctx, req, code); err != nil {
		p.log.Warn("otp: a code could not be delivered; the request is refused", "request_id", req.ID, "generation", req.Generation, "error", err)
		return authreq.Challenge{}, fmt.Errorf("%w: otp: delivering the code: %v", sdk.ErrUnavailable, err)
	}
	p.log.Debug("otp: code delivered", "request_id", req.ID, "generation", req.Generation, "delivery", p.send.kind())
	return authreq.Challenge{State: raw, Delivery: p.send.kind()}, nil
}

// CheckAnswer implements sdk.AuthorizationRequestBackend. The answer's
// code is valid if it is the code of the state's request and generation,
// which must be req's, and the state's code has not been used; the verdict
// that accepts it returns the state marked used. The code is compared in
// constant time, exactly as typed: an app that shows it in groups removes
// the spaces. Credentials are not looked at. A TOTP challenge's answer is
// judged by checkTOTP, which marks the code's step (or the recovery code)
// used for the user, across requests.
func (p *Plugin) CheckAnswer(ctx context.Context, req *authreq.Request, raw []byte, answer authreq.Answer) (authreq.Verdict, error) {
	if p.settings == nil {
		return authreq.Verdict{}, fmt.Errorf("%w: the otp backend is not configured", sdk.ErrUnavailable)
	}
	st, err := decodeState(raw)
	if err != nil {
		return authreq.Verdict{}, fmt.Errorf("%w: %v", sdk.ErrInvalidArgument, err)
	}
	switch {
	case st.Used:
		return authreq.Verdict{Reason: ReasonCodeUsed}, nil
	case answer.Code == "":
		return authreq.Verdict{Reason: ReasonInvalidCode}, nil
	case st.RequestID != req.ID || st.Generation != req.Generation:
		p.log.Warn("otp: an answer was checked against another request's or generation's state", "request_id", req.ID, "generation", req.Generation)
		return authreq.Verdict{Reason: ReasonInvalidCode}, nil
	}
	if st.Method == methodTOTP {
		v, err := p.checkTOTP(ctx, req, answer.Code)
		if err != nil || !v.Valid {
			return v, err
		}
		st.Used = true
		return authreq.Verdict{Valid: true, State: st.encode()}, nil
	}
	key, err := p.hashKey(ctx)
	if err != nil {
		return authreq.Verdict{}, err
	}
	if !hmac.Equal(st.MAC, codeMAC(key, req.ID, req.Generation, answer.Code)) {
		return authreq.Verdict{Reason: ReasonInvalidCode}, nil
	}
	st.Used = true
	return authreq.Verdict{Valid: true, State: st.encode()}, nil
}

// Interface guards.
var (
	_ sdk.Plugin                      = (*Plugin)(nil)
	_ sdk.AuthorizationRequestBackend = (*Plugin)(nil)
	_ sdk.Admin                       = (*Plugin)(nil)
)

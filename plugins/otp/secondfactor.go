package otp

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
)

// Slug2FA is the slug of the requests a two-factor login makes: for a
// user with a confirmed TOTP enrollment, their challenge is the app's
// code instead of a delivered one.
const Slug2FA = "2FA"

// The methods a challenge's state names.
const (
	// methodCode: a code the plugin drew and delivered (the state's
	// method is empty, as in states written before TOTP).
	methodCode = ""
	// methodTOTP: a code of the user's authenticator app, or one of the
	// user's recovery codes.
	methodTOTP = "totp"
)

// DeliveryTOTP is the Challenge.Delivery of a TOTP challenge: nothing
// was sent, the user reads the code in their authenticator app.
const DeliveryTOTP = "totp"

// ReasonNotEnrolled: a TOTP challenge's user has no confirmed enrollment
// any more (an operator reset it after the challenge was prepared).
const ReasonNotEnrolled = "not_enrolled"

// prepareTOTP returns the TOTP challenge of a 2FA request: nothing is
// sent; the state binds the request and its generation.
func prepareTOTP(req *authreq.Request) (authreq.Challenge, error) {
	raw := state{Version: stateVersion, Method: methodTOTP, RequestID: req.ID, Generation: req.Generation}.encode()
	if len(raw) > authreq.MaxState {
		return authreq.Challenge{}, fmt.Errorf("%w: the request id is too long for a state of %d bytes", sdk.ErrInvalidArgument, authreq.MaxState)
	}
	return authreq.Challenge{State: raw, Delivery: DeliveryTOTP}, nil
}

// checkTOTP judges the code of a TOTP challenge for the request's user: a
// code of the app within totpSkew steps of now, of a step after the last
// one accepted for the user, or an unused recovery code. The step, or the
// recovery code, is marked used in the user's record with compare-and-swap
// before the answer is valid, so a code is accepted once across hosts.
func (p *Plugin) checkTOTP(ctx context.Context, req *authreq.Request, code string) (authreq.Verdict, error) {
	key, err := p.hashKey(ctx)
	if err != nil {
		return authreq.Verdict{}, err
	}
	var verdict authreq.Verdict
	recovery, isRecovery := canonicalRecovery(code)
	err = p.update(ctx, req.UserID, func(old *record) (*record, error) {
		verdict = authreq.Verdict{Reason: ReasonInvalidCode}
		switch {
		case old == nil || !old.Confirmed:
			verdict.Reason = ReasonNotEnrolled
			return nil, errUnchanged
		case isRecovery:
			next := old.clone()
			if !next.useRecovery(recoveryMAC(key, req.UserID, recovery)) {
				return nil, errUnchanged
			}
			verdict = authreq.Verdict{Valid: true}
			return next, nil
		}
		secret, err := open(key, req.UserID, old.Sealed)
		if err != nil {
			p.log.Warn("otp: a TOTP secret cannot be opened; an operator resets the enrollment (totp_reset) and the user enrolls again", "user_id", req.UserID, "error", err)
			return nil, err
		}
		s, ok, replay, err := matchStep(secret, code, p.now(), old.LastStep)
		clear(secret)
		switch {
		case err != nil:
			return nil, err
		case replay:
			verdict.Reason = ReasonCodeUsed
			return nil, errUnchanged
		case !ok:
			return nil, errUnchanged
		}
		next := old.clone()
		next.LastStep = s
		verdict = authreq.Verdict{Valid: true}
		return next, nil
	})
	if err != nil {
		return authreq.Verdict{}, err
	}
	if verdict.Valid && isRecovery {
		p.log.Info("otp: a recovery code was used", "request_id", req.ID, "user_id", req.UserID)
	}
	return verdict, nil
}

// clone returns a copy of r that shares nothing it may change.
func (r *record) clone() *record {
	c := *r
	c.Recovery = append([]recoveryHash(nil), r.Recovery...)
	return &c
}

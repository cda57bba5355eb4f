package authreq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	sdkreq "github.com/portcullis-auth/portcullis/sdk/authreq"
)

// Slug2FA is the slug of the requests a two-factor login makes
// (django-auth-token's TWO_FACTOR_AUTHORIZATION_SLUG).
const Slug2FA = "2FA"

// CredentialRequest is the credential that names the authorization
// request a second factor answers (POST /v1/login/2fa).
const CredentialRequest = "authorization_request"

// pendingLogin is what a two-factor request keeps of the login that made
// it, in its data: who logged in, and how the login is to be answered.
type pendingLogin struct {
	Login struct {
		Subject    string            `json:"subject"`
		Username   string            `json:"username"`
		Attributes map[string]string `json:"attributes,omitempty"`
		// Roles are the roles the backend vouched for: the login they
		// complete gets them as the password step's would have.
		Roles []string `json:"roles,omitempty"`
	} `json:"login"`
	// Grant is "tokens" or "session".
	Grant string `json:"grant"`
	// KeyHash is the SHA-256 of the login's key, which its client shows
	// to complete a login a device approved.
	KeyHash string `json:"key_hash,omitempty"`
}

// StartSecondFactor makes the 2FA request of a login whose password was
// right: its backend prepares (and delivers) a code, and the login is
// answered once the code comes back. grant says how: "tokens" or
// "session". loginKey is the login's own secret: with a backend whose
// devices decide (Delivery "device"), the login's client shows it to
// complete the login once a device granted the request.
func (s *Service) StartSecondFactor(ctx context.Context, backend string, id sdk.Identity, grant string, expiration time.Duration) (_ storage.AuthRequest, loginKey string, _ error) {
	name, b, err := s.backend(backend)
	if err != nil {
		return storage.AuthRequest{}, "", err
	}
	var p pendingLogin
	p.Login.Subject, p.Login.Username, p.Login.Attributes, p.Login.Roles, p.Grant = id.Subject, id.Username, id.Attributes, id.Roles, grant
	loginKey, p.KeyHash = newLoginKey()
	data, err := json.Marshal(p)
	if err != nil {
		return storage.AuthRequest{}, "", err
	}
	r := storage.AuthRequest{ID: uuid.NewString(), Slug: Slug2FA, UserID: id.Subject, Username: id.Username,
		Title: "Log in", Description: "The second step of a login", Data: data, Backend: name,
		ExpiresAt: s.opts.Now().Add(expiration)}
	r, err = s.open(ctx, b, r)
	return r, loginKey, err
}

// CredentialMethod is the credential that says how a second factor is
// answered: MethodDevice for a login a device approved (the Password is
// then the login's key), else a code.
const (
	CredentialMethod = "second_factor"
	MethodDevice     = "device"
)

// SecondFactor is the last link of the chain that completes a two-factor
// login (after the lockout's links, so that wrong codes count as wrong
// passwords do): the login's Password is the code and its credential
// CredentialRequest names the 2FA request. A right code grants the
// request and proves the identity that logged in with the password; a
// wrong one, or a request that is not a waiting 2FA request of this user
// made by the host, is an abstain with invalid_credentials. With
// CredentialMethod MethodDevice the Password is the login's key instead,
// and the request must have been granted by a device.
type SecondFactor struct{ Service *Service }

// Authenticate implements sdk.Authenticator.
func (f SecondFactor) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	id := req.Credentials[CredentialRequest]
	r, p, err := f.Service.pending(ctx, id)
	if err != nil {
		return err
	}
	if r.ID == "" || r.Username != req.Username {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	// A user of the users table who was disabled since the password step
	// does not log in (a password change, a disable or a removal also
	// cancels the request: storage.ReasonCredentialsChanged).
	if u, err := f.Service.opts.Store.UserByUsername(ctx, r.Username); err == nil && u.ID == p.Login.Subject && u.Disabled {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	} else if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return err
	}
	if req.Credentials[CredentialMethod] == MethodDevice {
		return f.Service.completeDeviceLogin(ctx, r, p, req.Password, resp)
	}
	valid, _, err := f.Service.Check(ctx, id, sdkreq.Answer{Code: req.Password})
	switch {
	case errors.Is(err, ErrNotWaiting):
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	case err != nil:
		return err
	case !valid:
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	if _, err := f.Service.Decide(ctx, id, storage.AuthRequestGranted, "login"); err != nil {
		if errors.Is(err, ErrNotWaiting) { // decided by another answer meanwhile
			resp.Abstain(sdk.ReasonInvalidCredentials)
			return nil
		}
		return err
	}
	resp.Grant(p.identity())
	return nil
}

// identity is who the login's first step proved to be, with the roles
// its backend vouched for.
func (p pendingLogin) identity() sdk.Identity {
	return sdk.Identity{Subject: p.Login.Subject, Username: p.Login.Username, Attributes: p.Login.Attributes, Roles: p.Login.Roles}
}

// pending reads the 2FA request id and the login it holds; the request
// is zero when id names no 2FA request the host made.
func (s *Service) pending(ctx context.Context, id string) (storage.AuthRequest, pendingLogin, error) {
	var p pendingLogin
	r, err := s.opts.Store.AuthRequestByID(ctx, id)
	if errors.Is(err, sdk.ErrNotFound) {
		return storage.AuthRequest{}, p, nil
	}
	if err != nil {
		return storage.AuthRequest{}, p, err
	}
	if r.Slug != Slug2FA || r.App != "" {
		return storage.AuthRequest{}, p, nil
	}
	if err := json.Unmarshal(r.Data, &p); err != nil || p.Login.Subject == "" || p.Grant == "" {
		return storage.AuthRequest{}, p, fmt.Errorf("2FA request %s: %w", r.ID, errNoLogin)
	}
	return r, p, nil
}

// PendingLogin returns how the login of a 2FA request is to be answered
// ("tokens" or "session") and who logged in, or "" for an id that names
// no 2FA request the host made.
func (s *Service) PendingLogin(ctx context.Context, id string) (grant, username string, err error) {
	r, p, err := s.pending(ctx, id)
	if err != nil || r.ID == "" {
		return "", "", err
	}
	return p.Grant, r.Username, nil
}

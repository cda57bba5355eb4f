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
	} `json:"login"`
	// Grant is "tokens" or "session".
	Grant string `json:"grant"`
}

// StartSecondFactor makes the 2FA request of a login whose password was
// right: its backend prepares (and delivers) a code, and the login is
// answered once the code comes back. grant says how: "tokens" or
// "session".
func (s *Service) StartSecondFactor(ctx context.Context, backend string, id sdk.Identity, grant string, expiration time.Duration) (storage.AuthRequest, error) {
	name, b, err := s.backend(backend)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	var p pendingLogin
	p.Login.Subject, p.Login.Username, p.Login.Attributes, p.Grant = id.Subject, id.Username, id.Attributes, grant
	data, err := json.Marshal(p)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	r := storage.AuthRequest{ID: uuid.NewString(), Slug: Slug2FA, UserID: id.Subject, Username: id.Username,
		Title: "Log in", Description: "The second step of a login", Data: data, Backend: name,
		ExpiresAt: s.opts.Now().Add(expiration)}
	return s.open(ctx, b, r)
}

// SecondFactor is the last link of the chain that completes a two-factor
// login (after the lockout's links, so that wrong codes count as wrong
// passwords do): the login's Password is the code and its credential
// CredentialRequest names the 2FA request. A right code grants the
// request and proves the identity that logged in with the password; a
// wrong one, or a request that is not a waiting 2FA request of this user
// made by the host, is an abstain with invalid_credentials.
type SecondFactor struct{ Service *Service }

// Authenticate implements sdk.Authenticator.
func (f SecondFactor) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	id := req.Credentials[CredentialRequest]
	r, err := f.Service.opts.Store.AuthRequestByID(ctx, id)
	if errors.Is(err, sdk.ErrNotFound) || (err == nil && (r.Slug != Slug2FA || r.App != "" || r.Username != req.Username)) {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	if err != nil {
		return err
	}
	valid, r, err := f.Service.Check(ctx, id, sdkreq.Answer{Code: req.Password})
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
	var p pendingLogin
	if err := json.Unmarshal(r.Data, &p); err != nil || p.Login.Subject == "" {
		return fmt.Errorf("2FA request %s holds no login", r.ID)
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
	if _, err := f.Service.Decide(ctx, id, storage.AuthRequestGranted, "login"); err != nil {
		if errors.Is(err, ErrNotWaiting) { // decided by another answer meanwhile
			resp.Abstain(sdk.ReasonInvalidCredentials)
			return nil
		}
		return err
	}
	resp.Grant(sdk.Identity{Subject: p.Login.Subject, Username: p.Login.Username, Attributes: p.Login.Attributes})
	return nil
}

// PendingLogin returns how the login of a 2FA request is to be answered
// ("tokens" or "session") and who logged in, or "" for an id that names
// no 2FA request the host made.
func (s *Service) PendingLogin(ctx context.Context, id string) (grant, username string, err error) {
	r, err := s.opts.Store.AuthRequestByID(ctx, id)
	if errors.Is(err, sdk.ErrNotFound) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	var p pendingLogin
	if r.Slug != Slug2FA || r.App != "" || json.Unmarshal(r.Data, &p) != nil || p.Grant == "" {
		return "", "", nil
	}
	return p.Grant, r.Username, nil
}

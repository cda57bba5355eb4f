package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/appkeys"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/plugins/password"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// Password bounds for admins.
const (
	MinPasswordChars = 12
	MaxPasswordBytes = 4096
)

// ValidatePassword checks an admin's new password: at least 12
// characters, at most 4096 bytes, no NUL. The error wraps
// sdk.ErrInvalidArgument.
func ValidatePassword(pw string) error {
	switch {
	case len([]rune(pw)) < MinPasswordChars:
		return fmt.Errorf("an admin's password must be at least %d characters: %w", MinPasswordChars, sdk.ErrInvalidArgument)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("the password is longer than %d bytes: %w", MaxPasswordBytes, sdk.ErrInvalidArgument)
	case strings.IndexByte(pw, 0) >= 0:
		return fmt.Errorf("the password must not contain NUL characters: %w", sdk.ErrInvalidArgument)
	}
	return nil
}

// HashPassword returns the stored form of an admin's password (argon2id).
func HashPassword(pw string) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	return password.Hash(pw, password.DefaultArgon2Params)
}

// authenticator checks admins' passwords: the last link of the admin
// login chain, after the lockout twins.
type authenticator struct{ s *Service }

func (a authenticator) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	adm, err := a.s.opts.Store.AdminByUsername(ctx, req.Username)
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return err
	}
	stored := adm.PasswordHash
	if adm.ID == "" {
		stored = a.s.dummy() // a wrong name costs what a wrong password does
	}
	ok, err := password.Verify(stored, req.Password)
	if err != nil {
		return fmt.Errorf("verifying an admin's password: %w", err)
	}
	if !ok || adm.ID == "" || adm.Disabled {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	resp.Grant(sdk.Identity{Subject: adm.ID, Username: adm.Username})
	return nil
}

// LoginResult is how an admin login ended: a session (Secret is the
// cookie's value, shown once), or a refusal to answer with Status, Code
// and Description (and Retry-After).
type LoginResult struct {
	Caller  Caller
	Session storage.AdminSession
	Secret  string

	Status      int
	Code        string
	Description string
	RetryAfter  time.Duration
}

// Login checks an admin's name and password through the lockout twins and
// starts a session. username must be canonical (usernames.Canonical); the
// HTTP layer refuses one that is not before calling.
func (s *Service) Login(ctx context.Context, username, pw string, client sdk.Client, requestID string) LoginResult {
	s.emit(ctx, &signals.AdminLoginAttempt{Username: username, Client: client})
	req := &sdk.AuthenticateRequest{RequestID: requestID, Username: username, Password: pw, Client: client, Path: "/v1/admin/login"}
	login := s.login.Run(ctx, req)
	res := login.Result
	failed := func(reason string) {
		s.emit(ctx, &signals.AdminLoginFailed{Username: username, Client: client, Reason: reason})
	}
	switch res.Outcome {
	case chain.Success:
		sess, secret, err := s.startSession(ctx, res.Identity.Subject)
		if err != nil {
			_ = login.End(ctx, sdk.LoginUnavailable, "")
			s.log.Error("starting an admin session", "request_id", requestID, "error", err)
			failed("exception")
			return unavailable("could not start a session; try again later")
		}
		if err := login.End(ctx, sdk.LoginSucceeded, sess.ID); err != nil {
			s.log.Warn("recording an admin login", "request_id", requestID, "error", err)
		}
		s.emit(ctx, &signals.AdminLoginSuccessful{AdminUserID: res.Identity.Subject, Username: username, Client: client})
		return LoginResult{Caller: Caller{AdminID: res.Identity.Subject, Username: res.Identity.Username, Via: "session", SessionID: sess.ID},
			Session: sess, Secret: secret, Status: http.StatusOK}
	case chain.Unavailable, chain.Busy:
		_ = login.End(ctx, sdk.LoginUnavailable, "")
		s.log.Warn("admin login failed closed", "request_id", requestID, "backend", res.Backend, "error", res.Err)
		failed("exception")
		if res.Outcome == chain.Busy {
			return LoginResult{Status: http.StatusServiceUnavailable, Code: "try_again", RetryAfter: time.Second,
				Description: "too many logins for this client are in progress; try again in a moment"}
		}
		return unavailable("the login could not be checked; try again later")
	}
	if err := login.End(ctx, res.LoginResult(), ""); err != nil {
		s.log.Error("admin login failed closed: its failure could not be counted", "request_id", requestID, "error", err)
		failed("exception")
		return unavailable("the login could not be recorded; try again later")
	}
	failed("authentication_failed")
	if res.Outcome == chain.Denied && res.Reason != sdk.ReasonInvalidCredentials {
		return LoginResult{Status: orStatus(res.HTTPStatus, http.StatusTooManyRequests), Code: "locked_out",
			Description: "too many failed login attempts", RetryAfter: res.RetryAfter}
	}
	return LoginResult{Status: http.StatusUnauthorized, Code: "invalid_credentials", Description: "the username or password is wrong"}
}

func orStatus(s, def int) int {
	if s == http.StatusForbidden || s == http.StatusTooManyRequests {
		return s
	}
	return def
}

func unavailable(desc string) LoginResult {
	return LoginResult{Status: http.StatusServiceUnavailable, Code: "backend_unavailable", Description: desc}
}

// startSession stores a new session of the admin and returns its secret.
func (s *Service) startSession(ctx context.Context, adminID string) (storage.AdminSession, string, error) {
	secret, hash := appkeys.Generate(sessionPrefix)
	now := s.opts.Now()
	sess, err := s.opts.Store.CreateAdminSession(ctx, adminID, hash, now.Add(SessionMax), now.Add(SessionIdle))
	return sess, secret, err
}

// SessionCaller returns the admin of the live session whose cookie value
// is secret, and pushes the session's idle end forward. An unknown, ended
// or malformed session, or one whose admin is gone or disabled, is
// ErrUnauthenticated; any other error means it could not be read.
func (s *Service) SessionCaller(ctx context.Context, secret string) (Caller, error) {
	if !appkeys.WellFormed(sessionPrefix, secret) {
		s.checked(ctx, "", false, "session_authentication_failed")
		return Caller{}, ErrUnauthenticated
	}
	sess, err := s.opts.Store.AdminSessionBySecret(ctx, appkeys.Hash(secret))
	if errors.Is(err, sdk.ErrNotFound) {
		s.checked(ctx, "", false, "session_authentication_failed")
		return Caller{}, ErrUnauthenticated
	}
	if err != nil {
		s.checked(ctx, "", false, "exception")
		return Caller{}, err
	}
	now := s.opts.Now()
	if !sess.Active(now) {
		s.checked(ctx, sess.AdminID, false, "session_authentication_failed")
		return Caller{}, ErrUnauthenticated
	}
	until := now.Add(SessionIdle)
	if until.After(sess.ExpiresAt) {
		until = sess.ExpiresAt
	}
	if _, err := s.opts.Store.ExtendAdminSession(ctx, sess.ID, until, SessionIdle/10); err != nil {
		return Caller{}, err
	}
	s.checked(ctx, sess.AdminID, true, "authenticated_session_is_admin")
	return Caller{AdminID: sess.AdminID, Username: sess.Admin.Username, Via: "session", SessionID: sess.ID}, nil
}

func (s *Service) checked(ctx context.Context, id string, ok bool, reason string) {
	s.emit(ctx, &signals.AdminAuthenticationCheck{UserID: id, IsAdmin: ok, Reason: reason})
}

// TokenCaller returns the admin of a live admin token. A malformed,
// unknown or revoked token, or one whose admin is gone or disabled, is
// ErrUnauthenticated, all alike.
func (s *Service) TokenCaller(ctx context.Context, token string) (Caller, error) {
	if !appkeys.WellFormed(TokenPrefix, token) {
		return Caller{}, ErrUnauthenticated
	}
	t, err := s.opts.Store.AdminTokenByHash(ctx, appkeys.Hash(token))
	if errors.Is(err, sdk.ErrNotFound) {
		return Caller{}, ErrUnauthenticated
	}
	if err != nil {
		return Caller{}, err
	}
	if t.Revoked() || t.Admin.ID == "" || t.Admin.Disabled {
		return Caller{}, ErrUnauthenticated
	}
	return Caller{AdminID: t.AdminID, Username: t.Admin.Username, Via: "token", TokenName: t.Name}, nil
}

// Logout ends the caller's session (a token caller has none to end).
func (s *Service) Logout(ctx context.Context, c Caller) error {
	sid := c.SessionID
	if sid == "" {
		sid = "N/A"
	}
	s.emit(ctx, &signals.AdminLogoutAttempt{SessionID: sid, UserID: c.AdminID})
	if c.SessionID == "" {
		return nil
	}
	ended, err := s.opts.Store.EndAdminSession(ctx, c.SessionID)
	if err != nil {
		return err
	}
	if ended {
		s.emit(ctx, &signals.AdminLogoutSuccessful{SessionID: c.SessionID, UserID: c.AdminID})
	}
	return nil
}

// Register creates an admin account; c is the admin who registers it
// (the zero Caller on the command line). The password is checked and
// hashed here.
func (s *Service) Register(ctx context.Context, c Caller, username, email, pw string) (storage.Admin, error) {
	by := c.Username
	s.emit(ctx, &signals.AdminRegistrationAttempt{Username: username, Email: email, Admin: by})
	fail := func(errType string, err error) (storage.Admin, error) {
		s.emit(ctx, &signals.AdminRegistrationFailed{Username: username, Email: email, Admin: by, ErrorType: errType, ErrorMessage: Message(err)})
		return storage.Admin{}, err
	}
	name, err := usernames.Canonical(username)
	if err != nil {
		return fail("validation_error", fmt.Errorf("%s: %w", err, sdk.ErrInvalidArgument))
	}
	hash, err := HashPassword(pw)
	if err != nil {
		return fail("validation_error", err)
	}
	adm, err := s.opts.Store.CreateAdmin(ctx, name, email, hash, by)
	switch {
	case errors.Is(err, sdk.ErrConflict):
		return fail("already_exists", err)
	case errors.Is(err, sdk.ErrInvalidArgument):
		return fail("validation_error", err)
	case err != nil:
		return fail("exception", err)
	}
	s.emit(ctx, &signals.AdminRegistrationSuccessful{AdminUserID: adm.ID, Username: adm.Username, Email: adm.Email, Admin: by})
	return adm, nil
}

// Message is an error's message without the sentinel it wraps (": not
// found"), for a person to read.
func Message(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{sdk.ErrInvalidArgument, sdk.ErrConflict, sdk.ErrNotFound, ErrUnavailable} {
		if errors.Is(err, sentinel) {
			msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
		}
	}
	return msg
}

// CreateToken makes a token for the admin named adminName, stores its
// hash, and returns the token, to be shown once. c is the admin who makes
// it (the zero Caller on the command line).
func (s *Service) CreateToken(ctx context.Context, c Caller, adminName, tokenName string) (string, storage.AdminToken, error) {
	adm, err := s.opts.Store.AdminByUsername(ctx, adminName)
	if err != nil {
		return "", storage.AdminToken{}, fmt.Errorf("admin %s: %w", usernames.Quote(adminName), sdk.ErrNotFound)
	}
	token, hash := appkeys.Generate(TokenPrefix)
	t, err := s.opts.Store.CreateAdminToken(ctx, adm.ID, tokenName, hash)
	if err != nil {
		return "", storage.AdminToken{}, err
	}
	s.audit(ctx, c, "admin_token_created", tokenName, map[string]any{"admin_user": adm.Username})
	return token, t, nil
}

// RevokeToken revokes the admin token named name.
func (s *Service) RevokeToken(ctx context.Context, c Caller, name string) (bool, error) {
	revoked, err := s.opts.Store.RevokeAdminToken(ctx, name)
	if err == nil && revoked {
		s.audit(ctx, c, "admin_token_revoked", name, nil)
	}
	return revoked, err
}

// randomSecret returns 256 random bits, for a dummy password.
func randomSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

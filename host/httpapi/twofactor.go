package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// TwoFactor makes every login whose password is right prove a second
// factor: the login is answered 202 with a 2FA authorization request
// whose code the backend delivers, and completed at POST /v1/login/2fa.
type TwoFactor struct {
	Service *authreq.Service
	// Backend prepares and checks the codes.
	Backend string
	// Expiration is how long a code is good for.
	Expiration time.Duration
	// Chain completes a login with its code: the login chain's lockout
	// links, then authreq.SecondFactor, so that wrong codes are counted
	// as wrong passwords are.
	Chain *chain.Chain
	// OnlyEnrolled asks a second factor only of the users who enrolled an
	// authenticator app (two_factor.required: enrolled); Enrolled tells.
	OnlyEnrolled bool
	Enrolled     func(ctx context.Context, userID string) (bool, error)
}

// applies reports whether a login of id needs a second factor.
func (tf *TwoFactor) applies(ctx context.Context, id sdk.Identity) (bool, error) {
	if !tf.OnlyEnrolled {
		return true, nil
	}
	return tf.Enrolled(ctx, id.Subject)
}

// startSecondFactor answers a login whose first factor was right with a
// 2FA request. For the lockout the first step is neither a success nor a
// failure (its attempt is given back): only the code's answer is. A right
// password therefore never resets a counter that wrong codes filled.
func (s *Server) startSecondFactor(w http.ResponseWriter, r *http.Request, login *chain.Login, log func() *slog.Logger, req *sdk.AuthenticateRequest, kind string) {
	tf := s.opts.TwoFactor
	_ = login.End(r.Context(), sdk.LoginUnavailable, "")
	if _, ok := tokens.UpstreamFrom(r.Context()); ok && kind == grantTokens {
		// A token session an external provider signed in keeps the
		// provider's refresh token, to ask the provider at its refreshes;
		// the login a second factor completes comes back in another
		// request, which does not carry it. Refused, rather than issuing
		// tokens that would outlive the provider's say-so.
		s.countLogin(w, "unavailable", login.Result.Backend)
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "a sign-in that needs a second factor answers with a session only: start it without grant=tokens", nil)
		return
	}
	ar, loginKey, err := tf.Service.StartSecondFactor(r.Context(), tf.Backend, login.Result.Identity, kind, tf.Expiration)
	if err != nil {
		s.countLogin(w, "unavailable", tf.Backend)
		log().Warn("login failed closed: its second factor could not be sent", "error", err)
		s.emitUnavailable(r, req, tf.Backend, codeBackendUnavailable)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the second factor could not be sent; try again later", nil)
		return
	}
	s.countLogin(w, "second_factor", login.Result.Backend)
	// What the user may answer with: the code sent, or, with an
	// authenticator app, its code or a recovery code.
	methods := []string{"code"}
	answer := map[string]any{
		"authorization_request": ar.ID,
		"slug":                  ar.Slug,
		"delivery":              ar.Delivery,
		"expires_at":            ar.ExpiresAt.UTC().Format(time.RFC3339),
	}
	switch ar.Delivery {
	case "totp":
		methods = []string{"totp", "recovery_code"}
	case "device":
		// A device of the user approves; the client polls with the
		// login's key, shown this once.
		methods = []string{"device"}
		answer["login_key"] = loginKey
	}
	answer["methods"] = methods
	writeJSON(w, http.StatusAccepted, answer)
}

// secondFactorBody is POST /v1/login/2fa's body.
type secondFactorBody struct {
	AuthorizationRequest *string `json:"authorization_request"`
	Code                 *string `json:"code"`
	// LoginKey completes a login a device approves, instead of a code.
	LoginKey *string     `json:"login_key"`
	Client   *clientBody `json:"client"`
}

// handleSecondFactor completes a two-factor login with its code:
// POST /v1/login/2fa. It answers as the login it completes would have
// (tokens, or a session cookie); a wrong code is 401 and counted by the
// lockout as a wrong password is.
func (s *Server) handleSecondFactor(w http.ResponseWriter, r *http.Request) {
	tf := s.opts.TwoFactor
	if tf == nil {
		writeError(w, http.StatusNotFound, codeNotFound, "two-factor login is not enabled", nil)
		return
	}
	var body secondFactorBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	switch {
	case body.AuthorizationRequest == nil || *body.AuthorizationRequest == "" || len(*body.AuthorizationRequest) > 64:
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "authorization_request is required", nil)
		return
	case (body.Code == nil) == (body.LoginKey == nil):
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "send code, or login_key for a login a device approves", nil)
		return
	case body.Code != nil && len(*body.Code) > 256, body.LoginKey != nil && len(*body.LoginKey) > 256:
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "code and login_key are at most 256 bytes", nil)
		return
	}
	id := *body.AuthorizationRequest
	kind, username, err := tf.Service.PendingLogin(r.Context(), id)
	if err != nil {
		s.log.ErrorContext(r.Context(), "reading a two-factor login", "request_id", w.Header().Get("X-Request-Id"), "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the login could not be read; try again later", nil)
		return
	}
	if kind == "" {
		writeError(w, http.StatusUnauthorized, codeInvalidCredentials, "the code or the authorization request is wrong", nil)
		return
	}
	if kind == grantSession && !s.sameOrigin(r) {
		writeError(w, http.StatusForbidden, codeCSRF, "a login from another site's page is refused", nil)
		return
	}
	app, ok := s.appCaller(w, r)
	if !ok {
		return
	}
	client, ok := s.trusted.clientFactsFor(r, body.Client, app)
	if !ok {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "client.ip is not an IP address", nil)
		return
	}
	done, ok := s.admit.admit(w, r, client.IP)
	if !ok {
		return
	}
	defer done()
	secret, method := body.Code, ""
	if body.LoginKey != nil {
		secret, method = body.LoginKey, authreq.MethodDevice
		// While no device has decided, the holder of the key is told to
		// poll again: not an attempt, so not counted. A wrong key goes on
		// to the chain, which counts it.
		waiting, err := tf.Service.DeviceLoginWaiting(r.Context(), id, *secret)
		if err != nil {
			s.log.ErrorContext(r.Context(), "reading a two-factor login", "request_id", w.Header().Get("X-Request-Id"), "error", err)
			writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the login could not be read; try again later", nil)
			return
		}
		if waiting {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusAccepted, map[string]any{"authorization_request": id, "state": "waiting"})
			return
		}
	}
	req := &sdk.AuthenticateRequest{
		RequestID: w.Header().Get("X-Request-Id"), Username: username, Password: *secret,
		Credentials: map[string]string{authreq.CredentialRequest: id}, Client: client, Path: r.URL.Path,
	}
	if method != "" {
		req.Credentials[authreq.CredentialMethod] = method
	}
	s.answer(w, r, tf.Chain.Run(r.Context(), req), req, kind, false)
}

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/portcullis-auth/portcullis/sdk"
)

// TOTP serves users' enrollment of an authenticator app (TOTP) with the
// otp backend, through its operator commands (totp_enroll, totp_confirm,
// totp_status).
type TOTP struct {
	// Backend names the otp backend; Admin calls its commands.
	Backend string
	Admin   sdk.Admin
	// Issuer is the name authenticator apps show ("Portcullis").
	Issuer string
}

// command runs one of the otp backend's commands for a user.
func (t *TOTP) command(ctx context.Context, command, userID, username, secret string) (json.RawMessage, error) {
	return runCommand(ctx, t.Admin, command, map[string]string{"user_id": userID, "username": username, "issuer": t.Issuer}, secret)
}

// runCommand runs a backend's operator command with args (a value that
// encodes to a JSON object) and returns its result.
func runCommand(ctx context.Context, a sdk.Admin, command string, args any, secret string) (json.RawMessage, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	var resp sdk.AdminResponse
	if err := a.Admin(ctx, &sdk.AdminRequest{Command: command, Args: raw, Secret: secret}, &resp); err != nil {
		return nil, err
	}
	return resp.Result, nil
}

// Enrolled reports whether the user has a confirmed authenticator app.
func (t *TOTP) Enrolled(ctx context.Context, userID string) (bool, error) {
	raw, err := t.command(ctx, "totp_status", userID, "", "")
	if err != nil {
		return false, err
	}
	var st struct {
		Enrolled bool `json:"enrolled"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return false, errors.New("the otp backend answered totp_status without its state")
	}
	return st.Enrolled, nil
}

// userCaller authenticates the user who calls (to enroll an
// authenticator app, or register a device): a live access token
// (Authorization: Bearer) or the session cookie, with the CSRF proof for
// this write. ok is false when it has answered.
func (s *Server) userCaller(w http.ResponseWriter, r *http.Request) (userID, username string, ok bool) {
	if len(r.Header.Values("Authorization")) > 0 {
		token, problem := bearerCredential(r.Header)
		if problem == "" {
			got, err := s.opts.Tokens.Introspect(r.Context(), token)
			if err != nil {
				s.log.ErrorContext(r.Context(), "reading the caller's token's session", "request_id", w.Header().Get("X-Request-Id"), "error", err)
				writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "could not read the token's session; try again later", nil)
				return "", "", false
			}
			if got.Active {
				return got.Claims.Subject, got.Claims.Username, true
			}
		}
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid_token", "send a valid access token as Authorization: Bearer <token>, or the session cookie", nil)
		return "", "", false
	}
	sess, secret, ok := s.session(w, r)
	if !ok {
		return "", "", false
	}
	if !s.csrfOK(w, r, secret) {
		return "", "", false
	}
	return sess.Subject, sess.Username, true
}

func (s *Server) totpAvailable(w http.ResponseWriter) bool {
	if s.opts.TOTP == nil {
		writeError(w, http.StatusNotFound, codeNotFound, "TOTP is not enabled: configure an otp backend as two_factor.backend", nil)
		return false
	}
	return true
}

// handleTOTPEnroll starts the caller's enrollment of an authenticator
// app: POST /v1/totp/enroll answers the secret, the otpauth:// URI and a
// QR code of it (PNG, base64), shown this once. A confirmed enrollment is
// 409: an operator resets it first (portcullis users totp reset).
func (s *Server) handleTOTPEnroll(w http.ResponseWriter, r *http.Request) {
	if !s.totpAvailable(w) {
		return
	}
	userID, username, ok := s.userCaller(w, r)
	if !ok {
		return
	}
	raw, err := s.opts.TOTP.command(r.Context(), "totp_enroll", userID, username, "")
	if err != nil {
		s.totpFailed(w, r, err)
		return
	}
	var out struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
		QR     string `json:"qr_png"`
	}
	if json.Unmarshal(raw, &out) != nil || out.Secret == "" || out.URI == "" {
		s.totpFailed(w, r, errors.New("the otp backend answered totp_enroll without a secret"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": out.Secret, "otpauth_uri": out.URI, "qr_png": out.QR})
}

// handleTOTPConfirm activates the caller's enrollment with a first code:
// POST /v1/totp/confirm {"code"} answers the ten recovery codes, shown
// this once.
func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	if !s.totpAvailable(w) {
		return
	}
	var body struct {
		Code *string `json:"code"`
	}
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	if body.Code == nil || *body.Code == "" || len(*body.Code) > 64 {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "code is required", nil)
		return
	}
	userID, username, ok := s.userCaller(w, r)
	if !ok {
		return
	}
	raw, err := s.opts.TOTP.command(r.Context(), "totp_confirm", userID, username, *body.Code)
	if err != nil {
		s.totpFailed(w, r, err)
		return
	}
	var out struct {
		Codes []string `json:"recovery_codes"`
	}
	if json.Unmarshal(raw, &out) != nil || len(out.Codes) == 0 {
		s.totpFailed(w, r, errors.New("the otp backend answered totp_confirm without recovery codes"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"enrolled": true, "recovery_codes": out.Codes})
}

// totpFailed answers a command's error: 400 for a wrong code, 404 for no
// enrollment to confirm, 409 for one already confirmed, else 503.
func (s *Server) totpFailed(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, sdk.ErrInvalidArgument):
		writeError(w, http.StatusBadRequest, "invalid_code", "the code is wrong", nil)
	case errors.Is(err, sdk.ErrNotFound):
		writeError(w, http.StatusNotFound, codeNotFound, "there is no enrollment to confirm: start with POST /v1/totp/enroll", nil)
	case errors.Is(err, sdk.ErrConflict):
		writeError(w, http.StatusConflict, "already_enrolled", "an authenticator app is already enrolled; an operator resets it with portcullis users totp reset", nil)
	default:
		s.log.ErrorContext(r.Context(), "TOTP enrollment", "request_id", w.Header().Get("X-Request-Id"), "path", r.URL.Path, "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the otp backend is unavailable; try again later", nil)
	}
}

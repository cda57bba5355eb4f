package mobiledevice

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/internal/devicesig"
	"github.com/portcullis-auth/portcullis/sdk"
)

// authenticateArgs are device_authenticate's Args: the device id alone
// with the token in AdminRequest.Secret, or a signed request's parts.
type authenticateArgs struct {
	DeviceID string `json:"device_id"`
	// Nonce is the nonce the request was signed with (device_nonce's).
	Nonce string `json:"nonce"`
	// Signature is the Ed25519 signature of devicesig.Message, base64url
	// without padding.
	Signature string `json:"signature"`
	// Method, Target and BodySHA256 are the request's method, its target
	// (path and query as sent) and devicesig.BodyHash of its body.
	Method     string `json:"method"`
	Target     string `json:"target"`
	BodySHA256 string `json:"body_sha256"`
}

// authenticateResult is device_authenticate's Result.
type authenticateResult struct {
	DeviceID string `json:"device_id"`
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

// errDenied is every failed proof of a device: its message says nothing
// of why, so that it tells a prober neither which devices exist nor what
// was wrong. The log says why, without a secret.
var errDenied = fmt.Errorf("%w: the device could not be authenticated", sdk.ErrPermissionDenied)

// maxSignatureText bounds a signature as text before it is decoded: a
// 64-byte signature is 86 characters.
const maxSignatureText = 128

func (p *Plugin) authenticateCommand(ctx context.Context, raw []byte, token string) (authenticateResult, string, error) {
	var a authenticateArgs
	if err := decodeArgs(CommandAuthenticate, raw, &a); err != nil {
		return authenticateResult{}, "", err
	}
	if err := checkDeviceID(a.DeviceID); err != nil {
		return authenticateResult{}, "", err
	}
	signed := a.Nonce != "" || a.Signature != "" || a.Method != "" || a.Target != "" || a.BodySHA256 != ""
	switch {
	case signed && token != "":
		return authenticateResult{}, "", invalid("give the device token (the secret) or a signature, not both")
	case !signed && token == "":
		return authenticateResult{}, "", invalid("the device token (the secret) or a signed request (nonce, signature, method, target, body_sha256) is required")
	case signed && (a.Nonce == "" || a.Signature == "" || a.Method == "" || a.Target == ""):
		return authenticateResult{}, "", invalid("a signed request needs nonce, signature, method, target and body_sha256")
	case signed && !validBodyHash(a.BodySHA256):
		return authenticateResult{}, "", invalid("body_sha256 must be the SHA-256 of the body in 64 lower-case hex digits")
	}
	var d *device
	var stored []byte
	var err error
	if signed {
		d, stored, err = p.verifySignature(ctx, a)
	} else {
		d, stored, err = p.verifyToken(ctx, a.DeviceID, token)
	}
	if err != nil {
		return authenticateResult{}, "", err
	}
	p.touch(ctx, d, stored)
	return authenticateResult{DeviceID: d.DeviceID, UserID: d.UserID, Username: d.Username, Name: d.Name}, "Device authenticated.", nil
}

// validBodyHash reports whether h is a hex SHA-256 as devicesig.BodyHash
// writes it.
func validBodyHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := range len(h) {
		if c := h[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// storedHash is the token hash a token is checked against: d's, or
// absentHash for a device that does not exist or has no token.
func storedHash(d *device) string {
	if d == nil || d.KeyType != KeyToken {
		return absentHash
	}
	return d.TokenHash
}

// verifyToken returns the active token device id whose token is token,
// and its stored bytes, or errDenied. An unknown device's check hashes
// and compares as a known one's does.
func (p *Plugin) verifyToken(ctx context.Context, id, token string) (*device, []byte, error) {
	d, stored, err := p.load(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	ok := tokenMatches(storedHash(d), token)
	if why := refusal(d, KeyToken, ok); why != "" {
		p.log.Info("mobiledevice: a device token was refused", "device_id", id, "why", why)
		return nil, nil, errDenied
	}
	return d, stored, nil
}

// verifySignature returns the active ed25519 device that signed the
// request a describes, and its stored bytes, or errDenied. The nonce must
// be one this plugin issued for this device, unexpired; it is marked
// used only once the signature verified, so that nobody can spend a
// device's nonce without its key.
func (p *Plugin) verifySignature(ctx context.Context, a authenticateArgs) (*device, []byte, error) {
	key, err := p.nonceKey(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, stored, err := p.load(ctx, a.DeviceID)
	if err != nil {
		return nil, nil, err
	}
	expires, nonceOK := checkNonce(key, a.DeviceID, a.Nonce, p.now())
	sigOK := false
	if len(a.Signature) <= maxSignatureText {
		sig, err := base64.RawURLEncoding.Strict().DecodeString(a.Signature)
		msg := devicesig.Message(a.Method, a.Target, a.BodySHA256, a.Nonce)
		sigOK = err == nil && len(sig) == ed25519.SignatureSize && ed25519.Verify(d.publicKey(), msg, sig)
	}
	why := refusal(d, KeyEd25519, sigOK)
	if why == "" && !nonceOK {
		why = "bad_nonce" // forged, expired, or another device's
	}
	if why == "" {
		fresh, err := p.markUsed(ctx, a.Nonce, expires)
		if err != nil {
			return nil, nil, err
		}
		if !fresh {
			why = "nonce_used"
		}
	}
	if why != "" {
		p.log.Info("mobiledevice: a signed request was refused", "device_id", a.DeviceID, "why", why)
		return nil, nil, errDenied
	}
	return d, stored, nil
}

// refusal says why device d cannot be authenticated by a proof of
// keyType that did (ok) or did not match: "" when it can.
func refusal(d *device, keyType string, ok bool) string {
	switch {
	case d == nil:
		return "unknown_device"
	case !d.Active:
		return "inactive"
	case d.KeyType != keyType:
		return "wrong_key_type"
	case !ok:
		return "wrong_proof"
	}
	return ""
}

// Authenticate implements sdk.Authenticator: django-auth-token's
// DeviceBackend. A login whose credentials have no device_id is not this
// backend's (abstain, no reason). Otherwise it grants the user named by
// the login's username if device_id is their active token device and
// device_token its token, and the user is not disabled; anything else
// abstains with sdk.ReasonInvalidCredentials, which the host counts as a
// failed login. The password is not looked at.
func (p *Plugin) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	if err := p.ready(); err != nil {
		return err
	}
	id := req.Credentials["device_id"]
	if id == "" {
		resp.Abstain("")
		return nil
	}
	var d *device
	var stored []byte
	if validDeviceID(id) {
		var err error
		if d, stored, err = p.load(ctx, id); err != nil {
			return err
		}
	}
	ok := tokenMatches(storedHash(d), req.Credentials["device_token"])
	user, found, err := p.lookupUser(ctx, req.Username)
	if err != nil {
		return err
	}
	why := refusal(d, KeyToken, ok)
	switch {
	case why != "":
	case !found || d.UserID != user.ID:
		why = "not_the_users_device"
	case user.Disabled:
		why = "user_disabled"
	}
	if why != "" {
		p.log.Debug("mobiledevice: a device login was refused", "device_id", shownID(id), "why", why)
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	p.touch(ctx, d, stored)
	resp.Grant(sdk.Identity{Subject: user.ID, Username: user.Username, Attributes: map[string]string{"device_id": d.DeviceID}})
	return nil
}

// lookupUser looks the login's user up. A user that does not exist, or a
// name the host refuses to look up, is not found; any other failure is
// returned, and the host fails the login closed.
func (p *Plugin) lookupUser(ctx context.Context, username string) (sdk.User, bool, error) {
	if username == "" {
		return sdk.User{}, false, nil
	}
	u, err := p.host.Users().LookupUser(ctx, username)
	switch {
	case err == nil:
		return u, true, nil
	case errors.Is(err, sdk.ErrNotFound), errors.Is(err, sdk.ErrInvalidArgument):
		return sdk.User{}, false, nil
	}
	return sdk.User{}, false, fmt.Errorf("mobiledevice: looking up the user: %w", err)
}

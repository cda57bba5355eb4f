package otp

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net/url"
	"strings"

	"github.com/pquerna/otp"

	"github.com/portcullis-auth/portcullis/sdk"
)

// The admin commands (sdk.Admin) the plugin answers: the plugin's side of
// TOTP enrollment. The host's enrollment endpoints and command line call
// them; every one takes Args {"user_id": "..."} and refuses a missing
// user_id with sdk.ErrInvalidArgument.
const (
	// CommandTOTPEnroll starts, or starts again, the user's unconfirmed
	// enrollment with a new secret. Args also hold "username" (required:
	// the account name the app shows) and "issuer" (default
	// DefaultIssuer). Result: {"secret", "otpauth_uri", "qr_png"}, the
	// secret in base32, its otpauth:// URI, and a 256x256 PNG QR code of
	// the URI in base64, to be shown to the user this once. A confirmed
	// enrollment is sdk.ErrConflict: an operator resets it first.
	CommandTOTPEnroll = "totp_enroll"
	// CommandTOTPConfirm confirms the user's enrollment with a code of the
	// app, in AdminRequest.Secret (within one step of now; its step
	// counts as used). Result: {"recovery_codes": [10 codes]}, shown this
	// once and kept only as keyed hashes. A wrong code is
	// sdk.ErrInvalidArgument, no enrollment sdk.ErrNotFound, a confirmed
	// one sdk.ErrConflict.
	CommandTOTPConfirm = "totp_confirm"
	// CommandTOTPStatus reports {"enrolled": bool, "recovery_codes_left":
	// n}; enrolled only once confirmed.
	CommandTOTPStatus = "totp_status"
	// CommandTOTPReset removes the user's enrollment, confirmed or not:
	// {"removed": bool}.
	CommandTOTPReset = "totp_reset"
)

// DefaultIssuer is the issuer of an enrollment whose Args name none.
const DefaultIssuer = "Portcullis"

// qrSize is the width and height of the QR code's image, in pixels, of
// which qrMargin on each side is white: the quiet zone scanners need.
const (
	qrSize   = 256
	qrMargin = 16
)

// maxLabel bounds the issuer and the username, which go into the otpauth
// URI and its QR code.
const maxLabel = 255

// totpArgs are the Args of the TOTP commands.
type totpArgs struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	Issuer   string `json:"issuer"`
}

// Admin implements sdk.Admin: the TOTP commands. Their Messages never
// hold a secret, a code or a recovery code.
func (p *Plugin) Admin(ctx context.Context, req *sdk.AdminRequest, resp *sdk.AdminResponse) error {
	if p.settings == nil {
		return fmt.Errorf("%w: the otp backend is not configured", sdk.ErrUnavailable)
	}
	switch req.Command {
	case CommandTOTPEnroll, CommandTOTPConfirm, CommandTOTPStatus, CommandTOTPReset:
	default:
		return fmt.Errorf("%w: the otp backend has no command %q", sdk.ErrUnimplemented, req.Command)
	}
	args, err := decodeTOTPArgs(req.Args)
	if err != nil {
		return err
	}
	var result any
	switch req.Command {
	case CommandTOTPEnroll:
		result, resp.Message, err = p.enroll(ctx, args)
	case CommandTOTPConfirm:
		result, resp.Message, err = p.confirm(ctx, args.UserID, req.Secret)
	case CommandTOTPStatus:
		result, resp.Message, err = p.status(ctx, args.UserID)
	case CommandTOTPReset:
		result, resp.Message, err = p.reset(ctx, args.UserID)
	}
	if err != nil {
		resp.Message = ""
		return err
	}
	resp.Result, err = json.Marshal(result)
	return err
}

// decodeTOTPArgs decodes Args strictly and requires user_id.
func decodeTOTPArgs(raw json.RawMessage) (totpArgs, error) {
	var a totpArgs
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			return totpArgs{}, fmt.Errorf("%w: the arguments must be a JSON object of user_id, username and issuer", sdk.ErrInvalidArgument)
		}
	}
	if a.UserID == "" {
		return totpArgs{}, fmt.Errorf("%w: user_id is required", sdk.ErrInvalidArgument)
	}
	return a, nil
}

// enrollResult is totp_enroll's Result.
type enrollResult struct {
	Secret string `json:"secret"`
	URI    string `json:"otpauth_uri"`
	QRPNG  string `json:"qr_png"`
}

func (p *Plugin) enroll(ctx context.Context, a totpArgs) (enrollResult, string, error) {
	if a.Issuer == "" {
		a.Issuer = DefaultIssuer
	}
	switch {
	case a.Username == "":
		return enrollResult{}, "", fmt.Errorf("%w: username is required: the app shows it", sdk.ErrInvalidArgument)
	case len(a.Username) > maxLabel || len(a.Issuer) > maxLabel:
		return enrollResult{}, "", fmt.Errorf("%w: username and issuer must be at most %d bytes", sdk.ErrInvalidArgument, maxLabel)
	}
	key, err := p.hashKey(ctx)
	if err != nil {
		return enrollResult{}, "", err
	}
	secret := make([]byte, totpSecretBytes)
	if _, err := io.ReadFull(p.random, secret); err != nil {
		return enrollResult{}, "", fmt.Errorf("otp: reading random bytes: %w", err)
	}
	defer clear(secret)
	sealed, err := seal(key, p.random, a.UserID, secret)
	if err != nil {
		return enrollResult{}, "", err
	}
	err = p.update(ctx, a.UserID, func(old *record) (*record, error) {
		if old != nil && old.Confirmed {
			return nil, fmt.Errorf("%w: the user already has a confirmed TOTP enrollment; reset it first", sdk.ErrConflict)
		}
		return &record{Version: recordVersion, Sealed: sealed}, nil
	})
	if err != nil {
		return enrollResult{}, "", err
	}
	encoded := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	uri := otpauthURI(a.Issuer, a.Username, encoded)
	qr, err := qrPNG(uri)
	if err != nil {
		return enrollResult{}, "", err
	}
	p.log.Info("otp: TOTP enrollment started", "user_id", a.UserID)
	return enrollResult{Secret: encoded, URI: uri, QRPNG: qr},
		"TOTP enrollment started; it is confirmed with a first code from the app.", nil
}

// otpauthURI is the Key URI of Google Authenticator's format
// (otpauth://totp/ISSUER:NAME?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30),
// with the label's parts and the parameters percent-encoded (a colon in
// either part too, so that it does not split the label).
func otpauthURI(issuer, username, secret string) string {
	label := func(s string) string { return strings.ReplaceAll(url.PathEscape(s), ":", "%3A") }
	param := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	return fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&algorithm=SHA1&digits=%d&period=%d",
		label(issuer), label(username), secret, param(issuer), totpDigits, totpPeriod)
}

// qrPNG is the QR code of uri, a qrSize-pixel square PNG with a white
// margin, in base64.
func qrPNG(uri string) (string, error) {
	k, err := otp.NewKeyFromURL(uri)
	if err != nil {
		return "", fmt.Errorf("otp: the otpauth URI: %w", err)
	}
	code, err := k.Image(qrSize-2*qrMargin, qrSize-2*qrMargin)
	if err != nil {
		return "", fmt.Errorf("otp: drawing the QR code: %w", err)
	}
	img := image.NewGray(image.Rect(0, 0, qrSize, qrSize))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(img, code.Bounds().Add(image.Pt(qrMargin, qrMargin)), code, code.Bounds().Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", fmt.Errorf("otp: encoding the QR code: %w", err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// confirmResult is totp_confirm's Result.
type confirmResult struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func (p *Plugin) confirm(ctx context.Context, userID, code string) (confirmResult, string, error) {
	if code == "" {
		return confirmResult{}, "", fmt.Errorf("%w: the code from the app is required", sdk.ErrInvalidArgument)
	}
	key, err := p.hashKey(ctx)
	if err != nil {
		return confirmResult{}, "", err
	}
	codes, err := newRecoveryCodes(p.random)
	if err != nil {
		return confirmResult{}, "", err
	}
	hashes := make([]recoveryHash, len(codes))
	for i, c := range codes {
		canonical, _ := canonicalRecovery(c)
		hashes[i] = recoveryHash{MAC: recoveryMAC(key, userID, canonical)}
	}
	err = p.update(ctx, userID, func(old *record) (*record, error) {
		switch {
		case old == nil:
			return nil, fmt.Errorf("%w: the user has no TOTP enrollment to confirm; start one with %s", sdk.ErrNotFound, CommandTOTPEnroll)
		case old.Confirmed:
			return nil, fmt.Errorf("%w: the user's TOTP enrollment is already confirmed", sdk.ErrConflict)
		}
		secret, err := open(key, userID, old.Sealed)
		if err != nil {
			return nil, err
		}
		s, ok, _, err := matchStep(secret, code, p.now(), old.LastStep)
		clear(secret)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: the code is wrong", sdk.ErrInvalidArgument)
		}
		return &record{Version: recordVersion, Sealed: old.Sealed, Confirmed: true, LastStep: s, Recovery: hashes}, nil
	})
	if err != nil {
		return confirmResult{}, "", err
	}
	p.log.Info("otp: TOTP enrollment confirmed", "user_id", userID)
	return confirmResult{RecoveryCodes: codes},
		fmt.Sprintf("TOTP enrollment confirmed; %d recovery codes made, shown this once.", len(codes)), nil
}

// statusResult is totp_status's Result.
type statusResult struct {
	Enrolled          bool `json:"enrolled"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

func (p *Plugin) status(ctx context.Context, userID string) (statusResult, string, error) {
	r, _, err := p.load(ctx, userID)
	switch {
	case err != nil:
		return statusResult{}, "", err
	case r == nil:
		return statusResult{}, "No TOTP enrollment.", nil
	case !r.Confirmed:
		return statusResult{}, "A TOTP enrollment is started but not confirmed.", nil
	}
	left := r.recoveryLeft()
	return statusResult{Enrolled: true, RecoveryCodesLeft: left},
		fmt.Sprintf("TOTP enrolled; %d of %d recovery codes left.", left, len(r.Recovery)), nil
}

// resetResult is totp_reset's Result.
type resetResult struct {
	Removed bool `json:"removed"`
}

func (p *Plugin) reset(ctx context.Context, userID string) (resetResult, string, error) {
	removed, err := p.storage.Delete(ctx, recordKey(userID))
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		return resetResult{}, "", fmt.Errorf("otp: removing the TOTP record: %w", err)
	}
	if !removed {
		return resetResult{}, "No TOTP enrollment to remove.", nil
	}
	p.log.Info("otp: TOTP enrollment removed", "user_id", userID)
	return resetResult{Removed: true}, "TOTP enrollment removed; the user can enroll again.", nil
}

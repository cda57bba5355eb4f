package otp

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/authreq"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// t0 is the tests' time: 10 s into a TOTP step.
var t0 = time.Date(2026, 12, 5, 9, 0, 10, 0, time.UTC)

// totpRig is a configured plugin, served in-process on a MemoryHost
// with a clock the test moves, and the receiver of its delivered codes.
type totpRig struct {
	t     *testing.T
	r     *receiver
	host  *sdktest.MemoryHost
	clock *sdktest.Clock
	admin sdk.Admin
	b     sdk.AuthorizationRequestBackend
}

func newTOTPRig(t *testing.T) *totpRig {
	g := &totpRig{t: t, r: newReceiver(t), host: sdktest.NewMemoryHost(), clock: sdktest.NewClock(t0)}
	g.start()
	return g
}

// start serves another plugin (another host) on the rig's storage and
// clock, and makes it the rig's.
func (g *totpRig) start() {
	p := quiet()
	p.now = g.clock.Now
	remote := sdktest.Start(g.t, p, g.r.config(""), g.host)
	g.admin, g.b = remote.Admin(), remote.AuthorizationRequestBackend()
}

// run runs a command with the args of userID (and username alice).
func (g *totpRig) run(command, userID, secret string) (json.RawMessage, string, error) {
	args, _ := json.Marshal(totpArgs{UserID: userID, Username: "alice", Issuer: "Portcullis"})
	var resp sdk.AdminResponse
	err := g.admin.Admin(context.Background(), &sdk.AdminRequest{Command: command, Args: args, Secret: secret}, &resp)
	return resp.Result, resp.Message, err
}

// enroll starts userID's enrollment and returns its result.
func (g *totpRig) enroll(userID string) enrollResult {
	g.t.Helper()
	raw, _, err := g.run(CommandTOTPEnroll, userID, "")
	if err != nil {
		g.t.Fatalf("totp_enroll: %v", err)
	}
	var out enrollResult
	if err := json.Unmarshal(raw, &out); err != nil {
		g.t.Fatal(err)
	}
	return out
}

// confirm confirms userID's enrollment with the app's current code and
// returns the recovery codes.
func (g *totpRig) confirm(userID, secret string) []string {
	g.t.Helper()
	raw, _, err := g.run(CommandTOTPConfirm, userID, codeAt(g.t, secret, g.clock.Now()))
	if err != nil {
		g.t.Fatalf("totp_confirm: %v", err)
	}
	var out confirmResult
	if err := json.Unmarshal(raw, &out); err != nil {
		g.t.Fatal(err)
	}
	return out.RecoveryCodes
}

// status returns userID's totp_status.
func (g *totpRig) status(userID string) statusResult {
	g.t.Helper()
	raw, _, err := g.run(CommandTOTPStatus, userID, "")
	if err != nil {
		g.t.Fatalf("totp_status: %v", err)
	}
	var out statusResult
	if err := json.Unmarshal(raw, &out); err != nil {
		g.t.Fatal(err)
	}
	return out
}

// codeAt is the code an authenticator app shows at a time, as pquerna/otp
// computes it from the enrollment's secret.
func codeAt(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestEnrollment(t *testing.T) {
	g := newTOTPRig(t)
	if st := g.status("u-alice"); st.Enrolled || st.RecoveryCodesLeft != 0 {
		t.Fatalf("before enrolling: %+v", st)
	}
	e := g.enroll("u-alice")
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil || len(raw) != totpSecretBytes {
		t.Fatalf("secret %q: %d bytes, %v", e.Secret, len(raw), err)
	}
	wantURI := "otpauth://totp/Portcullis:alice?secret=" + e.Secret + "&issuer=Portcullis&algorithm=SHA1&digits=6&period=30"
	if e.URI != wantURI {
		t.Errorf("otpauth_uri %q, want %q", e.URI, wantURI)
	}
	pngBytes, err := base64.StdEncoding.DecodeString(e.QRPNG)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil || img.Bounds().Dx() != qrSize || img.Bounds().Dy() != qrSize {
		t.Fatalf("qr_png: %v, %v", img.Bounds(), err)
	}
	if st := g.status("u-alice"); st.Enrolled {
		t.Fatal("an unconfirmed enrollment is enrolled")
	}

	// A wrong code does not confirm; the app's code does, once.
	wrong := changeFirst(codeAt(t, e.Secret, g.clock.Now()))
	if _, _, err := g.run(CommandTOTPConfirm, "u-alice", wrong); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("a wrong code: %v, want sdk.ErrInvalidArgument", err)
	}
	codes := g.confirm("u-alice", e.Secret)
	if len(codes) != recoveryCount {
		t.Fatalf("%d recovery codes, want %d", len(codes), recoveryCount)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 11 || c[5] != '-' || strings.Trim(c[:5]+c[6:], recoveryAlphabet) != "" || seen[c] {
			t.Errorf("recovery code %q", c)
		}
		seen[c] = true
	}
	if st := g.status("u-alice"); !st.Enrolled || st.RecoveryCodesLeft != recoveryCount {
		t.Fatalf("after confirming: %+v", st)
	}
	if _, _, err := g.run(CommandTOTPConfirm, "u-alice", codeAt(t, e.Secret, g.clock.Now())); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("confirming again: %v, want sdk.ErrConflict", err)
	}
	if _, _, err := g.run(CommandTOTPEnroll, "u-alice", ""); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("enrolling again: %v, want sdk.ErrConflict", err)
	}

	// A reset removes it; then it is gone, and the user can enroll again.
	for _, want := range []bool{true, false} {
		raw, msg, err := g.run(CommandTOTPReset, "u-alice", "")
		var out resetResult
		if err != nil || json.Unmarshal(raw, &out) != nil || out.Removed != want || msg == "" {
			t.Fatalf("reset: %s %q %v, want removed %v", raw, msg, err, want)
		}
	}
	if st := g.status("u-alice"); st.Enrolled {
		t.Fatal("enrolled after a reset")
	}
	if again := g.enroll("u-alice"); again.Secret == e.Secret {
		t.Error("a new enrollment has the old secret")
	}
}

func TestEnrollmentRestarts(t *testing.T) {
	// An unconfirmed enrollment started again has a new secret: the old
	// one's code no longer confirms.
	g := newTOTPRig(t)
	first := g.enroll("u-alice")
	second := g.enroll("u-alice")
	if first.Secret == second.Secret {
		t.Fatal("the same secret twice")
	}
	if _, _, err := g.run(CommandTOTPConfirm, "u-alice", codeAt(t, first.Secret, g.clock.Now())); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("the first secret's code: %v, want sdk.ErrInvalidArgument", err)
	}
	g.confirm("u-alice", second.Secret)
}

func TestCommandErrors(t *testing.T) {
	g := newTOTPRig(t)
	ctx := context.Background()
	run := func(command, args, secret string) error {
		var resp sdk.AdminResponse
		return g.admin.Admin(ctx, &sdk.AdminRequest{Command: command, Args: json.RawMessage(args), Secret: secret}, &resp)
	}
	for _, command := range []string{CommandTOTPEnroll, CommandTOTPConfirm, CommandTOTPStatus, CommandTOTPReset} {
		for _, args := range []string{`{}`, ``, `{"user_id":""}`, `{"username":"alice"}`, `{"user_id":"u-alice","other":1}`, `[1]`} {
			if err := run(command, args, "123456"); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("%s %s: %v, want sdk.ErrInvalidArgument", command, args, err)
			}
		}
	}
	tests := []struct {
		name, command, args, secret string
		want                        error
	}{
		{"unknown command", "hash_password", `{"user_id":"u"}`, "", sdk.ErrUnimplemented},
		{"enroll without username", CommandTOTPEnroll, `{"user_id":"u"}`, "", sdk.ErrInvalidArgument},
		{"enroll with a long username", CommandTOTPEnroll, `{"user_id":"u","username":"` + strings.Repeat("a", 256) + `"}`, "", sdk.ErrInvalidArgument},
		{"confirm without enrolling", CommandTOTPConfirm, `{"user_id":"u"}`, "123456", sdk.ErrNotFound},
		{"confirm without a code", CommandTOTPConfirm, `{"user_id":"u"}`, "", sdk.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := run(tt.command, tt.args, tt.secret); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	var resp sdk.AdminResponse
	if err := quiet().Admin(ctx, &sdk.AdminRequest{Command: CommandTOTPStatus, Args: json.RawMessage(`{"user_id":"u"}`)}, &resp); !errors.Is(err, sdk.ErrUnavailable) {
		t.Errorf("unconfigured: %v", err)
	}
}

func TestOtpauthURI(t *testing.T) {
	// The label's parts and the parameters are escaped: a colon, a space,
	// & and ? do not change what the URI says; the issuer parameter is
	// the issuer.
	uri := otpauthURI("Acme: Bank & Co?", "a:b c@example.com", "JBSWY3DPEHPK3PXP")
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Scheme != "otpauth" || u.Host != "totp" || q.Get("issuer") != "Acme: Bank & Co?" || q.Get("secret") != "JBSWY3DPEHPK3PXP" || len(q) != 5 {
		t.Errorf("%s: %+v", uri, q)
	}
	if issuer, name, ok := strings.Cut(u.EscapedPath()[1:], ":"); !ok || strings.Contains(name, ":") {
		t.Errorf("label %q does not split in two at one colon", u.EscapedPath())
	} else if i, _ := url.PathUnescape(issuer); i != "Acme: Bank & Co?" {
		t.Errorf("issuer %q", i)
	} else if n, _ := url.PathUnescape(name); n != "a:b c@example.com" {
		t.Errorf("name %q", n)
	}
	if strings.Contains(uri, "+") || strings.Contains(uri, " ") {
		t.Errorf("%s: a space must be %%20", uri)
	}
	k, err := otp.NewKeyFromURL(uri)
	if err != nil || k.Issuer() != "Acme: Bank & Co?" || k.Period() != 30 || k.Digits() != otp.DigitsSix || k.Algorithm() != otp.AlgorithmSHA1 {
		t.Errorf("pquerna/otp reads %v: issuer %q, %v", k, k.Issuer(), err)
	}
}

func TestSecretIsSealed(t *testing.T) {
	ctx := context.Background()
	g := newTOTPRig(t)
	e := g.enroll("u-alice")
	g.confirm("u-alice", e.Secret)
	stored, err := g.host.Storage().Get(ctx, recordKey("u-alice"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	for _, form := range []string{e.Secret, strings.ToLower(e.Secret), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw), string(raw)} {
		if bytes.Contains(stored.Value, []byte(form)) {
			t.Fatalf("the stored record %s holds the secret in clear", stored.Value)
		}
	}
	r, err := decodeRecord(stored.Value)
	if err != nil || !r.Confirmed || len(r.Recovery) != recoveryCount {
		t.Fatalf("record %+v, %v", r, err)
	}

	// Sealed for alice, it does not open as another user's: a record
	// copied to bob's key is an error, never a valid code.
	if err := g.host.Storage().Put(ctx, recordKey("u-bob"), stored.Value, 0); err != nil {
		t.Fatal(err)
	}
	bob := request("bob", 0)
	bob.UserID, bob.Username = "u-bob", "bob"
	ch, err := g.b.PrepareChallenge(ctx, bob)
	if err != nil || ch.Delivery != DeliveryTOTP {
		t.Fatalf("bob's challenge: %+v, %v", ch, err)
	}
	if v, err := g.b.CheckAnswer(ctx, bob, ch.State, authreq.Answer{Code: codeAt(t, e.Secret, g.clock.Now().Add(time.Minute))}); err == nil || v.Valid {
		t.Fatalf("alice's secret checked bob's code: %+v, %v", v, err)
	}
}

func TestMessagesHoldNoSecret(t *testing.T) {
	p, log := withLog()
	clock := sdktest.NewClock(t0)
	p.now = clock.Now
	r := newReceiver(t)
	admin := sdktest.Start(t, p, r.config(""), nil).Admin()
	ctx := context.Background()
	args := json.RawMessage(`{"user_id":"u-alice","username":"alice"}`)
	var enrolled sdk.AdminResponse
	if err := admin.Admin(ctx, &sdk.AdminRequest{Command: CommandTOTPEnroll, Args: args}, &enrolled); err != nil {
		t.Fatal(err)
	}
	var e enrollResult
	_ = json.Unmarshal(enrolled.Result, &e)
	code := codeAt(t, e.Secret, clock.Now())
	var confirmed sdk.AdminResponse
	if err := admin.Admin(ctx, &sdk.AdminRequest{Command: CommandTOTPConfirm, Args: args, Secret: code}, &confirmed); err != nil {
		t.Fatal(err)
	}
	var c confirmResult
	_ = json.Unmarshal(confirmed.Result, &c)
	texts := []string{enrolled.Message, confirmed.Message, log.String()}
	for _, secret := range append([]string{e.Secret, code}, c.RecoveryCodes...) {
		if contains(secret, texts...) {
			t.Errorf("a secret %q is in a message or the log: %q", secret, texts)
		}
	}
	if !strings.Contains(log.String(), "TOTP enrollment confirmed") {
		t.Errorf("no log line of the confirmation: %s", log.String())
	}
}

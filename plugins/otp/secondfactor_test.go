package otp

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk/authreq"
)

// enrolled returns a rig with alice enrolled and confirmed at t0, its
// clock then a minute on (so that the confirming code is in the past),
// her secret and her recovery codes.
func enrolled(t *testing.T) (*totpRig, string, []string) {
	g := newTOTPRig(t)
	e := g.enroll("u-alice")
	codes := g.confirm("u-alice", e.Secret)
	g.clock.Advance(time.Minute)
	return g, e.Secret, codes
}

// prepare prepares a TOTP challenge for a new 2FA request of alice.
func (g *totpRig) prepare(id string) (*authreq.Request, authreq.Challenge) {
	g.t.Helper()
	req := request(id, 0)
	ch, err := g.b.PrepareChallenge(context.Background(), req)
	if err != nil {
		g.t.Fatal(err)
	}
	if ch.Delivery != DeliveryTOTP {
		g.t.Fatalf("delivery %q, want %q", ch.Delivery, DeliveryTOTP)
	}
	return req, ch
}

// check checks one answer on a new challenge.
func (g *totpRig) check(id, code string) authreq.Verdict {
	g.t.Helper()
	req, ch := g.prepare(id)
	v, err := g.b.CheckAnswer(context.Background(), req, ch.State, authreq.Answer{Code: code})
	if err != nil {
		g.t.Fatalf("%s: %v", id, err)
	}
	return v
}

func TestTOTPChallenge(t *testing.T) {
	g, secret, _ := enrolled(t)
	ctx := context.Background()
	req, ch := g.prepare("totp")
	if n := len(g.r.deliveries()); n != 0 {
		t.Fatalf("%d codes delivered to a user who enrolled TOTP", n)
	}
	if strings.Contains(string(ch.State), "mac") {
		t.Errorf("a TOTP state %s holds a hash", ch.State)
	}
	now := g.clock.Now()
	code := codeAt(t, secret, now)
	for _, bad := range []string{"", changeFirst(code), " " + code, code + "0", "abcdef"} {
		if v, err := g.b.CheckAnswer(ctx, req, ch.State, authreq.Answer{Code: bad}); err != nil || v.Valid || v.Reason != ReasonInvalidCode {
			t.Errorf("%q: %+v, %v", bad, v, err)
		}
	}
	used, err := g.b.CheckAnswer(ctx, req, ch.State, authreq.Answer{Code: code})
	if err != nil || !used.Valid || used.State == nil {
		t.Fatalf("the current code: %+v, %v", used, err)
	}
	if v, err := g.b.CheckAnswer(ctx, req, used.State, authreq.Answer{Code: code}); err != nil || v.Valid || v.Reason != ReasonCodeUsed {
		t.Errorf("the used state: %+v, %v", v, err)
	}
	// The same code on another request of the user is a replay.
	if v := g.check("replay", code); v.Valid || v.Reason != ReasonCodeUsed {
		t.Errorf("the code again: %+v, want %s", v, ReasonCodeUsed)
	}
	// Another generation is another challenge: the old state does not
	// check it.
	next := request("totp", 1)
	if v, err := g.b.CheckAnswer(ctx, next, ch.State, authreq.Answer{Code: codeAt(t, secret, now.Add(30*time.Second))}); err != nil || v.Valid {
		t.Errorf("generation 0's state for generation 1: %+v, %v", v, err)
	}
	// A request of another kind than 2FA is a delivered code.
	other := request("transfer", 0)
	other.Slug = "transfer"
	if ch, err := g.b.PrepareChallenge(ctx, other); err != nil || ch.Delivery != "webhook" {
		t.Errorf("a transfer's challenge: %+v, %v", ch, err)
	}
}

func TestTOTPSkewAndReplay(t *testing.T) {
	g, secret, _ := enrolled(t)
	now := g.clock.Now()
	at := func(steps int) string { return codeAt(t, secret, now.Add(time.Duration(steps)*30*time.Second)) }
	tests := []struct {
		name   string
		code   string
		valid  bool
		reason string
	}{
		{"2 steps old", at(-2), false, ReasonInvalidCode},
		{"2 steps ahead", at(2), false, ReasonInvalidCode},
		{"1 step old", at(-1), true, ""},
		{"1 step old again", at(-1), false, ReasonCodeUsed},
		{"current", at(0), true, ""},
		{"1 step old after the current", at(-1), false, ReasonCodeUsed},
		{"current again", at(0), false, ReasonCodeUsed},
		{"1 step ahead", at(1), true, ""},
		{"current after 1 step ahead", at(0), false, ReasonCodeUsed},
	}
	for i, tt := range tests {
		v := g.check("skew-"+string(rune('a'+i)), tt.code)
		if v.Valid != tt.valid || v.Reason != tt.reason {
			t.Errorf("%s: %+v, want valid %v %q", tt.name, v, tt.valid, tt.reason)
		}
	}
	// Time goes on: the next step's code is valid.
	g.clock.Advance(60 * time.Second)
	if v := g.check("later", codeAt(t, secret, g.clock.Now())); !v.Valid {
		t.Errorf("a later code: %+v", v)
	}
}

func TestRecoveryCodes(t *testing.T) {
	g, _, codes := enrolled(t)
	typed := []string{codes[0], strings.ToUpper(codes[1]), strings.ReplaceAll(codes[2], "-", ""), strings.ReplaceAll(codes[3], "-", " ")}
	for i, code := range typed {
		if v := g.check("recovery-"+string(rune('a'+i)), code); !v.Valid {
			t.Errorf("recovery code %q: %+v", code, v)
		}
	}
	if v := g.check("recovery-again", codes[0]); v.Valid || v.Reason != ReasonInvalidCode {
		t.Errorf("a used recovery code: %+v", v)
	}
	wrong := "aaaaa-aaaaa"
	if v := g.check("recovery-wrong", wrong); v.Valid {
		t.Errorf("a wrong recovery code: %+v", v)
	}
	if st := g.status("u-alice"); st.RecoveryCodesLeft != recoveryCount-len(typed) || !st.Enrolled {
		t.Errorf("status %+v, want %d codes left", st, recoveryCount-len(typed))
	}
	// Alice's recovery codes are not bob's.
	g.confirm("u-bob", g.enroll("u-bob").Secret)
	bob := request("recovery-bob", 0)
	bob.UserID, bob.Username = "u-bob", "bob"
	ch, err := g.b.PrepareChallenge(context.Background(), bob)
	if err != nil || ch.Delivery != DeliveryTOTP {
		t.Fatalf("bob's challenge: %+v, %v", ch, err)
	}
	if v, err := g.b.CheckAnswer(context.Background(), bob, ch.State, authreq.Answer{Code: codes[5]}); err != nil || v.Valid {
		t.Errorf("alice's recovery code for bob: %+v, %v", v, err)
	}
	if v := g.check("recovery-alice", codes[5]); !v.Valid {
		t.Errorf("alice's own code: %+v", v)
	}
}

func TestTOTPUnenrolledUsers(t *testing.T) {
	ctx := context.Background()
	g := newTOTPRig(t)
	// An unconfirmed enrollment is not a second factor: a code is sent.
	g.enroll("u-alice")
	req := request("pending", 0)
	ch, err := g.b.PrepareChallenge(ctx, req)
	if err != nil || ch.Delivery != "webhook" || len(g.r.deliveries()) != 1 {
		t.Fatalf("a pending enrollment's challenge: %+v, %v", ch, err)
	}
	if v, err := g.b.CheckAnswer(ctx, req, ch.State, g.r.answer(t, req, ch)); err != nil || !v.Valid {
		t.Fatalf("the delivered code: %+v, %v", v, err)
	}

	// Reset between the challenge and the answer: the TOTP challenge
	// checks nothing any more.
	g2, secret, _ := enrolled(t)
	req, ch = g2.prepare("reset")
	if _, _, err := g2.run(CommandTOTPReset, "u-alice", ""); err != nil {
		t.Fatal(err)
	}
	if v, err := g2.b.CheckAnswer(ctx, req, ch.State, authreq.Answer{Code: codeAt(t, secret, g2.clock.Now())}); err != nil || v.Valid || v.Reason != ReasonNotEnrolled {
		t.Fatalf("after a reset: %+v, %v", v, err)
	}
}

func TestTOTPCodeIsAcceptedOnce(t *testing.T) {
	// Many checks of one code at once, on two hosts sharing the storage,
	// each on a request of its own: exactly one is valid.
	g, secret, codes := enrolled(t)
	first := g.b
	g.start()
	backends := []interface {
		CheckAnswer(context.Context, *authreq.Request, []byte, authreq.Answer) (authreq.Verdict, error)
	}{first, g.b}
	for _, code := range []string{codeAt(t, secret, g.clock.Now()), codes[9]} {
		const n = 8
		reqs := make([]*authreq.Request, n)
		states := make([][]byte, n)
		for i := range n {
			var ch authreq.Challenge
			reqs[i], ch = g.prepare("race-" + code + "-" + string(rune('a'+i)))
			states[i] = ch.State
		}
		var wg sync.WaitGroup
		valid := make(chan bool, n)
		for i := range n {
			wg.Go(func() {
				v, err := backends[i%2].CheckAnswer(context.Background(), reqs[i], states[i], authreq.Answer{Code: code})
				if err != nil {
					t.Error(err)
				}
				valid <- v.Valid
			})
		}
		wg.Wait()
		close(valid)
		count := 0
		for v := range valid {
			if v {
				count++
			}
		}
		if count != 1 {
			t.Errorf("%d of %d concurrent checks of one code valid, want 1", count, n)
		}
	}
}

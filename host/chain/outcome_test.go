package chain

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
)

// recorder is an Authenticator that answers with a memo and an
// OutcomeObserver that records what it was told.
type recorder struct {
	name   string
	answer func(*sdk.AuthenticateResponse)
	mu     sync.Mutex
	told   []sdk.Outcome
	log    *[]string // order of observer calls across recorders
	fail   bool      // LoginEnded returns an error
}

func (r *recorder) Authenticate(_ context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	resp.Memo = []byte("memo of " + r.name + " for " + req.RequestID)
	r.answer(resp)
	return nil
}

func (r *recorder) LoginEnded(_ context.Context, o *sdk.Outcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.told = append(r.told, *o)
	*r.log = append(*r.log, r.name)
	if r.fail {
		return errors.New("observer failed")
	}
	return nil
}

func TestOutcomesGoToTheBackendsAskedInOrderWithTheirMemos(t *testing.T) {
	var order []string
	abstainer := &recorder{name: "first", answer: func(r *sdk.AuthenticateResponse) { r.Abstain(sdk.ReasonInvalidCredentials) }, log: &order, fail: true}
	granter := &recorder{name: "second", answer: func(r *sdk.AuthenticateResponse) { r.Grant(sdk.Identity{Subject: "u1", Username: "alice"}) }, log: &order}
	never := &recorder{name: "third", answer: func(r *sdk.AuthenticateResponse) { r.Abstain("") }, log: &order}
	c := New(nil,
		Link{Name: "first", Authenticator: abstainer, Observer: abstainer},
		Link{Name: "second", Authenticator: granter, Observer: granter},
		Link{Name: "third", Authenticator: never, Observer: never},
	)
	req := &sdk.AuthenticateRequest{RequestID: "r1", Username: "alice", Client: sdk.Client{IP: "192.0.2.7", UserAgent: "ua"}}
	login := c.Run(context.Background(), req)
	if login.Result.Outcome != Success || login.Result.Backend != "second" {
		t.Fatalf("result %+v, want success from second", login.Result)
	}
	if len(abstainer.told) != 0 {
		t.Fatal("an observer was told before End")
	}
	if err := login.End(context.Background(), sdk.LoginSucceeded, "session-1"); err != nil {
		t.Fatalf("End: %v (an observer's failure must not fail the login)", err)
	}
	if !slices.Equal(order, []string{"first", "second"}) {
		t.Fatalf("observers told in order %v, want [first second] (third was never asked)", order)
	}
	for _, r := range []*recorder{abstainer, granter} {
		o := r.told[0]
		want := sdk.Outcome{
			RequestID: "r1", Result: sdk.LoginSucceeded, Username: "alice", Client: req.Client,
			Backend: "second", Subject: "u1", Memo: []byte("memo of " + r.name + " for r1"),
		}
		if o.RequestID != want.RequestID || o.Result != want.Result || o.Username != want.Username || o.Client != want.Client ||
			o.Backend != want.Backend || o.Subject != want.Subject || string(o.Memo) != string(want.Memo) {
			t.Errorf("%s was told %+v, want %+v", r.name, o, want)
		}
	}
	if err := login.End(context.Background(), sdk.LoginSucceeded, ""); err == nil {
		t.Error("a second End was accepted")
	}
}

func TestOutcomeOfAFailureCarriesNoSubject(t *testing.T) {
	var order []string
	r := &recorder{name: "only", answer: func(resp *sdk.AuthenticateResponse) { resp.Abstain(sdk.ReasonInvalidCredentials) }, log: &order}
	login := New(nil, Link{Name: "only", Authenticator: r, Observer: r}).Run(context.Background(), &sdk.AuthenticateRequest{RequestID: "r2"})
	if got := login.Result.LoginResult(); got != sdk.LoginFailed {
		t.Fatalf("LoginResult = %v, want failed", got)
	}
	_ = login.End(context.Background(), login.Result.LoginResult(), "")
	if o := r.told[0]; o.Result != sdk.LoginFailed || o.Subject != "" || o.Reason != sdk.ReasonInvalidCredentials {
		t.Errorf("told %+v, want a failure with reason invalid_credentials and no subject", o)
	}
}

func TestLoginResult(t *testing.T) {
	tests := []struct {
		res  Result
		want sdk.LoginResult
	}{
		{Result{Outcome: Success}, sdk.LoginSucceeded},
		{Result{Outcome: InvalidCredentials}, sdk.LoginFailed},
		{Result{Outcome: Denied, Reason: sdk.ReasonInvalidCredentials}, sdk.LoginFailed},
		{Result{Outcome: Denied, Reason: "locked_out"}, sdk.LoginDenied},
		{Result{Outcome: Denied, Reason: "account_disabled"}, sdk.LoginDenied},
		{Result{Outcome: Unavailable}, sdk.LoginUnavailable},
		{Result{Outcome: Busy}, sdk.LoginUnavailable},
	}
	for _, tt := range tests {
		if got := tt.res.LoginResult(); got != tt.want {
			t.Errorf("%v/%q: LoginResult = %v, want %v", tt.res.Outcome, tt.res.Reason, got, tt.want)
		}
	}
}

func TestSkipErrorsTreatsAFailingBackendAsAbstaining(t *testing.T) {
	for _, skip := range []bool{false, true} {
		health := NewHealth()
		down := failing(sdk.ErrUnavailable)
		next := grant("local-user")
		c := New(nil,
			Link{Name: "directory", Authenticator: down, SkipErrors: skip, Health: health},
			Link{Name: "local", Authenticator: next},
		)
		res, err := authenticate(c, context.Background(), &sdk.AuthenticateRequest{Username: "u"})
		if skip {
			if err != nil || res.Outcome != Success || res.Backend != "local" {
				t.Errorf("skip: got %+v, %v; want success from the next backend", res, err)
			}
		} else if res.Outcome != Unavailable || err == nil {
			t.Errorf("fail: got %+v, %v; want unavailable", res, err)
		}
		if failing, n, last := health.Failing(); !failing || n != 1 || last == "" {
			t.Errorf("skip=%v: health %v %d %q, want failing once with the error", skip, failing, n, last)
		}
		// A later call that works clears it.
		down.fn = grant("x").fn
		authenticate(c, context.Background(), &sdk.AuthenticateRequest{Username: "u"})
		if failing, _, _ := health.Failing(); failing {
			t.Errorf("skip=%v: still failing after a call that worked", skip)
		}
	}
}

func TestSkipErrorsNeverGrantsOnAnError(t *testing.T) {
	// A skipped backend that errors is an abstain: with nobody else to ask
	// the login is invalid credentials, never an identity.
	c := New(nil, Link{Name: "directory", Authenticator: failing(errors.New("boom")), SkipErrors: true})
	res, err := authenticate(c, context.Background(), &sdk.AuthenticateRequest{Username: "u"})
	if err != nil || res.Outcome != InvalidCredentials {
		t.Fatalf("got %+v, %v; want invalid credentials", res, err)
	}
}

package sdktest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/passwords"
)

// tableBackend knows one user, alice, by a bcrypt hash. A leaky one
// abstains at once for anyone else; an honest one verifies a dummy hash
// of the same cost with a passwords.Checker. One with a costlier dummy
// verifies it for unknown users but checks alice's cheaper hash without
// the Checker, so that she is answered sooner.
type tableBackend struct {
	hash        string
	leaky       bool
	dummyCost   int // 0: alice's
	check       *passwords.Checker
	knownDirect bool
}

func (b *tableBackend) Metadata() sdk.Metadata { return sdk.Metadata{Name: "table", Version: "test"} }

func (b *tableBackend) Configure(ctx context.Context, req *sdk.ConfigureRequest) error {
	if err := req.DecodeConfig(&struct{}{}); err != nil {
		return err
	}
	cost, err := passwords.BcryptCost(b.hash)
	if err != nil {
		return err
	}
	// Of alice's cost, below BcryptDummy's floor, to keep the test short.
	if b.dummyCost != 0 {
		cost = b.dummyCost
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("nobody knows this"), cost)
	if err != nil {
		return err
	}
	b.check, err = passwords.NewChecker(ctx, passwords.VerifyBcrypt, string(dummy), nil)
	return err
}

func (b *tableBackend) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	found := req.Username == "alice"
	if !found && b.leaky {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	var ok bool
	var err error
	if found && b.knownDirect {
		ok, err = passwords.VerifyBcrypt(b.hash, req.Password)
	} else {
		ok, err = b.check.Check(ctx, b.hash, found, req.Password)
	}
	if err != nil {
		return err
	}
	if !ok {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	resp.Grant(sdk.Identity{Subject: "table:alice", Username: "alice"})
	return nil
}

// recorder is a testing.TB that keeps Errorf to itself.
type recorder struct {
	testing.TB
	failed bool
	msg    string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
}

func tableCheck(t *testing.T, leaky bool) TimingCheck {
	h, err := bcrypt.GenerateFromPassword([]byte("right"), 6)
	if err != nil {
		t.Fatal(err)
	}
	return TimingCheck{
		New:     func() sdk.Plugin { return &tableBackend{hash: string(h), leaky: leaky} },
		Known:   Credentials{Username: "alice", Password: "wrong"},
		Unknown: Credentials{Username: "mallory", Password: "wrong"},
	}
}

func TestTimingCheckFailsALeakyBackend(t *testing.T) {
	r := &recorder{TB: t}
	tableCheck(t, true).Run(r)
	if !r.failed {
		t.Fatal("TimingCheck passed a backend that abstains at once for unknown users")
	}
	t.Log(r.msg)
}

func TestTimingCheckFailsABackendWhoseKnownUsersAnswerSooner(t *testing.T) {
	c := tableCheck(t, false)
	c.New = func() sdk.Plugin {
		b := tableCheck(t, false).New().(*tableBackend)
		b.dummyCost, b.knownDirect = 8, true
		return b
	}
	r := &recorder{TB: t}
	c.Run(r)
	if !r.failed || !strings.Contains(r.msg, "known users with a wrong password are answered sooner") {
		t.Fatalf("TimingCheck passed a backend whose known users answer sooner (%q)", r.msg)
	}
	t.Log(r.msg)
}

func TestTimingCheckPassesADummyHash(t *testing.T) {
	tableCheck(t, false).Run(t)
}

func TestSoonerP(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	sooner := ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	later := ms(11, 12, 13, 14, 15, 16, 17, 18, 19, 20)
	if p := soonerP(sooner, later); p > 0.001 {
		t.Errorf("wholly sooner: p = %g", p)
	}
	if p := soonerP(later, sooner); p < 0.99 {
		t.Errorf("wholly later: p = %g", p)
	}
	mixed := ms(1, 12, 3, 14, 5, 16, 7, 18, 9, 20)
	other := ms(11, 2, 13, 4, 15, 6, 17, 8, 19, 10)
	if p := soonerP(mixed, other); p < 0.3 || p > 0.7 {
		t.Errorf("interleaved: p = %g, want about 0.5", p)
	}
	same := ms(5, 5, 5, 5)
	if p := soonerP(same, same); p < 0.5 {
		t.Errorf("all tied: p = %g", p)
	}
}

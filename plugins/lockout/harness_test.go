package lockout

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// harness runs the plugin over real gRPC against a MemoryHost with a
// settable clock, and plays the host's part: it sends each login's outcome
// back as the signal the host would send.
type harness struct {
	t     *testing.T
	host  *sdktest.MemoryHost
	auth  sdk.Authenticator
	recv  sdk.SignalReceiver
	clock time.Time
	seq   atomic.Int64
}

func newHarness(t *testing.T, config string) *harness {
	t.Helper()
	h := &harness{t: t, host: sdktest.NewMemoryHost(), clock: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	h.host.SetClock(func() time.Time { return h.clock })
	p := New()
	p.now = func() time.Time { return h.clock }
	r := sdktest.Start(t, p, json.RawMessage(config), h.host)
	h.auth, h.recv = r.Authenticator(), r.SignalReceiver()
	return h
}

func (h *harness) advance(d time.Duration) { h.clock = h.clock.Add(d) }

// Outcomes the rest of the chain can give an attempt the lockout let
// through.
type outcome int

const (
	wrongPassword outcome = iota
	rightPassword
	deniedByOther
	backendDown
)

// attempt is one login from a client.
type attempt struct {
	user, ip, ua string
}

// try runs one login: the lockout's answer, and when it abstains, the
// outcome's signal. It returns the lockout's response.
func (h *harness) try(a attempt, o outcome) sdk.AuthenticateResponse {
	h.t.Helper()
	id := fmt.Sprintf("req-%d", h.seq.Add(1))
	req := &sdk.AuthenticateRequest{RequestID: id, Username: a.user, Password: "pw", Client: sdk.Client{IP: a.ip, UserAgent: a.ua}, Path: "/v1/login"}
	var resp sdk.AuthenticateResponse
	if err := h.auth.Authenticate(context.Background(), req, &resp); err != nil {
		h.t.Fatalf("Authenticate: %v", err)
	}
	if resp.Decision != sdk.DecisionAbstain {
		return resp
	}
	facts := sdk.ClientFacts{ClientIP: a.ip, UserAgent: a.ua}
	var args sdk.SignalArgs
	switch o {
	case wrongPassword:
		args = &sdk.UserLoginFailed{Username: a.user, ClientFacts: facts, Backend: "local", Reason: sdk.ReasonInvalidCredentials, RequestID: id}
	case rightPassword:
		args = &sdk.UserLoggedIn{UserID: "u-" + a.user, Username: a.user, UserType: "user", ClientFacts: facts, Backend: "local", SessionID: "s-" + id, RequestID: id}
	case deniedByOther:
		args = &sdk.UserLoginFailed{Username: a.user, ClientFacts: facts, Backend: "gate", Reason: "banned", RequestID: id}
	case backendDown:
		args = &sdk.UserLoginUnavailable{Username: a.user, ClientFacts: facts, Backend: "local", RequestID: id}
	}
	h.send(args, "local")
	return resp
}

// send delivers a signal to the plugin as the host would.
func (h *harness) send(args sdk.SignalArgs, sender string) {
	h.t.Helper()
	raw, _ := json.Marshal(args)
	sig := &sdk.Signal{ID: fmt.Sprintf("sig-%d", h.seq.Add(1)), Name: args.SignalName(), Sender: sender, Time: h.clock, Args: raw}
	if err := h.recv.Receive(context.Background(), sig); err != nil {
		h.t.Fatalf("Receive %s: %v", sig.Name, err)
	}
}

// locked reports whether the response is a lockout.
func locked(r sdk.AuthenticateResponse) bool {
	return r.Decision == sdk.DecisionDeny && r.Reason == sdk.ReasonLockedOut
}

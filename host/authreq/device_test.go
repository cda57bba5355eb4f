package authreq_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/authreq"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func TestDevicesSeeAndDecideTheirUsersRequests(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "phone", "otp")
	bob, err := r.store.CreateUser(ctx, "bob", "h")
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := r.store.UserByUsername(ctx, "alice")
	mk := func(backend string) storage.AuthRequest {
		req, err := r.svc.Create(ctx, authreq.NewRequest{Slug: "transfer", User: "alice", Title: "Approve", App: "web", Backend: backend})
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	viaOTP, viaPhone := mk("otp"), mk("phone")

	got, err := r.svc.Waiting(ctx, alice.ID, "phone", 0)
	if err != nil || len(got) != 1 || got[0].ID != viaPhone.ID {
		t.Fatalf("Waiting = %v, %v; want only the phone's request", got, err)
	}
	if got, _ := r.svc.Waiting(ctx, bob.ID, "phone", 0); len(got) != 0 {
		t.Fatalf("bob's device sees %d of alice's requests", len(got))
	}
	if _, err := r.svc.DeviceDecide(ctx, viaPhone.ID, bob.ID, "phone", storage.AuthRequestGranted); !errors.Is(err, authreq.ErrOtherUser) {
		t.Fatalf("another user's device deciding: %v; want ErrOtherUser", err)
	}
	if _, err := r.svc.DeviceDecide(ctx, viaOTP.ID, alice.ID, "phone", storage.AuthRequestGranted); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("a device deciding a request its backend did not prepare: %v; want not found", err)
	}
	dec, err := r.svc.DeviceDecide(ctx, viaPhone.ID, alice.ID, "phone", storage.AuthRequestGranted)
	if err != nil || dec.State != storage.AuthRequestGranted || dec.Reason != authreq.ReasonDevice {
		t.Fatalf("DeviceDecide = %+v, %v", dec, err)
	}
	if r.sigs.count("transfer:authorization_granted") != 1 {
		t.Fatalf("signals %v; want one authorization_granted from the slug", r.sigs.sigs)
	}
	if _, err := r.svc.DeviceDecide(ctx, viaPhone.ID, alice.ID, "phone", storage.AuthRequestDenied); !errors.Is(err, authreq.ErrNotWaiting) {
		t.Fatalf("deciding twice: %v; want ErrNotWaiting", err)
	}
	expiring := mk("phone")
	r.advance(2 * time.Hour)
	if _, err := r.svc.DeviceDecide(ctx, expiring.ID, alice.ID, "phone", storage.AuthRequestGranted); !errors.Is(err, authreq.ErrNotWaiting) {
		t.Fatalf("approving an expired request: %v; want ErrNotWaiting", err)
	}
}

func TestWaitingWakesWhenARequestArrives(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "phone")
	alice, _ := r.store.UserByUsername(ctx, "alice")
	type result struct {
		n   int
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		got, err := r.svc.Waiting(ctx, alice.ID, "phone", 20*time.Second)
		done <- result{len(got), err, time.Now()}
	}()
	for r.store.Watching() == 0 {
		time.Sleep(time.Millisecond)
	}
	select {
	case res := <-done:
		t.Fatalf("Waiting returned %+v before any request", res)
	case <-time.After(100 * time.Millisecond):
	}
	created := time.Now()
	r.create(t)
	select {
	case res := <-done:
		if res.err != nil || res.n != 1 {
			t.Fatalf("Waiting = %d requests, %v; want the new one", res.n, res.err)
		}
		if d := res.at.Sub(created); d > 2*time.Second {
			t.Fatalf("the poll answered %s after the request; want at once", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Waiting did not return when a request arrived")
	}
	if n := r.store.Watching(); n != 0 {
		t.Fatalf("a finished poll is still watching (%d)", n)
	}

	// A poll with nothing to find ends with its wait, or its context.
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if got, err := r.svc.Waiting(cctx, "nobody", "phone", time.Minute); len(got) != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled poll = %v, %v", got, err)
	}
}

// A two-factor login a device approves completes once, for the holder of
// the login's key only.
func TestDeviceApprovedTwoFactorLogin(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "phone")
	alice, _ := r.store.UserByUsername(ctx, "alice")
	id := sdk.Identity{Subject: alice.ID, Username: "alice", Roles: []string{"billing", "ops"}}
	req, key, err := r.svc.StartSecondFactor(ctx, "phone", id, "tokens", 5*time.Minute)
	if err != nil || key == "" {
		t.Fatalf("StartSecondFactor: %v (key %q)", err, key)
	}
	if string(req.Data) == "" || strings.Contains(string(req.Data), key) {
		t.Fatal("the login key is stored in clear")
	}
	f := authreq.SecondFactor{Service: r.svc}
	login := func(secret string) sdk.AuthenticateResponse {
		var resp sdk.AuthenticateResponse
		err := f.Authenticate(ctx, &sdk.AuthenticateRequest{Username: "alice", Password: secret, Credentials: map[string]string{
			authreq.CredentialRequest: req.ID, authreq.CredentialMethod: authreq.MethodDevice}}, &resp)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if w, err := r.svc.DeviceLoginWaiting(ctx, req.ID, key); err != nil || !w {
		t.Fatalf("DeviceLoginWaiting = %v, %v; want true while no device decided", w, err)
	}
	if w, _ := r.svc.DeviceLoginWaiting(ctx, req.ID, key+"x"); w {
		t.Fatal("DeviceLoginWaiting is true for a wrong key")
	}
	if resp := login(key); resp.Decision != sdk.DecisionAbstain {
		t.Fatalf("completing before a device approved: %v; want abstain", resp.Decision)
	}
	if _, err := r.svc.DeviceDecide(ctx, req.ID, alice.ID, "phone", storage.AuthRequestGranted); err != nil {
		t.Fatal(err)
	}
	if w, _ := r.svc.DeviceLoginWaiting(ctx, req.ID, key); w {
		t.Fatal("DeviceLoginWaiting is true after the device decided")
	}
	if resp := login("pcl_wrong"); resp.Decision != sdk.DecisionAbstain || resp.Reason != sdk.ReasonInvalidCredentials {
		t.Fatalf("a wrong key: %+v; want abstain invalid_credentials", resp)
	}
	// A code path cannot complete a device's login.
	var resp sdk.AuthenticateResponse
	_ = f.Authenticate(ctx, &sdk.AuthenticateRequest{Username: "alice", Password: key,
		Credentials: map[string]string{authreq.CredentialRequest: req.ID}}, &resp)
	if resp.Decision != sdk.DecisionAbstain {
		t.Fatalf("the key as a code: %v; want abstain", resp.Decision)
	}
	if resp := login(key); resp.Decision != sdk.DecisionIdentity || resp.Identity.Subject != alice.ID || !slices.Equal(resp.Identity.Roles, id.Roles) {
		t.Fatalf("completing after the device approved: %+v; want alice with the roles her backend vouched for", resp)
	}
	if resp := login(key); resp.Decision != sdk.DecisionAbstain {
		t.Fatalf("completing twice: %v; want abstain", resp.Decision)
	}
}

// A two-factor login completed with a code gets the identity of its
// password step, with the roles that step's backend vouched for.
func TestTwoFactorLoginKeepsVouchedRoles(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, "otp")
	alice, _ := r.store.UserByUsername(ctx, "alice")
	id := sdk.Identity{Subject: alice.ID, Username: "alice", Attributes: map[string]string{"k": "v"}, Roles: []string{"billing", "ops"}}
	req, _, err := r.svc.StartSecondFactor(ctx, "otp", id, "session", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var resp sdk.AuthenticateResponse
	err = authreq.SecondFactor{Service: r.svc}.Authenticate(ctx, &sdk.AuthenticateRequest{Username: "alice", Password: r.back.code(req.ID),
		Credentials: map[string]string{authreq.CredentialRequest: req.ID}}, &resp)
	if err != nil || resp.Decision != sdk.DecisionIdentity || resp.Identity.Subject != alice.ID || resp.Identity.Attributes["k"] != "v" ||
		!slices.Equal(resp.Identity.Roles, id.Roles) {
		t.Fatalf("the right code: %+v, %v; want alice with her attributes and vouched roles", resp, err)
	}
}

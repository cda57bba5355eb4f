package oidcprovider

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

func TestFaultWrongNonce(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	ctx := testContext(t)
	rp.p.SetFault(WrongNonce)
	a := rp.login(t)
	tok, err := rp.exchange(ctx, a, a.code(t))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := rp.verifier.Verify(ctx, rawIDToken(t, tok))
	if err != nil {
		t.Fatalf("the ID token should still verify, only its nonce differs: %v", err)
	}
	if idt.Nonce == a.nonce || idt.Nonce == "" {
		t.Fatalf("ID token nonce = %q, want one other than the %q sent", idt.Nonce, a.nonce)
	}
}

func TestFaultWrongAudience(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	ctx := testContext(t)
	rp.p.SetFault(WrongAudience)
	a := rp.login(t)
	tok, err := rp.exchange(ctx, a, a.code(t))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw := rawIDToken(t, tok)
	_, err = rp.verifier.Verify(ctx, raw)
	if err == nil || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("go-oidc accepted an ID token for another audience, or failed otherwise: %v", err)
	}
	// The token is still genuine: signed by the provider, for the other
	// client, with the caller's nonce.
	other := rp.oidc.Verifier(&oidc.Config{ClientID: OtherClientID})
	idt, err := other.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verify as %s: %v", OtherClientID, err)
	}
	if !slices.Equal(idt.Audience, []string{OtherClientID}) || idt.Nonce != a.nonce || idt.Subject != alice.Subject {
		t.Fatalf("aud/nonce/sub = %v/%q/%q", idt.Audience, idt.Nonce, idt.Subject)
	}

	// Client authentication still matters: a wrong secret is not swapped.
	rp.config.ClientSecret = "not-the-secret"
	b := rp.login(t)
	if _, err := rp.exchange(ctx, b, b.code(t)); err == nil {
		t.Fatal("WrongAudience let a wrong client secret through")
	}
}

func TestFaultTokenHTTPError(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	ctx := testContext(t)
	a := rp.login(t)
	code := a.code(t)

	rp.p.SetFault(TokenHTTPError(http.StatusBadGateway))
	_, err := rp.exchange(ctx, a, code)
	if err == nil {
		t.Fatal("exchange succeeded through TokenHTTPError(502)")
	}
	if re := oauthError(t, err); re.Response == nil || re.Response.StatusCode != http.StatusBadGateway {
		t.Fatalf("exchange error %v, want a 502 response", err)
	}

	// The fault stood in front of the server: the code is still good.
	rp.p.SetFault(NoFault)
	if _, err := rp.exchange(ctx, a, code); err != nil {
		t.Fatalf("exchange after the fault was lifted: %v", err)
	}
}

func TestFaultTokenDelay(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := rp.login(t)
	code := a.code(t)

	rp.p.SetFault(TokenDelay(2 * time.Second))
	short, cancel := context.WithTimeout(testContext(t), 100*time.Millisecond)
	defer cancel()
	if _, err := rp.exchange(short, a, code); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exchange against a slow token endpoint = %v, want the deadline exceeded", err)
	}

	const delay = 200 * time.Millisecond
	rp.p.SetFault(TokenDelay(delay))
	start := time.Now()
	if _, err := rp.exchange(testContext(t), a, code); err != nil {
		t.Fatalf("patient exchange: %v", err)
	}
	if took := time.Since(start); took < delay {
		t.Fatalf("exchange took %s, under the %s delay", took, delay)
	}
}

func TestDownRefusesConnections(t *testing.T) {
	t.Parallel()
	rp := newRelyingParty(t)
	a := rp.login(t)
	code := a.code(t)
	rp.p.Down()
	rp.p.Down() // idempotent, as t.Cleanup calls it again

	// A fresh client, so no kept-alive connection hides the refusal.
	ctx := context.WithValue(testContext(t), oauth2.HTTPClient, &http.Client{Transport: &http.Transport{}})
	if _, err := oidc.NewProvider(ctx, rp.p.Issuer); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("discovery against a provider that is down = %v, want connection refused", err)
	}
	if _, err := rp.exchange(ctx, a, code); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("exchange against a provider that is down = %v, want connection refused", err)
	}
}

func TestStartRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string]Options{
		"reserved client ID":    {Clients: []Client{{ID: OtherClientID, Secret: "s", RedirectURIs: []string{appCallback}}}},
		"client without secret": {Clients: []Client{{ID: "c", RedirectURIs: []string{appCallback}}}},
		"duplicate username":    {Users: []User{alice, {Subject: "other", Username: alice.Username}}},
	} {
		if p, err := start(opts); err == nil {
			p.Down()
			t.Errorf("%s: start succeeded", name)
		}
	}
}

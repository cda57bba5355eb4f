package tokens_test

import (
	"context"
	"testing"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/metrics"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

func TestTokensAndRefusalsAreCounted(t *testing.T) {
	ctx := context.Background()
	reg := metrics.New()
	store, issuer := newTestIssuer(t, func(o *tokens.Options) { o.Metrics = reg })
	issued := reg.Counter("portcullis_tokens_issued_total", "", "kind")
	refused := reg.Counter("portcullis_token_verification_failures_total", "", "error_type")
	alice, err := store.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}

	pair, err := issuer.Issue(ctx, sdk.Identity{Subject: alice.ID, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if pair, err = issuer.Refresh(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if issued.Value("access") != 2 || issued.Value("refresh") != 2 {
		t.Fatalf("after a login and a refresh: access %d, refresh %d; want 2 and 2", issued.Value("access"), issued.Value("refresh"))
	}

	if _, err := issuer.Verify(ctx, pair.AccessToken); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "not.a.jwt", pair.AccessToken[:len(pair.AccessToken)-4] + "AAAA"} {
		if _, err := issuer.Verify(ctx, bad); err == nil {
			t.Fatalf("%q verified", bad)
		}
	}
	if _, _, _, err := issuer.Revoke(ctx, pair.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if in, err := issuer.Introspect(ctx, pair.AccessToken); err != nil || in.Active {
		t.Fatalf("a revoked session's token: %+v %v", in, err)
	}
	for typ, want := range map[string]uint64{
		accesstoken.ErrEmptyToken: 1, accesstoken.ErrMalformed: 1, accesstoken.ErrInvalidSignature: 1, accesstoken.ErrRevoked: 1,
	} {
		if got := refused.Value(typ); got != want {
			t.Errorf("refusals of type %s: %d, want %d", typ, got, want)
		}
	}
}

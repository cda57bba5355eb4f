package storagetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// testOAuth2: a flow's state is used once, by its own browser and
// backend, before it expires, whichever host the callback reaches; an
// external subject links to one user; users are found by email.
func testOAuth2(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	now := time.Now()
	flow := storage.OAuth2Flow{StateHash: "s1", Backend: "corp", BrowserHash: "b1", ReturnTo: "https://app.example/", ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.CreateOAuth2Flow(ctx, flow); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ name, state, backend, browser string }{
		{"unknown state", "nope", "corp", "b1"}, {"another backend", "s1", "github", "b1"}, {"another browser", "s1", "corp", "b2"},
	} {
		if _, ok, err := other.ConsumeOAuth2Flow(ctx, bad.state, bad.backend, bad.browser, now); err != nil || ok {
			t.Fatalf("%s: consumed = %v, %v; want false", bad.name, ok, err)
		}
	}
	if _, ok, _ := other.ConsumeOAuth2Flow(ctx, "s1", "corp", "b1", now.Add(time.Hour)); ok {
		t.Fatal("an expired flow was consumed")
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := s
			if i%2 == 1 {
				db = other
			}
			got, ok, err := db.ConsumeOAuth2Flow(ctx, "s1", "corp", "b1", now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
				if got.ReturnTo != flow.ReturnTo || got.Grant != storage.OAuth2GrantSession {
					t.Errorf("consumed %+v", got)
				}
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of 8 concurrent callbacks used the state; want exactly 1", wins.Load())
	}
	tokensFlow := storage.OAuth2Flow{StateHash: "s2", Backend: "corp", BrowserHash: "b2", Grant: storage.OAuth2GrantTokens, ExpiresAt: now.Add(10 * time.Minute)}
	if err := s.CreateOAuth2Flow(ctx, tokensFlow); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := other.ConsumeOAuth2Flow(ctx, "s2", "corp", "b2", now); err != nil || !ok || got.Grant != storage.OAuth2GrantTokens {
		t.Fatalf("a flow that answers with tokens: %+v, %v, %v", got, ok, err)
	}
	if n, err := s.PurgeOAuth2Flows(ctx, now.Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("purge = %d, %v", n, err)
	}

	u, err := s.CreateUser(ctx, "alice", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExternalIdentityOf(ctx, "corp", "sub-1"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("unknown identity: %v", err)
	}
	link := storage.ExternalIdentity{Backend: "corp", Subject: "sub-1", UserID: u.ID}
	if err := s.LinkExternalIdentity(ctx, link); err != nil {
		t.Fatal(err)
	}
	if err := other.LinkExternalIdentity(ctx, link); !errors.Is(err, sdk.ErrConflict) {
		t.Fatalf("linking twice: %v; want conflict", err)
	}
	got, err := other.ExternalIdentityOf(ctx, "corp", "sub-1")
	if err != nil || got != link {
		t.Fatalf("read back %+v, %v", got, err)
	}

	if err := s.SetUserEmail(ctx, "alice", "not an address"); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("a bad address: %v", err)
	}
	if err := s.SetUserEmail(ctx, "alice", "Alice@Example.com"); err != nil {
		t.Fatal(err)
	}
	found, err := other.UsersByEmail(ctx, "ALICE@example.COM")
	if err != nil || len(found) != 1 || found[0].ID != u.ID || found[0].Email != "alice@example.com" {
		t.Fatalf("UsersByEmail = %+v, %v", found, err)
	}
	if err := s.SetUserEmail(ctx, "nobody", "a@example.com"); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("an unknown user: %v", err)
	}
}

package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func testPurgeTokens(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	save := func(hash, family string, expires time.Time) {
		t.Helper()
		err := s.SaveTokens(ctx, storage.Token{ID: hash, Hash: hash, Kind: "refresh", Subject: "u1", Username: "alice", FamilyID: family, ExpiresAt: expires})
		if err != nil {
			t.Fatal(err)
		}
	}
	revokeFamily := func(family string) {
		t.Helper()
		if _, err := s.RevokeFamily(ctx, family); err != nil {
			t.Fatal(err)
		}
	}
	// Revoked before the cutoff.
	save("old-family-1", "revoked-early", now.Add(30*24*time.Hour))
	save("old-family-2", "revoked-early", now.Add(time.Hour))
	revokeFamily("revoked-early")
	save("used-early", "live", now.Add(30*24*time.Hour))
	if used, err := s.UseToken(ctx, "used-early"); err != nil || !used {
		t.Fatalf("UseToken = %v, %v", used, err)
	}
	save("half-early", "revoked-across", now.Add(time.Hour))
	revokeFamily("revoked-across")

	time.Sleep(20 * time.Millisecond)
	cutoff := time.Now().UTC()
	time.Sleep(20 * time.Millisecond)

	// Revoked after the cutoff.
	save("half-late", "revoked-across", now.Add(time.Hour))
	revokeFamily("revoked-across")
	save("new-family", "revoked-late", now.Add(time.Hour))
	revokeFamily("revoked-late")
	// Never revoked.
	save("live-successor", "live", now.Add(time.Hour))
	save("expired-early", "expired", cutoff.Add(-time.Second))
	save("expired-late", "expired", cutoff.Add(time.Second))

	n, err := s.PurgeTokens(ctx, cutoff, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hash   string
		purged bool
		why    string
	}{
		{"old-family-1", true, "its family was revoked before the cutoff"},
		{"old-family-2", true, "its family was revoked before the cutoff"},
		{"expired-early", true, "it expired before the cutoff"},
		{"used-early", false, "its family is live: presenting it again must still revoke the family"},
		{"live-successor", false, "it is live"},
		{"half-early", false, "its family was revoked again after the cutoff"},
		{"half-late", false, "it was revoked after the cutoff"},
		{"new-family", false, "it was revoked after the cutoff"},
		{"expired-late", false, "it expired after the cutoff"},
	} {
		t.Run(tc.hash, func(t *testing.T) {
			_, err := s.TokenByHash(ctx, tc.hash)
			switch {
			case tc.purged && !errors.Is(err, sdk.ErrNotFound):
				t.Errorf("not purged (err %v), though %s", err, tc.why)
			case !tc.purged && err != nil:
				t.Errorf("purged (err %v), though %s", err, tc.why)
			}
		})
	}
	if n != 3 {
		t.Errorf("PurgeTokens = %d, want 3", n)
	}
	if n, err := s.PurgeTokens(ctx, cutoff, 100); err != nil || n != 0 {
		t.Errorf("PurgeTokens again = %d, %v; want 0", n, err)
	}
}

func testPurgeTokensIsBounded(t *testing.T, s *storage.Store) {
	ctx := context.Background()
	expired := time.Now().UTC().Add(-time.Hour)
	const total = 2500 // more than one statement's worth
	for i := 0; i < total; i += 500 {
		batch := make([]storage.Token, 500)
		for j := range batch {
			hash := fmt.Sprintf("t%05d", i+j)
			batch[j] = storage.Token{ID: hash, Hash: hash, Kind: "access", Subject: "u1", Username: "alice", FamilyID: "f", ExpiresAt: expired}
		}
		if err := s.SaveTokens(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now().UTC()
	for _, tc := range []struct{ limit, want int64 }{{1, 1}, {1200, 1200}, {2000, total - 1201}, {10, 0}} {
		n, err := s.PurgeTokens(ctx, cutoff, int(tc.limit))
		if err != nil || n != tc.want {
			t.Fatalf("PurgeTokens(limit %d) = %d, %v; want %d", tc.limit, n, err, tc.want)
		}
	}
}

package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

func hexHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// testAdmins: admins are unique by name and apart from users; a session
// is found by its secret's hash with its admin's current state, extended,
// and ended once; a password change ends the admin's sessions; tokens are
// stored by hash under unique names and revoked once; another host sees
// it all.
func testAdmins(t *testing.T, open Opener) {
	ctx := context.Background()
	s, other := open(t), open(t)
	root, err := s.CreateAdmin(ctx, "root", "root@example.com", "hash-1", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAdmin(ctx, "root", "", "hash-2", "root"); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("a second admin named root: %v, want ErrConflict", err)
	}
	for _, bad := range []struct{ name, email, hash string }{
		{"", "", "h"}, {"Root ", "", "h"}, {"ops", "no-at-sign", "h"}, {"ops", "a@b@c", "h"}, {"ops", "a b@c", "h"}, {"ops", "", ""},
	} {
		if _, err := s.CreateAdmin(ctx, bad.name, bad.email, bad.hash, ""); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("CreateAdmin(%q, %q, %q) = %v, want ErrInvalidArgument", bad.name, bad.email, bad.hash, err)
		}
	}
	if _, err := s.UserByUsername(ctx, "root"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("an admin is a user: %v", err)
	}
	if a, err := other.AdminByUsername(ctx, "root"); err != nil || a.ID != root.ID || a.Email != "root@example.com" {
		t.Fatalf("AdminByUsername from another host = %+v, %v", a, err)
	}
	if admins, err := other.ListAdmins(ctx); err != nil || len(admins) != 1 {
		t.Fatalf("ListAdmins = %+v, %v", admins, err)
	}

	now := time.Now()
	if _, err := s.CreateAdminSession(ctx, root.ID, "not-a-hash", now.Add(time.Hour), now.Add(time.Minute)); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a session stored under a value that is not a hash: %v", err)
	}
	sess, err := s.CreateAdminSession(ctx, root.ID, hexHash("secret-1"), now.Add(time.Hour), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.AdminSessionBySecret(ctx, hexHash("secret-1"))
	if err != nil || got.ID != sess.ID || got.Admin.Username != "root" || !got.Active(time.Now()) {
		t.Fatalf("AdminSessionBySecret = %+v, %v", got, err)
	}
	if _, err := s.AdminSessionBySecret(ctx, hexHash("secret-2")); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("an unknown secret: %v", err)
	}
	if wrote, err := other.ExtendAdminSession(ctx, sess.ID, now.Add(30*time.Minute), time.Minute); err != nil || !wrote {
		t.Errorf("ExtendAdminSession = %v, %v", wrote, err)
	}
	if wrote, err := other.ExtendAdminSession(ctx, sess.ID, now.Add(30*time.Minute+time.Second), time.Minute); err != nil || wrote {
		t.Errorf("ExtendAdminSession within a step wrote: %v, %v", wrote, err)
	}
	if got, _ := s.AdminSessionBySecret(ctx, hexHash("secret-1")); !got.Active(now.Add(20 * time.Minute)) {
		t.Errorf("the extended session is not active 20 minutes on: %+v", got)
	}
	ended := make(chan bool, 2)
	for _, st := range []*storage.Store{s, other} {
		go func() {
			e, err := st.EndAdminSession(ctx, sess.ID)
			if err != nil {
				t.Error(err)
			}
			ended <- e
		}()
	}
	if a, b := <-ended, <-ended; a == b {
		t.Errorf("two hosts ending one session at once: %v and %v, want exactly one true", a, b)
	}
	if got, _ := s.AdminSessionBySecret(ctx, hexHash("secret-1")); got.Active(time.Now()) {
		t.Error("an ended session is active")
	}

	s2, err := s.CreateAdminSession(ctx, root.ID, hexHash("secret-3"), now.Add(time.Hour), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := other.SetAdminPassword(ctx, "root", "hash-3"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AdminSessionBySecret(ctx, hexHash("secret-3")); got.ID != s2.ID || got.Active(time.Now()) || got.Admin.PasswordHash != "hash-3" {
		t.Errorf("after a password change: %+v, want the session ended", got)
	}
	if err := s.SetAdminPassword(ctx, "nobody", "h"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("SetAdminPassword of an unknown admin: %v", err)
	}

	tok, err := s.CreateAdminToken(ctx, root.ID, "ci", hexHash("token-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAdminToken(ctx, root.ID, "ci", hexHash("token-2")); !errors.Is(err, sdk.ErrConflict) {
		t.Errorf("a second token named ci: %v", err)
	}
	for _, name := range []string{"", "a b", "x/y", fmt.Sprintf("%065d", 0)} {
		if _, err := s.CreateAdminToken(ctx, root.ID, name, hexHash("t-"+name)); !errors.Is(err, sdk.ErrInvalidArgument) {
			t.Errorf("CreateAdminToken(%q) = %v, want ErrInvalidArgument", name, err)
		}
	}
	if _, err := s.CreateAdminToken(ctx, root.ID, "raw", "pcat_not-a-hash"); !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Errorf("a token stored as itself: %v", err)
	}
	got2, err := other.AdminTokenByHash(ctx, hexHash("token-1"))
	if err != nil || got2.ID != tok.ID || got2.Admin.Username != "root" || got2.Revoked() {
		t.Fatalf("AdminTokenByHash = %+v, %v", got2, err)
	}
	if list, err := other.ListAdminTokens(ctx); err != nil || len(list) != 1 || list[0].Admin.Username != "root" {
		t.Fatalf("ListAdminTokens = %+v, %v", list, err)
	}
	if r, err := other.RevokeAdminToken(ctx, "ci"); err != nil || !r {
		t.Fatalf("RevokeAdminToken = %v, %v", r, err)
	}
	if r, err := s.RevokeAdminToken(ctx, "ci"); err != nil || r {
		t.Errorf("revoking twice = %v, %v", r, err)
	}
	if _, err := s.RevokeAdminToken(ctx, "nope"); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("revoking an unknown token: %v", err)
	}
	if got, _ := s.AdminTokenByHash(ctx, hexHash("token-1")); !got.Revoked() {
		t.Error("a revoked token reads as live")
	}
}

package tokens_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/storage/storagetest"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// clock is a time a test moves by hand; it starts at the real time.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.set(time.Now())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// rotateAsTheCommandDoes makes a new signing key in store as `portcullis
// keys rotate`, another process, does, and returns its kid.
func rotateAsTheCommandDoes(t *testing.T, store *storage.Store, dir string) string {
	t.Helper()
	sealer, err := tokens.LoadKEK("", dir)
	if err != nil {
		t.Fatal(err)
	}
	made, err := tokens.Rotate(context.Background(), store, sealer, accesstoken.EdDSA, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return made.ID
}

// publishedKids lists the kids of the ring's JWKS.
func publishedKids(t *testing.T, k *tokens.KeyRing) []string {
	t.Helper()
	set, err := k.Set()
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, key := range set.Keys {
		kids = append(kids, key.KeyID)
	}
	slices.Sort(kids)
	return kids
}

// refusedAs is the type of the refusal of token, "" if it verifies.
func refusedAs(t *testing.T, iss *tokens.Issuer, token string) string {
	t.Helper()
	_, err := iss.Verify(context.Background(), token)
	if err == nil {
		return ""
	}
	var refused *accesstoken.Error
	if !errors.As(err, &refused) {
		t.Fatalf("Verify: %v is not an *accesstoken.Error", err)
	}
	return refused.Type
}

func issue(t *testing.T, iss *tokens.Issuer) string {
	t.Helper()
	p, err := iss.Issue(context.Background(), sdk.Identity{Subject: "u1", Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return p.AccessToken
}

// TestARunningHostSignsWithARotatedKey: a key made by `keys rotate` in
// another process reaches a running host without a restart once its keys
// are older than ReloadEvery, and not before; the old key keeps verifying
// and stays in the JWKS until it retires. At its retirement it leaves the
// JWKS and its tokens are refused for their kid; it is purged then, and
// not a second before.
func TestARunningHostSignsWithARotatedKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "p.db"))
	iss := open(t, store, dir, accesstoken.EdDSA)
	now := newClock()
	tokens.SetClock(iss, now.Now)
	old := issue(t, iss)
	oldKid := headerKid(t, old)

	newKid := rotateAsTheCommandDoes(t, store, dir)
	now.advance(tokens.ReloadEvery - time.Second)
	issue(t, iss)
	tokens.AwaitReload(t, iss.Keys()) // had the call started one
	if kid := headerKid(t, issue(t, iss)); kid != oldKid {
		t.Fatalf("%v after its last read of the keys the host signs with %s; want the key it read, %s", tokens.ReloadEvery-time.Second, kid, oldKid)
	}

	now.advance(2 * time.Second)
	// This call finds the keys stale and reads them again in the
	// background; it signs with what the ring held.
	if refusedAs(t, iss, issue(t, iss)) != "" {
		t.Fatal("the token issued as the keys went stale does not verify")
	}
	tokens.AwaitReload(t, iss.Keys())
	fresh := issue(t, iss)
	if kid := headerKid(t, fresh); kid != newKid {
		t.Fatalf("after the reload the host signs with %s; want the rotated key %s", kid, newKid)
	}
	for name, tok := range map[string]string{"the old key's": old, "the new key's": fresh} {
		if got := refusedAs(t, iss, tok); got != "" {
			t.Errorf("%s token is refused (%s) after the rotation", name, got)
		}
	}
	if kids, want := publishedKids(t, iss.Keys()), sorted(oldKid, newKid); !slices.Equal(kids, want) {
		t.Errorf("JWKS after the rotation = %v, want %v", kids, want)
	}

	var until time.Time
	rows, err := store.SigningKeys(ctx, now.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == oldKid {
			until = r.VerifiesUntil
		}
	}
	if want := now.Now().Add(time.Hour + 2*tokens.ReloadEvery); until.Before(want.Add(-time.Minute)) || until.After(want.Add(time.Minute)) {
		t.Fatalf("the old key verifies until %v; want about the access TTL plus twice ReloadEvery, %v", until, want)
	}

	// A second before its retirement the old key is kept: still in the
	// JWKS, still known (its token has expired by then), not purged.
	now.set(until.Add(-time.Second))
	publishedKids(t, iss.Keys()) // stale: reload
	tokens.AwaitReload(t, iss.Keys())
	if kids, want := publishedKids(t, iss.Keys()), sorted(oldKid, newKid); !slices.Equal(kids, want) {
		t.Errorf("JWKS a second before the old key retires = %v, want %v", kids, want)
	}
	if got := refusedAs(t, iss, old); got != accesstoken.ErrExpired {
		t.Errorf("the old key's token a second before the key retires is refused as %q, want %q (its key still known)", got, accesstoken.ErrExpired)
	}
	if n, err := store.PurgeSigningKeys(ctx, until.Add(-time.Second)); err != nil || n != 0 {
		t.Errorf("purge a second before the retirement = %d, %v; want nothing purged", n, err)
	}

	// Retired: at the host's next read of the keys it leaves the JWKS and
	// its tokens are refused for their kid; it is purged.
	now.set(until.Add(tokens.ReloadEvery))
	publishedKids(t, iss.Keys()) // stale: reload
	tokens.AwaitReload(t, iss.Keys())
	if kids := publishedKids(t, iss.Keys()); !slices.Equal(kids, []string{newKid}) {
		t.Errorf("JWKS after the old key retired = %v, want only %s", kids, newKid)
	}
	if got := refusedAs(t, iss, old); got != accesstoken.ErrUnknownKey {
		t.Errorf("the retired key's token is refused as %q, want %q", got, accesstoken.ErrUnknownKey)
	}
	if got := refusedAs(t, iss, issue(t, iss)); got != "" {
		t.Errorf("a token of the new key after the old one retired is refused (%s)", got)
	}
	if n, err := store.PurgeSigningKeys(ctx, until.Add(time.Second)); err != nil || n != 1 {
		t.Errorf("purge a second after the retirement = %d, %v; want the old key", n, err)
	}
}

// TestAnUnknownKidReloadsTheKeys: a host that meets a token signed with a
// key it has not read yet (another host rotated and signs with it) reads
// the keys at once, verifies the token, and signs with that key from then
// on; such reads happen at most once a second.
func TestAnUnknownKidReloadsTheKeys(t *testing.T) {
	dir := t.TempDir()
	store := storagetest.Open(t, storage.SQLite, filepath.Join(dir, "p.db"))
	running := open(t, store, dir, accesstoken.EdDSA)
	now := newClock()
	tokens.SetClock(running, now.Now)
	oldKid := headerKid(t, issue(t, running))

	second := rotateAsTheCommandDoes(t, store, dir)
	other := open(t, store, dir, accesstoken.EdDSA) // a host started after the rotation
	if got := refusedAs(t, running, issue(t, other)); got != "" {
		t.Fatalf("a token of the rotated key is refused (%s) by the running host", got)
	}
	if kid := headerKid(t, issue(t, running)); kid != second || kid == oldKid {
		t.Errorf("after meeting the new kid the running host signs with %s, want %s", kid, second)
	}

	rotateAsTheCommandDoes(t, store, dir)
	third := issue(t, open(t, store, dir, accesstoken.EdDSA))
	now.advance(time.Second / 2)
	if got := refusedAs(t, running, third); got != accesstoken.ErrUnknownKey {
		t.Errorf("half a second after the last read, an unknown kid is refused as %q; want %q without a read", got, accesstoken.ErrUnknownKey)
	}
	now.advance(time.Second / 2)
	if got := refusedAs(t, running, third); got != "" {
		t.Errorf("a second after the last read, the new kid is still refused (%s)", got)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

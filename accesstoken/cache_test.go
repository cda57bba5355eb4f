package accesstoken_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

// movingVerifier is verifier(keys) on a clock the test moves.
func movingVerifier(keys keyMap, at *atomic.Int64) *accesstoken.Verifier {
	at.Store(now.UnixNano())
	v := verifier(keys)
	v.Now = func() time.Time { return time.Unix(0, at.Load()) }
	return v
}

func refusedAs(t *testing.T, err error, want string) {
	t.Helper()
	var refused *accesstoken.Error
	if !errors.As(err, &refused) || refused.Type != want {
		t.Fatalf("err = %v, want refused as %s", err, want)
	}
}

func TestCacheVerifiesASignatureOnce(t *testing.T) {
	s, other := newSigner(t, accesstoken.EdDSA), newSigner(t, accesstoken.EdDSA)
	keys := keyMap{s.key.ID: s.key}
	var at atomic.Int64
	c := &accesstoken.Cache{Verifier: movingVerifier(keys, &at)}
	tok := sign(t, s, claims())
	first, err := c.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// Were the signature checked again, the token would now fail: its kid
	// names another public key.
	keys[s.key.ID] = accesstoken.Key{ID: s.key.ID, Algorithm: accesstoken.EdDSA, Public: other.key.Public}
	if _, err := verifier(keys).Verify(context.Background(), tok); err == nil {
		t.Fatal("the swapped key still verifies the token: the test proves nothing")
	}
	again, err := c.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("the remembered token: %v", err)
	}
	if again == first || again.Subject != "u-1" || again.SessionID != "s-1" {
		t.Fatalf("claims %+v (same pointer: %v), want a copy of the first", again, again == first)
	}
	// Each caller gets its own copy.
	again.Username = "mallory"
	if third, _ := c.Verify(context.Background(), tok); third.Username != "alice" {
		t.Fatalf("a caller's change reached the cache: username %q", third.Username)
	}
}

func TestCacheChecksTimesAndKeysAtEveryUse(t *testing.T) {
	s := newSigner(t, accesstoken.EdDSA)
	ctx := context.Background()

	t.Run("expired", func(t *testing.T) {
		var at atomic.Int64
		c := &accesstoken.Cache{Verifier: movingVerifier(keyMap{s.key.ID: s.key}, &at)}
		tok := sign(t, s, claims()) // expires 15 minutes after now
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		at.Add(int64(15*time.Minute + time.Second)) // the leeway is 0 here
		_, err := c.Verify(ctx, tok)
		refusedAs(t, err, accesstoken.ErrExpired)
		if held, _ := accesstoken.CacheHolds(c, tok); held {
			t.Error("an expired token is still remembered")
		}
	})
	t.Run("clock set back before nbf", func(t *testing.T) {
		var at atomic.Int64
		c := &accesstoken.Cache{Verifier: movingVerifier(keyMap{s.key.ID: s.key}, &at)}
		tok := sign(t, s, claims())
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		at.Add(int64(-time.Minute))
		_, err := c.Verify(ctx, tok)
		refusedAs(t, err, accesstoken.ErrNotYetValid)
	})
	t.Run("key retired", func(t *testing.T) {
		keys := keyMap{s.key.ID: s.key}
		var at atomic.Int64
		c := &accesstoken.Cache{Verifier: movingVerifier(keys, &at)}
		tok := sign(t, s, claims())
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		delete(keys, s.key.ID)
		_, err := c.Verify(ctx, tok)
		refusedAs(t, err, accesstoken.ErrUnknownKey)
	})
}

func TestCacheIsBounded(t *testing.T) {
	s := newSigner(t, accesstoken.EdDSA)
	ctx := context.Background()
	var at atomic.Int64
	c := &accesstoken.Cache{Verifier: movingVerifier(keyMap{s.key.ID: s.key}, &at), Max: 3}
	token := func(i int, life time.Duration) string {
		cl := claims()
		cl.ID = fmt.Sprint("t-", i)
		cl.ExpiresAt = jwt.NewNumericDate(now.Add(life))
		return sign(t, s, cl)
	}
	short := token(0, time.Minute)
	long := []string{token(1, time.Hour), token(2, time.Hour)}
	for _, tok := range append([]string{short}, long...) {
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	// Full, with one expired: a new token takes the expired one's place.
	at.Add(int64(2 * time.Minute))
	fresh := token(3, time.Hour)
	if _, err := c.Verify(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	for _, tok := range append([]string{fresh}, long...) {
		if held, n := accesstoken.CacheHolds(c, tok); !held || n != 3 {
			t.Fatalf("after a new token in a full cache with an expired one: held %v, %d tokens; want the live ones kept, 3", held, n)
		}
	}
	// Full of live tokens: each new one still fits, the bound holds.
	for i := 4; i < 10; i++ {
		tok := token(i, time.Hour)
		if _, err := c.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if held, n := accesstoken.CacheHolds(c, tok); !held || n != 3 {
			t.Fatalf("token %d: held %v, %d tokens; want it held, 3", i, held, n)
		}
	}
}

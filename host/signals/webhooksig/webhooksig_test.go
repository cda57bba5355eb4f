package webhooksig

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The Standard Webhooks libraries' own test vector.
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorBody      = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xA5}, n)) }

func TestKey(t *testing.T) {
	tests := []struct {
		name    string
		secret  string
		want    []byte // nil: an error is wanted
		wantErr string
	}{
		{"whsec_ of 24 bytes", SecretPrefix + b64(24), bytes.Repeat([]byte{0xA5}, 24), ""},
		{"whsec_ of 32 bytes", SecretPrefix + b64(32), bytes.Repeat([]byte{0xA5}, 32), ""},
		{"whsec_ of 64 bytes", SecretPrefix + b64(64), bytes.Repeat([]byte{0xA5}, 64), ""},
		{"the standard's vector", vectorSecret, mustDecode(t, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), ""},
		{"whsec_ of 23 bytes", SecretPrefix + b64(23), nil, "must be 24 to 64 bytes, not 23"},
		{"whsec_ of 65 bytes", SecretPrefix + b64(65), nil, "must be 24 to 64 bytes, not 65"},
		{"whsec_ and nothing", SecretPrefix, nil, "must be 24 to 64 bytes, not 0"},
		{"whsec_ without padding", SecretPrefix + strings.TrimRight(b64(25), "="), nil, "standard base64, with padding"},
		{"whsec_ in URL-safe base64", SecretPrefix + "-_-_" + b64(30), nil, "standard base64"},
		{"whsec_ with a space", SecretPrefix + b64(24)[:8] + " " + b64(24)[8:], nil, "standard base64"},
		{"whsec_ with a newline", SecretPrefix + b64(24) + "\n", nil, "standard base64"},
		{"plain secret of 16 characters", "0123456789abcdef", []byte("0123456789abcdef"), ""},
		{"plain secret that looks like base64", b64(24), []byte(b64(24)), ""},
		{"plain secret, not ASCII", "clé-secrète-longue", []byte("clé-secrète-longue"), ""},
		{"plain secret of 15 characters", "0123456789abcde", nil, "at least 16 characters"},
		{"empty secret", "", nil, "at least 16 characters"},
		{"the prefix in upper case is not the prefix", "WHSEC_" + b64(12), []byte("WHSEC_" + b64(12)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Key(tt.secret)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("Key(%q) = %x, want an error", tt.secret, got)
				}
				if !errors.Is(err, ErrInvalidSecret) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Key(%q) error %q, want ErrInvalidSecret saying %q", tt.secret, err, tt.wantErr)
				}
				if rest := strings.TrimPrefix(tt.secret, SecretPrefix); len(rest) >= 4 && strings.Contains(err.Error(), rest) {
					t.Fatalf("the error %q quotes the secret", err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("Key(%q) = %x, %v; want %x", tt.secret, got, err, tt.want)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignKnownAnswer(t *testing.T) {
	key, err := Key(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := Sign(key, vectorID, time.Unix(vectorTimestamp, 0), []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign = %q, want the standard's %q", got, vectorSignature)
	}
	// The time's sub-second part and zone do not matter: the timestamp is
	// whole seconds.
	at := time.Unix(vectorTimestamp, 999_999_999).In(time.FixedZone("X", -7*3600))
	if got := Sign(key, vectorID, at, []byte(vectorBody)); got != vectorSignature {
		t.Fatalf("Sign at %v = %q, want %q", at, got, vectorSignature)
	}
}

// signed returns headers and body of a delivery of body signed with secret
// at at.
func signed(t *testing.T, secret, id string, at time.Time, body string) http.Header {
	t.Helper()
	key, err := Key(secret)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	SetHeaders(h, key, id, at, []byte(body))
	return h
}

// TestOfficialLibraryVerifiesOurs: what SetHeaders produces, the Standard
// Webhooks Go library verifies, for a whsec_ secret as it is and for a
// plain secret given to it as whsec_ + base64 of its bytes (as the docs
// tell receivers); and what that library signs, Verify accepts.
func TestOfficialLibraryVerifiesOurs(t *testing.T) {
	const body = `{"id":"6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11","name":"user_login_failed","args":{}}`
	const id = "6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11"
	plain := "an-operator-chosen-secret"
	for _, tt := range []struct{ name, ours, theirs string }{
		{"whsec_ secret", vectorSecret, vectorSecret},
		{"plain secret", plain, SecretPrefix + base64.StdEncoding.EncodeToString([]byte(plain))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lib, err := standardwebhooks.NewWebhook(tt.theirs)
			if err != nil {
				t.Fatal(err)
			}
			h := signed(t, tt.ours, id, time.Now(), body)
			if err := lib.Verify([]byte(body), h); err != nil {
				t.Fatalf("the library refuses our delivery: %v", err)
			}
			if err := lib.Verify([]byte(body+" "), h); err == nil {
				t.Fatal("the library accepts our signature for another body")
			}
			// Replayed outside the tolerance, the library refuses it.
			old := signed(t, tt.ours, id, time.Now().Add(-DefaultTolerance-time.Minute), body)
			if err := lib.Verify([]byte(body), old); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
				t.Fatalf("the library on a delivery older than the tolerance: %v, want ErrMessageTooOld", err)
			}

			// The other way round.
			now := time.Now()
			theirSig, err := lib.Sign(id, now, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			key, _ := Key(tt.ours)
			if ours := Sign(key, id, now, []byte(body)); ours != theirSig {
				t.Fatalf("signatures differ: ours %q, the library's %q", ours, theirSig)
			}
			theirs := http.Header{}
			theirs.Set(standardwebhooks.HeaderWebhookID, id)
			theirs.Set(standardwebhooks.HeaderWebhookTimestamp, Timestamp(now))
			theirs.Set(standardwebhooks.HeaderWebhookSignature, theirSig)
			v, err := NewVerifier(tt.ours)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Verify(theirs, []byte(body)); err != nil {
				t.Fatalf("Verify refuses the library's delivery: %v", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	const id, body = "6f1c3a52-8d0e-4b7a-9f3e-2b6d1c0a9e11", `{"args":{}}`
	now := time.Unix(1_900_000_000, 0)
	key, _ := Key(vectorSecret)
	other := bytes.Repeat([]byte{1}, 32)
	at := func(d time.Duration) http.Header {
		h := http.Header{}
		SetHeaders(h, key, id, now.Add(d), []byte(body))
		return h
	}
	with := func(h http.Header, name, value string) http.Header {
		if value == "" {
			h.Del(name)
		} else {
			h.Set(name, value)
		}
		return h
	}
	good := at(0).Get(HeaderSignature)
	otherSig := Sign(other, id, now, []byte(body))
	tests := []struct {
		name      string
		header    http.Header
		body      string
		key       []byte
		tolerance time.Duration
		want      error // nil: accepted
	}{
		{"fresh", at(0), body, key, 0, nil},
		{"4m59s old", at(-4*time.Minute - 59*time.Second), body, key, 0, nil},
		{"exactly the tolerance old", at(-DefaultTolerance), body, key, 0, nil},
		{"5m1s old: a replay", at(-DefaultTolerance - time.Second), body, key, 0, ErrTooOld},
		{"a day old", at(-24 * time.Hour), body, key, 0, ErrTooOld},
		{"4m59s ahead", at(4*time.Minute + 59*time.Second), body, key, 0, nil},
		{"5m1s ahead", at(DefaultTolerance + time.Second), body, key, 0, ErrTooNew},
		{"1m old under a 30s tolerance", at(-time.Minute), body, key, 30 * time.Second, ErrTooOld},
		{"1m old under a 1h tolerance", at(-time.Minute), body, key, time.Hour, nil},
		{"negative tolerance refuses a fresh one", at(0), body, key, -time.Second, ErrTooOld},
		{"another body", at(0), body + " ", key, 0, ErrNoMatchingSignature},
		{"another key", at(0), body, other, 0, ErrNoMatchingSignature},
		{"no key", at(0), body, nil, 0, ErrNoMatchingSignature},
		{"another id", with(at(0), HeaderID, id+"x"), body, key, 0, ErrNoMatchingSignature},
		{"timestamp moved, signature kept", with(at(0), HeaderTimestamp, Timestamp(now.Add(time.Second))), body, key, 0, ErrNoMatchingSignature},
		{"several signatures, one good", with(at(0), HeaderSignature, otherSig+" v1a,AAAA "+good), body, key, 0, nil},
		{"signatures with extra spaces", with(at(0), HeaderSignature, "  "+good+"  "), body, key, 0, nil},
		{"only wrong signatures", with(at(0), HeaderSignature, otherSig+" v1,not-base64 v1,"), body, key, 0, ErrNoMatchingSignature},
		{"the right MAC under another version", with(at(0), HeaderSignature, "v2,"+strings.TrimPrefix(good, "v1,")), body, key, 0, ErrNoMatchingSignature},
		{"bare MAC without a version", with(at(0), HeaderSignature, strings.TrimPrefix(good, "v1,")), body, key, 0, ErrNoMatchingSignature},
		{"truncated MAC", with(at(0), HeaderSignature, good[:len(good)-4]), body, key, 0, ErrNoMatchingSignature},
		{"no id", with(at(0), HeaderID, ""), body, key, 0, ErrMissingHeader},
		{"no timestamp", with(at(0), HeaderTimestamp, ""), body, key, 0, ErrMissingHeader},
		{"no signature", with(at(0), HeaderSignature, ""), body, key, 0, ErrMissingHeader},
		{"timestamp in milliseconds", with(at(0), HeaderTimestamp, Timestamp(now)+"000"), body, key, 0, ErrTooNew},
		{"timestamp not a number", with(at(0), HeaderTimestamp, "soon"), body, key, 0, ErrInvalidTimestamp},
		{"timestamp with a leading zero", with(at(0), HeaderTimestamp, "0"+Timestamp(now)), body, key, 0, ErrInvalidTimestamp},
		{"timestamp with a plus sign", with(at(0), HeaderTimestamp, "+"+Timestamp(now)), body, key, 0, ErrInvalidTimestamp},
		{"timestamp with a fraction", with(at(0), HeaderTimestamp, Timestamp(now)+".5"), body, key, 0, ErrInvalidTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{Key: tt.key, Tolerance: tt.tolerance, Now: func() time.Time { return now }}
			err := v.Verify(tt.header, []byte(tt.body))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify = %v, want it accepted", err)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifierDefaultsToTheClock(t *testing.T) {
	v, err := NewVerifier(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(signed(t, vectorSecret, "id", time.Now(), "{}"), []byte("{}")); err != nil {
		t.Fatalf("a fresh delivery: %v", err)
	}
	if err := v.Verify(signed(t, vectorSecret, "id", time.Unix(vectorTimestamp, 0), "{}"), []byte("{}")); !errors.Is(err, ErrTooOld) {
		t.Fatalf("a delivery signed in 2021: %v, want ErrTooOld", err)
	}
	if _, err := NewVerifier("short"); !errors.Is(err, ErrInvalidSecret) {
		t.Fatalf("NewVerifier(short secret) = %v, want ErrInvalidSecret", err)
	}
}

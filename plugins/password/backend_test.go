package password

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

var fastConfig = json.RawMessage(`{"argon2id":{"memory_kib":64,"iterations":1,"parallelism":1}}`)

func seededHost(t testing.TB) *sdktest.MemoryHost {
	h := sdktest.NewMemoryHost()
	argon, err := Hash("alice-pw", fastParams)
	if err != nil {
		t.Fatal(err)
	}
	h.AddUser(sdk.User{Username: "alice", PasswordHash: argon})
	h.AddUser(sdk.User{Username: "django", PasswordHash: "pbkdf2_sha256$10000$seasalt$CWWFdHOWwPnki7HvkcqN9iA2T3KLW1cf2uZ5kvArtVY="})
	h.AddUser(sdk.User{Username: "nohash"})
	return h
}

func TestConformance(t *testing.T) {
	sdktest.AuthenticatorSuite{
		New:    func() sdk.Plugin { return New() },
		Config: fastConfig,
		Host:   func(t testing.TB) sdk.Host { return seededHost(t) },
		Valid: []sdktest.Credentials{
			{Username: "alice", Password: "alice-pw"},
			{Username: "django", Password: "lètmein"},
		},
		Invalid: []sdktest.Credentials{
			{Username: "alice", Password: "wrong"},
			{Username: "alice", Password: ""},
			{Username: "Alice", Password: "alice-pw"},
			{Username: "bob", Password: "alice-pw"},
			{Username: "nohash", Password: ""},
		},
	}.Run(t)
}

func TestDjangoHashIsUpgradedOnLogin(t *testing.T) {
	host := seededHost(t)
	auth := sdktest.Start(t, New(), fastConfig, host).Authenticator()
	login := func(pw string) sdk.AuthenticateResponse {
		var resp sdk.AuthenticateResponse
		if err := auth.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "django", Password: pw}, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := login("wrong"); resp.Decision != sdk.DecisionAbstain || resp.Reason != sdk.ReasonInvalidCredentials {
		t.Fatalf("wrong password: %+v", resp)
	}
	if u, _ := host.User("django"); NeedsRehash(u.PasswordHash, fastParams) == false {
		t.Fatal("a failed login rehashed the password")
	}
	if resp := login("lètmein"); resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("right password: %+v", resp)
	}
	u, _ := host.User("django")
	if NeedsRehash(u.PasswordHash, fastParams) {
		t.Fatalf("hash not upgraded after login: %.30s…", u.PasswordHash)
	}
	if resp := login("lètmein"); resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("login with the upgraded hash: %+v", resp)
	}
}

// TestDisabledUserAnswersAsAWrongPassword: the right and a wrong password
// of a disabled account get the very same answer, so that the answer is
// no password oracle.
func TestDisabledUserAnswersAsAWrongPassword(t *testing.T) {
	host := seededHost(t)
	u, _ := host.User("alice")
	u.Disabled = true
	host.AddUser(u)
	auth := sdktest.Start(t, New(), fastConfig, host).Authenticator()
	var answers []sdk.AuthenticateResponse
	for _, pw := range []string{"alice-pw", "wrong"} {
		var resp sdk.AuthenticateResponse
		if err := auth.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: "alice", Password: pw}, &resp); err != nil {
			t.Fatal(err)
		}
		answers = append(answers, resp)
	}
	if !reflect.DeepEqual(answers[0], answers[1]) || answers[0].Decision != sdk.DecisionAbstain || answers[0].Reason != sdk.ReasonInvalidCredentials {
		t.Errorf("disabled alice: right password %+v, wrong %+v; want both abstain invalid_credentials", answers[0], answers[1])
	}
}

// TestEveryAttemptVerifiesAHash: an unknown username, a user without a
// password, or a hash in an unknown format, goes through a full
// verification as a wrong password does. Checked without timing anything:
// with every hashing slot taken, each attempt must wait for one, and gives
// up only when its context ends.
func TestEveryAttemptVerifiesAHash(t *testing.T) {
	host := seededHost(t)
	host.AddUser(sdk.User{Username: "md5", PasswordHash: "md5$abc$def"})
	b := New()
	if err := b.Configure(context.Background(), &sdk.ConfigureRequest{Instance: "local", Config: fastConfig, Host: host}); err != nil {
		t.Fatal(err)
	}
	if err := b.prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	defer close(release)
	for range b.pool.Size() {
		go b.pool.Do(context.Background(), func() { <-release })
	}
	for b.pool.InUse() < b.pool.Size() {
		time.Sleep(time.Millisecond)
	}
	for _, username := range []string{"alice", "bob", "nohash", "md5"} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		var resp sdk.AuthenticateResponse
		err := b.Authenticate(ctx, &sdk.AuthenticateRequest{Username: username, Password: "wrong"}, &resp)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: answered %+v, %v without waiting for a hashing slot", username, resp, err)
		}
	}
}

package apikey

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// The keys are the SHA-256 of "alice-key", "alice-new-key" and "bob-key".
var config = json.RawMessage(`{
	"keys": {
		"alice": ["72ee9d4355ccb9d3a4c9dbf37382e38e75c1b1a225b5bd1f729ee91bbda30c20",
		          "1d0ed6632c7978f806ef3372ef1d857f6b46a84ae9428422a3281c94457b0214"],
		"bob":   ["9b94dc1a51a38769f135edf04033ad7f2f487b6c25929be7a861cfc1ab10cf98"]
	},
	"revoked": ["bob"]
}`)

// seededHost is an in-memory host with alice and bob.
func seededHost(testing.TB) sdk.Host {
	h := sdktest.NewMemoryHost()
	h.AddUser(sdk.User{ID: "u-alice", Username: "alice"})
	h.AddUser(sdk.User{ID: "u-bob", Username: "bob"})
	return h
}

func apiKey(k string) map[string]string { return map[string]string{"api_key": k} }

func TestConformance(t *testing.T) {
	sdktest.AuthenticatorSuite{
		New:    func() sdk.Plugin { return New() },
		Config: config,
		Host:   seededHost,
		Valid: []sdktest.Credentials{
			{Username: "alice", Credentials: apiKey("alice-key")},
			{Username: "alice", Credentials: apiKey("alice-new-key")},
		},
		Invalid: []sdktest.Credentials{
			{Username: "alice", Credentials: apiKey("bob-key")},
			{Username: "alice", Password: "alice-key"},
			{Username: "bob", Credentials: apiKey("bob-key")},
			{Username: "carol", Credentials: apiKey("alice-key")},
		},
	}.Run(t)
}

func TestDecisions(t *testing.T) {
	auth := sdktest.Start(t, New(), config, seededHost(t)).Authenticator()
	tests := []struct {
		name     string
		username string
		key      string
		want     sdk.Decision
		reason   string
	}{
		{"right key", "alice", "alice-key", sdk.DecisionIdentity, ""},
		{"wrong key", "alice", "nope", sdk.DecisionAbstain, sdk.ReasonInvalidCredentials},
		{"no key", "alice", "", sdk.DecisionAbstain, ""},
		{"revoked key", "bob", "bob-key", sdk.DecisionDeny, "key_revoked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp sdk.AuthenticateResponse
			req := &sdk.AuthenticateRequest{Username: tt.username, Credentials: apiKey(tt.key)}
			if err := auth.Authenticate(context.Background(), req, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.Decision != tt.want || resp.Reason != tt.reason {
				t.Fatalf("got %v %q, want %v %q", resp.Decision, resp.Reason, tt.want, tt.reason)
			}
		})
	}
}

// The memo of a grant comes back with the outcome, and a success sends
// the signal the metadata declares; a failed login sends nothing.
func TestOutcomeSaysWhichKey(t *testing.T) {
	ctx := context.Background()
	host := sdktest.NewMemoryHost()
	host.AddUser(sdk.User{ID: "u-alice", Username: "alice"})
	p := sdktest.Start(t, New(), config, host)

	var resp sdk.AuthenticateResponse
	req := &sdk.AuthenticateRequest{RequestID: "r1", Username: "alice", Credentials: apiKey("alice-new-key")}
	if err := p.Authenticator().Authenticate(ctx, req, &resp); err != nil {
		t.Fatal(err)
	}
	for _, result := range []sdk.LoginResult{sdk.LoginUnavailable, sdk.LoginSucceeded} {
		o := &sdk.Outcome{RequestID: "r1", Result: result, Username: "alice", Memo: resp.Memo}
		if err := p.OutcomeObserver().LoginEnded(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	sent := host.Emitted()
	if len(sent) != 1 {
		t.Fatalf("sent %d signals, want 1: %+v", len(sent), sent)
	}
	if !slices.Contains(New().Metadata().Emits, sent[0].Name) {
		t.Errorf("sent %s, which the metadata does not declare: the host would refuse it", sent[0].Name)
	}
	var args KeyUsed
	if err := json.Unmarshal(sent[0].Args, &args); err != nil {
		t.Fatal(err)
	}
	if want := (KeyUsed{Username: "alice", Key: "1d0ed6632c79", RequestID: "r1"}); args != want {
		t.Errorf("args %+v, want %+v", args, want)
	}
}

func TestConfigProblems(t *testing.T) {
	p := sdktest.StartUnconfigured(t, New(), nil)
	err := p.Configure(context.Background(), "test", json.RawMessage(`{"keys": {"bob": ["5"], "alice": ["nothex"]}}`))
	var cfgErr *sdk.ConfigError
	if !errors.As(err, &cfgErr) {
		t.Fatalf("got %v, want a *sdk.ConfigError", err)
	}
	var paths []string
	for _, p := range cfgErr.Problems {
		paths = append(paths, p.Path)
	}
	if want := []string{"keys.alice[0]", "keys.bob[0]"}; !slices.Equal(paths, want) {
		t.Errorf("problems at %v, want %v", paths, want)
	}
}

func TestKeySHA256Command(t *testing.T) {
	admin := sdktest.Start(t, New(), config, nil).Admin()
	var resp sdk.AdminResponse
	req := &sdk.AdminRequest{Command: CommandKeySHA256, Secret: "bob-key"}
	if err := admin.Admin(context.Background(), req, &resp); err != nil {
		t.Fatal(err)
	}
	want := `{"sha256":"9b94dc1a51a38769f135edf04033ad7f2f487b6c25929be7a861cfc1ab10cf98"}`
	if string(resp.Result) != want {
		t.Errorf("result %s, want %s", resp.Result, want)
	}
	err := admin.Admin(context.Background(), &sdk.AdminRequest{Command: "rotate"}, &resp)
	if !errors.Is(err, sdk.ErrUnimplemented) {
		t.Errorf("an unknown command: %v, want sdk.ErrUnimplemented", err)
	}
}

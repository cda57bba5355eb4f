package main

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

func login(t *testing.T, auth sdk.Authenticator, user, password string) (sdk.AuthenticateResponse, error) {
	t.Helper()
	var resp sdk.AuthenticateResponse
	err := auth.Authenticate(context.Background(), &sdk.AuthenticateRequest{Username: user, Password: password}, &resp)
	return resp, err
}

func TestConfigurationErrors(t *testing.T) {
	dir := t.TempDir()
	sha := filepath.Join(dir, "sha")
	writeFile(t, sha, "carol:"+shaHash("carol's password"))
	apr := filepath.Join(dir, "apr1")
	writeFile(t, apr, "mallory:$apr1$abcdefgh$0123456789abcdefghijkl")
	for _, tc := range []struct {
		name   string
		config string
		want   string
	}{
		{"no file", `{"file": "` + filepath.Join(dir, "missing") + `"}`, "no such file"},
		{"no file named", `{}`, "no file named"},
		{"{SHA} not allowed", string(config(sha, false)), "allow_sha"},
		{"MD5 hashes", string(config(apr, true)), "only bcrypt"},
		{"unknown field", `{"file": "x", "cost": 12}`, "cost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sdktest.StartUnconfigured(t, &backend{}, nil)
			err := r.Configure(context.Background(), "test", json.RawMessage(tc.config))
			var ce *sdk.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Configure(%s) = %v; want a *sdk.ConfigError mentioning %q", tc.config, err, tc.want)
			}
		})
	}
	// Allowed, carol's {SHA} hash works.
	auth := sdktest.Start(t, &backend{}, config(sha, true), nil).Authenticator()
	if resp, err := login(t, auth, "carol", "carol's password"); err != nil || resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("carol with {SHA} allowed: %v, %v", resp.Decision, err)
	}
	if resp, err := login(t, auth, "carol", "wrong"); err != nil || resp.Decision != sdk.DecisionAbstain {
		t.Fatalf("carol with a wrong password: %v, %v", resp.Decision, err)
	}
}

func TestReadsTheFileAgainWhenItChanges(t *testing.T) {
	path := users(t)
	auth := sdktest.Start(t, &backend{}, config(path, false), nil).Authenticator()
	if resp, _ := login(t, auth, "frank", "frank's password"); resp.Decision != sdk.DecisionAbstain {
		t.Fatalf("frank before he is added: %v", resp.Decision)
	}
	writeFile(t, path, "frank:"+hash(t, "frank's password"))
	if resp, err := login(t, auth, "frank", "frank's password"); err != nil || resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("frank once added: %v, %v", resp.Decision, err)
	}
	if resp, _ := login(t, auth, "dave", "dave's password"); resp.Decision != sdk.DecisionAbstain {
		t.Fatalf("dave once removed: %v", resp.Decision)
	}
	// A file broken meanwhile refuses every login (the host answers 503)
	// rather than keep users the operator meant to change.
	writeFile(t, path, "frank:"+shaHash("frank's password"))
	if resp, err := login(t, auth, "frank", "frank's password"); err == nil || resp.Decision == sdk.DecisionIdentity {
		t.Fatalf("a broken file: %v, %v; want an error", resp.Decision, err)
	} else if strings.Contains(err.Error(), shaHash("frank's password")) {
		t.Fatalf("the error shows the hash: %v", err)
	}
	writeFile(t, path, "frank:"+hash(t, "frank's password"))
	if resp, err := login(t, auth, "frank", "frank's password"); err != nil || resp.Decision != sdk.DecisionIdentity {
		t.Fatalf("frank once the file is fixed: %v, %v", resp.Decision, err)
	}
}

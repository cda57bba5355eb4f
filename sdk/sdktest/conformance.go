package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
)

// Credentials is one login attempt for the conformance suite.
type Credentials struct {
	Username    string
	Password    string
	Credentials map[string]string
}

// AuthenticatorSuite is the conformance suite for Authenticators. Every
// first-party backend runs it; third-party backends should too.
type AuthenticatorSuite struct {
	// New returns a fresh, unconfigured plugin.
	New func() sdk.Plugin
	// Config is a valid configuration for it (nil means "{}").
	Config json.RawMessage
	// Host returns the host the plugin runs against, seeded as Valid and
	// Invalid need (nil means an empty MemoryHost).
	Host func(t testing.TB) sdk.Host
	// Valid credentials must each produce an identity.
	Valid []Credentials
	// Invalid credentials must each produce abstain or deny, never identity.
	Invalid []Credentials
}

// hangLimit bounds how long the suite waits for a call that should return at
// once; it only catches hangs, it measures nothing.
const hangLimit = 10 * time.Second

// Run runs the suite as subtests of t.
func (s AuthenticatorSuite) Run(t *testing.T) {
	t.Run("Metadata", func(t *testing.T) {
		checkMetadata(t, StartUnconfigured(t, s.New(), s.host(t)), hostside.Authenticator, "sdk.Authenticator")
	})

	t.Run("UnknownConfigFieldIsRejected", func(t *testing.T) {
		checkUnknownFieldRejected(t, StartUnconfigured(t, s.New(), s.host(t)), s.Config)
	})

	t.Run("ValidCredentialsGiveIdentity", func(t *testing.T) {
		auth := s.start(t)
		for _, c := range s.Valid {
			resp := authenticate(t, auth, c)
			if resp.Decision != sdk.DecisionIdentity {
				t.Errorf("user %q: decision %v (reason %q), want identity", c.Username, resp.Decision, resp.Reason)
				continue
			}
			if resp.Identity.Subject == "" {
				t.Errorf("user %q: identity without a subject", c.Username)
			}
		}
	})

	t.Run("InvalidCredentialsNeverGiveIdentity", func(t *testing.T) {
		auth := s.start(t)
		for _, c := range append(s.Invalid, hostileInputs()...) {
			resp := authenticate(t, auth, c)
			if resp.Decision == sdk.DecisionIdentity {
				t.Errorf("user %q: got identity %+v for invalid credentials", truncate(c.Username), resp.Identity)
			}
			if strings.Contains(resp.Reason, c.Password) && c.Password != "" {
				t.Errorf("user %q: reason %q contains the password", truncate(c.Username), resp.Reason)
			}
		}
	})

	t.Run("ExpiredDeadlineReturns", func(t *testing.T) {
		auth := s.start(t)
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		done := make(chan struct{})
		go func() {
			defer close(done)
			var resp sdk.AuthenticateResponse
			c := append(s.Valid, s.Invalid...)
			if len(c) == 0 {
				c = hostileInputs()
			}
			err := auth.Authenticate(ctx, request(c[0]), &resp)
			if err == nil && resp.Decision == sdk.DecisionIdentity {
				t.Error("a call whose deadline had passed granted an identity")
			}
		}()
		select {
		case <-done:
		case <-time.After(hangLimit):
			t.Fatal("Authenticate did not return for a context whose deadline had passed")
		}
	})

	t.Run("ConcurrentCallsAgree", func(t *testing.T) {
		auth := s.start(t)
		cases := append(append([]Credentials{}, s.Valid...), s.Invalid...)
		var wg sync.WaitGroup
		for round := 0; round < 8; round++ {
			for _, c := range cases {
				wg.Add(1)
				go func(c Credentials) {
					defer wg.Done()
					var resp sdk.AuthenticateResponse
					if err := auth.Authenticate(context.Background(), request(c), &resp); err != nil {
						t.Errorf("user %q: %v", c.Username, err)
						return
					}
					want := sdk.DecisionIdentity
					if !s.isValid(c) {
						if resp.Decision == sdk.DecisionIdentity {
							t.Errorf("user %q: identity for invalid credentials under concurrency", c.Username)
						}
						return
					}
					if resp.Decision != want {
						t.Errorf("user %q: decision %v under concurrency, want identity", c.Username, resp.Decision)
					}
				}(c)
			}
		}
		wg.Wait()
	})
}

// checkMetadata checks that the plugin r serves implements capability
// (the interface named iface) and names and versions itself.
func checkMetadata(t *testing.T, r *hostside.Remote, capability hostside.Capability, iface string) {
	t.Helper()
	info, err := r.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !info.Has(capability) {
		t.Fatalf("plugin %q does not implement %s (capabilities %v)", info.Name, iface, info.Capabilities)
	}
	if info.Name == "" {
		t.Error("metadata has no name")
	}
	if info.Version == "" {
		t.Errorf("metadata of %q has no version", info.Name)
	}
}

// checkUnknownFieldRejected checks that the unconfigured plugin r refuses
// config with a setting no plugin has added, in a *sdk.ConfigError.
func checkUnknownFieldRejected(t *testing.T, r *hostside.Remote, config json.RawMessage) {
	t.Helper()
	cfg := map[string]any{}
	if config != nil {
		if err := json.Unmarshal(config, &cfg); err != nil {
			t.Fatalf("suite Config is not a JSON object: %v", err)
		}
	}
	cfg["no_such_setting_in_any_plugin"] = 1
	raw, _ := json.Marshal(cfg)
	err := r.Configure(context.Background(), "test", raw)
	if !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("Configure with an unknown field: got %v, want an error matching sdk.ErrInvalidArgument", err)
	}
	var cfgErr *sdk.ConfigError
	if !errors.As(err, &cfgErr) || len(cfgErr.Problems) == 0 {
		t.Fatalf("Configure with an unknown field: got %v, want a *sdk.ConfigError with problems", err)
	}
}

func (s AuthenticatorSuite) host(t testing.TB) sdk.Host {
	if s.Host == nil {
		return NewMemoryHost()
	}
	return s.Host(t)
}

func (s AuthenticatorSuite) start(t testing.TB) sdk.Authenticator {
	return Start(t, s.New(), s.Config, s.host(t)).Authenticator()
}

// isValid reports whether c is one of the Valid credentials: the same
// username, password and other credentials (a nil map equals an empty one).
func (s AuthenticatorSuite) isValid(c Credentials) bool {
	for _, v := range s.Valid {
		if v.Username == c.Username && v.Password == c.Password && maps.Equal(v.Credentials, c.Credentials) {
			return true
		}
	}
	return false
}

func request(c Credentials) *sdk.AuthenticateRequest {
	return &sdk.AuthenticateRequest{
		RequestID:   "conformance",
		Username:    c.Username,
		Password:    c.Password,
		Credentials: c.Credentials,
		Client:      sdk.Client{IP: "192.0.2.1", UserAgent: "sdktest"},
		Path:        "/v1/login",
	}
}

func authenticate(t *testing.T, auth sdk.Authenticator, c Credentials) sdk.AuthenticateResponse {
	t.Helper()
	var resp sdk.AuthenticateResponse
	if err := auth.Authenticate(context.Background(), request(c), &resp); err != nil {
		t.Fatalf("user %q: Authenticate returned an error for a decidable request: %v", truncate(c.Username), err)
	}
	return resp
}

// hostileInputs are requests every backend must answer without an identity
// and without an error.
func hostileInputs() []Credentials {
	return []Credentials{
		{Username: "", Password: ""},
		{Username: "nobody-conformance", Password: ""},
		{Username: "", Password: "some-password"},
		{Username: strings.Repeat("u", 4096), Password: strings.Repeat("p", 4096)},
		{Username: "nul\x00byte", Password: "nul\x00byte"},
		{Username: "ünïcödé-ユーザー", Password: "пароль"},
	}
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

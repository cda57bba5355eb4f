package oauth2

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
	"github.com/portcullis-auth/portcullis/testkit/oidcprovider"
	"github.com/portcullis-auth/portcullis/testkit/syncbuf"
)

const (
	clientID = "portcullis"
	backend  = "corp"
	callback = "http://127.0.0.1:9/v1/oauth2/corp/callback"
)

// The provider's users: alice has groups that map to roles and a
// verified email; bob has neither.
var (
	alice = oidcprovider.User{
		Subject: "sub-alice", Username: "alice", Password: "alice-password",
		Email: "alice@example.test", EmailVerified: true, Groups: []string{"admins", "staff", "unmapped"},
	}
	bob = oidcprovider.User{Subject: "sub-bob", Username: "bob", Password: "bob-password", Email: "bob@example.test"}
)

// logBuffer is a plugin log the tests read.
type logBuffer = syncbuf.Buffer

// rig is a plugin configured against a real OpenID Provider, on a
// MemoryHost that records signals, with a log the test reads. secrets
// collects every secret the test saw, which no signal or log line may
// hold.
type rig struct {
	t       *testing.T
	op      *oidcprovider.Provider
	p       *Plugin
	host    *sdktest.MemoryHost
	log     *logBuffer
	secret  string
	secrets []string
}

// newRig starts a provider and configures a plugin against its issuer;
// edit, if set, changes the configuration first.
func newRig(t *testing.T, edit func(map[string]any)) *rig {
	t.Helper()
	g := &rig{t: t, host: sdktest.NewMemoryHost(), log: &logBuffer{}, secret: "planted-client-secret-" + rand.Text()}
	g.secrets = append(g.secrets, g.secret)
	g.op = oidcprovider.Start(t, oidcprovider.Options{
		Users:   []oidcprovider.User{alice, bob},
		Clients: []oidcprovider.Client{{ID: clientID, Secret: g.secret, RedirectURIs: []string{callback}}},
	})
	config := map[string]any{
		"issuer":        g.op.Issuer,
		"client_id":     clientID,
		"client_secret": g.secret,
		"redirect_url":  callback,
		"scopes":        []string{"openid", "email", "profile", "offline_access", oidcprovider.GroupsScope},
		"roles":         map[string][]string{"admins": {"admin"}, "staff": {"reader", "admin"}, "nobody": {"ghost"}},
		"provisioning":  "create",
		"timeout":       "1s",
	}
	if edit != nil {
		edit(config)
	}
	g.configure(config)
	return g
}

// configure configures a new plugin of the rig.
func (g *rig) configure(config map[string]any) {
	g.t.Helper()
	raw, err := json.Marshal(config)
	if err != nil {
		g.t.Fatal(err)
	}
	g.p = New()
	g.p.log = slog.New(slog.NewJSONHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if err := g.p.Configure(context.Background(), &sdk.ConfigureRequest{Instance: backend, Config: raw, Host: g.host}); err != nil {
		g.t.Fatalf("configure: %v", err)
	}
}

// ctx is a test's context, bounded so that a hung call fails the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// flow is one flow as the host keeps it: what Begin was given, and the
// callback's code once the user signed in.
type flow struct {
	begin    redirect.BeginRequest
	verifier string
	url      string
	code     string
}

// begin starts a flow as the host does: a fresh state, verifier and
// nonce, the verifier's S256 challenge.
func (g *rig) begin(redirectURL string) *flow {
	g.t.Helper()
	f := &flow{verifier: oauth2.GenerateVerifier()}
	f.begin = redirect.BeginRequest{
		State: "state-" + rand.Text(), RedirectURL: redirectURL,
		CodeChallenge: oauth2.S256ChallengeFromVerifier(f.verifier), Nonce: "nonce-" + rand.Text(),
	}
	res, err := g.p.Begin(ctx(g.t), &f.begin)
	if err != nil {
		g.t.Fatalf("begin: %v", err)
	}
	f.url = res.URL
	g.secrets = append(g.secrets, f.verifier, f.begin.State, f.begin.Nonce)
	return f
}

// login begins a flow and signs user in at the provider, as a browser.
func (g *rig) login(user oidcprovider.User) *flow {
	g.t.Helper()
	f := g.begin("")
	jar, err := cookiejar.New(nil)
	if err != nil {
		g.t.Fatal(err)
	}
	back, err := g.op.Login(&http.Client{Jar: jar, Timeout: 10 * time.Second}, f.url, user.Username, user.Password)
	if err != nil {
		g.t.Fatalf("login: %v", err)
	}
	q := back.Query()
	if q.Get("state") != f.begin.State || q.Get("code") == "" {
		g.t.Fatalf("the provider sent back %s", back.Redacted())
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != callback {
		g.t.Fatalf("the provider sent the browser to %s, not the callback", got)
	}
	f.code = q.Get("code")
	g.secrets = append(g.secrets, f.code)
	return f
}

// complete completes a flow with its own verifier and nonce.
func (g *rig) complete(f *flow) *redirect.CompleteResponse {
	g.t.Helper()
	return g.completeWith(f, f.verifier, f.begin.Nonce)
}

func (g *rig) completeWith(f *flow, verifier, nonce string) *redirect.CompleteResponse {
	g.t.Helper()
	res, err := g.p.Complete(ctx(g.t), &redirect.CompleteRequest{RedirectURL: callback, Code: f.code, CodeVerifier: verifier, Nonce: nonce})
	if err != nil {
		g.t.Fatalf("complete: %v", err)
	}
	if res.RefreshToken != "" {
		g.secrets = append(g.secrets, res.RefreshToken)
	}
	return res
}

// refresh refreshes with a refresh token.
func (g *rig) refresh(token string) *redirect.RefreshResponse {
	g.t.Helper()
	res, err := g.p.Refresh(ctx(g.t), &redirect.RefreshRequest{RefreshToken: token})
	if err != nil {
		g.t.Fatalf("refresh: %v", err)
	}
	if res.RefreshToken != "" {
		g.secrets = append(g.secrets, res.RefreshToken)
	}
	return res
}

// wantFailure checks that a response failed with typ, and that its
// description starts with desc.
func wantFailure(t *testing.T, failure, description, typ, desc string) {
	t.Helper()
	if failure != typ || !strings.HasPrefix(description, desc) {
		t.Fatalf("failure %q (%s), want %q (%s…)", failure, description, typ, desc)
	}
}

// signals returns the names of the signals sent so far.
func (g *rig) signals() []string {
	var names []string
	for _, s := range g.host.Emitted() {
		names = append(names, s.Name)
	}
	return names
}

// checkNoSecrets fails the test if a secret the test saw is in a signal's
// arguments or in the log.
func (g *rig) checkNoSecrets() {
	g.t.Helper()
	var seen strings.Builder
	for _, s := range g.host.Emitted() {
		seen.Write(s.Args)
		seen.WriteByte('\n')
	}
	seen.WriteString(g.log.String())
	text := seen.String()
	for _, secret := range g.secrets {
		if secret != "" && strings.Contains(text, secret) {
			g.t.Errorf("the secret %.12s… is in a signal or the log", secret)
		}
	}
}

package sdk_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/sdktest"
)

// lookingUpPlugin looks up, while it authenticates, the user its
// credential "lookup" names, and answers with what it found: a grant
// whose attributes carry the user's fields, or a deny whose reason is the
// lookup's error.
type lookingUpPlugin struct{ host sdk.Host }

func (*lookingUpPlugin) Metadata() sdk.Metadata { return sdk.Metadata{Name: "looking-up"} }
func (p *lookingUpPlugin) Configure(_ context.Context, req *sdk.ConfigureRequest) error {
	p.host = req.Host
	return nil
}

func (p *lookingUpPlugin) Authenticate(ctx context.Context, req *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	u, err := p.host.Users().LookupUser(ctx, req.Credentials["lookup"])
	if err != nil {
		resp.Decision, resp.Reason = sdk.DecisionDeny, err.Error()
		if errors.Is(err, sdk.ErrNotFound) {
			resp.Reason = "not found"
		}
		return nil
	}
	resp.Grant(sdk.Identity{Subject: u.ID, Username: u.Username, Attributes: map[string]string{"hash": u.PasswordHash, "disabled": map[bool]string{true: "yes", false: "no"}[u.Disabled]}})
	return nil
}

// countingHost is a MemoryHost that counts the lookups the plugin makes
// over the wire: those whose context lacks the mark the test's own calls
// carry (the host's lookup before an Authenticate call runs on the
// caller's context; the plugin's call back on the gRPC server's).
type countingHost struct {
	*sdktest.MemoryHost
	prefetch bool
	fail     error // every lookup fails with it, if set
	mu       sync.Mutex
	wire     int
}

type markKey struct{}

func (h *countingHost) PrefetchesUsers() bool { return h.prefetch }
func (h *countingHost) Users() sdk.Users      { return h }

func (h *countingHost) LookupUser(ctx context.Context, username string) (sdk.User, error) {
	if ctx.Value(markKey{}) == nil {
		h.mu.Lock()
		h.wire++
		h.mu.Unlock()
	}
	if h.fail != nil {
		return sdk.User{}, h.fail
	}
	return h.MemoryHost.LookupUser(ctx, username)
}

func (h *countingHost) wireCalls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wire
}

// A host that prefetches users sends the user an Authenticate call names
// with it, and the plugin's lookup of exactly that username is answered
// from it without calling back: found, with every field, or ErrNotFound.
// Any other lookup, a host that does not prefetch, and a prefetch that
// failed all go over the wire as before.
func TestPrefetchedUserSparesTheCallBack(t *testing.T) {
	ctx := context.WithValue(context.Background(), markKey{}, true)
	for _, tt := range []struct {
		name             string
		prefetch         bool
		fail             error
		username, lookup string
		wantReason       string // "" for a grant
		wantWire         int
	}{
		{"the named user, prefetched", true, nil, "alice", "alice", "", 0},
		{"an unknown user, prefetched", true, nil, "nobody", "nobody", "not found", 0},
		{"another user than the named one", true, nil, "alice", "bob", "", 1},
		{"a name differing only in case", true, nil, "alice", "Alice", "not found", 1},
		{"a host that does not prefetch", false, nil, "alice", "alice", "", 1},
		{"a prefetch that failed", true, errors.New("database down"), "alice", "alice", "database down", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			host := &countingHost{MemoryHost: sdktest.NewMemoryHost(), prefetch: tt.prefetch, fail: tt.fail}
			alice := host.AddUser(sdk.User{Username: "alice", PasswordHash: "$argon2id$planted-hash", Disabled: true})
			bob := host.AddUser(sdk.User{Username: "bob", PasswordHash: "$argon2id$bobs-hash"})
			auth := sdktest.Start(t, &lookingUpPlugin{}, nil, host).Authenticator()
			var resp sdk.AuthenticateResponse
			err := auth.Authenticate(ctx, &sdk.AuthenticateRequest{Username: tt.username, Credentials: map[string]string{"lookup": tt.lookup}}, &resp)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantReason != "" {
				if resp.Decision != sdk.DecisionDeny || !strings.Contains(resp.Reason, tt.wantReason) {
					t.Errorf("answer %v %q; want a deny with %q", resp.Decision, resp.Reason, tt.wantReason)
				}
			} else {
				want := map[string]sdk.User{"alice": alice, "bob": bob}[tt.lookup]
				got := resp.Identity
				if resp.Decision != sdk.DecisionIdentity || got.Subject != want.ID || got.Username != want.Username ||
					got.Attributes["hash"] != want.PasswordHash || (got.Attributes["disabled"] == "yes") != want.Disabled {
					t.Errorf("answer %v %+v; want the user %+v", resp.Decision, got, want)
				}
			}
			if n := host.wireCalls(); n != tt.wantWire {
				t.Errorf("%d lookups crossed the wire; want %d", n, tt.wantWire)
			}
		})
	}
}

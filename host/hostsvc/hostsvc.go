// Package hostsvc implements the services the host offers each plugin
// instance (sdk.Host) on top of the host's storage and signal dispatcher,
// with least privilege: a plugin gets only what its capabilities need and
// its backend entry grants.
//
//   - Storage is the instance's own namespace, always.
//   - Users answer only an Authenticator. LookupUser returns the password
//     hash only with the grant password_hashes:read, and ListUsers (every
//     user's hash) needs it; SetPasswordHash needs password_hashes:write.
//   - Signals: a plugin sends only the names its metadata declares
//     (Emits), never one the host owns, always under its instance name.
//
// Everything else is sdk.ErrPermissionDenied.
package hostsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// The grants an operator can give a backend (`grants:` in its entry).
const (
	// GrantReadPasswordHashes lets LookupUser return password hashes, and
	// ListUsers list every user with its hash.
	GrantReadPasswordHashes = "password_hashes:read"
	// GrantWritePasswordHashes lets the plugin replace password hashes.
	GrantWritePasswordHashes = "password_hashes:write"
)

// Grants are every grant there is, for validating configuration.
var Grants = []string{GrantReadPasswordHashes, GrantWritePasswordHashes}

// Emitter is where plugin signals go (the host's dispatcher).
type Emitter interface {
	EmitFromPlugin(ctx context.Context, name, sender string, args json.RawMessage) (string, error)
}

// Services is the sdk.Host of one plugin instance.
type Services struct {
	store    *storage.Store
	instance string
	emitter  Emitter
	grants   []string

	mu            sync.RWMutex
	authenticator bool
	emits         []string
}

// New returns the services for the named instance with the given grants.
// Until Declare is called, the plugin gets no users and may send no
// signal.
func New(store *storage.Store, instance string, emitter Emitter, grants []string) *Services {
	return &Services{store: store, instance: instance, emitter: emitter, grants: slices.Clone(grants)}
}

// Declare records what the plugin is (an Authenticator or not) and which
// signals its metadata declares. The host calls it after reading the
// metadata, before Configure.
func (s *Services) Declare(authenticator bool, emits []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authenticator, s.emits = authenticator, slices.Clone(emits)
}

func (s *Services) granted(g string) bool { return slices.Contains(s.grants, g) }

// PrefetchesUsers implements hostside.UserPrefetcher: a backend granted
// password_hashes:read, which looks up the user of each login to check
// its password, is sent that user with the Authenticate call instead of
// calling back for it.
func (s *Services) PrefetchesUsers() bool { return s.granted(GrantReadPasswordHashes) }

func (s *Services) Users() sdk.Users     { return users{s} }
func (s *Services) Storage() sdk.Storage { return s.store.KV(s.instance) }
func (s *Services) Signals() sdk.Emitter { return emitter{s} }

type users struct{ s *Services }

func (u users) check() error {
	u.s.mu.RLock()
	defer u.s.mu.RUnlock()
	if !u.s.authenticator {
		return fmt.Errorf("%w: plugin %q is not an authenticator, so it may not look up users", sdk.ErrPermissionDenied, u.s.instance)
	}
	return nil
}

func (u users) LookupUser(ctx context.Context, username string) (sdk.User, error) {
	if err := u.check(); err != nil {
		return sdk.User{}, err
	}
	usr, err := u.s.store.UserByUsername(ctx, username)
	if err != nil {
		return sdk.User{}, err
	}
	out := sdk.User{ID: usr.ID, Username: usr.Username, Disabled: usr.Disabled}
	if u.s.granted(GrantReadPasswordHashes) {
		out.PasswordHash = usr.PasswordHash
	}
	return out, nil
}

// MaxListUsers bounds a page of ListUsers.
const MaxListUsers = 1000

func (u users) ListUsers(ctx context.Context, afterID string, limit int) ([]sdk.User, error) {
	if err := u.check(); err != nil {
		return nil, err
	}
	if !u.s.granted(GrantReadPasswordHashes) {
		return nil, fmt.Errorf("%w: backend %q is not granted %s, which listing users needs", sdk.ErrPermissionDenied, u.s.instance, GrantReadPasswordHashes)
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit must be > 0", sdk.ErrInvalidArgument)
	}
	page, err := u.s.store.ListUsersPage(ctx, afterID, min(limit, MaxListUsers))
	if err != nil {
		return nil, err
	}
	out := make([]sdk.User, len(page))
	for i, usr := range page {
		out[i] = sdk.User{ID: usr.ID, Username: usr.Username, PasswordHash: usr.PasswordHash, Disabled: usr.Disabled}
	}
	return out, nil
}

func (u users) SetPasswordHash(ctx context.Context, userID, oldHash, newHash string) error {
	if err := u.check(); err != nil {
		return err
	}
	if !u.s.granted(GrantWritePasswordHashes) {
		return fmt.Errorf("%w: backend %q is not granted %s", sdk.ErrPermissionDenied, u.s.instance, GrantWritePasswordHashes)
	}
	return u.s.store.ReplacePasswordHash(ctx, userID, oldHash, newHash)
}

type emitter struct{ s *Services }

// Emit implements sdk.Emitter. args arrives from the wire as JSON; a value
// given in-process is encoded first. The sender is always the instance.
func (e emitter) Emit(ctx context.Context, name string, args any) (string, error) {
	if signals.HostOnly(name) {
		return "", fmt.Errorf("%w: %s is sent only by the host", sdk.ErrPermissionDenied, name)
	}
	e.s.mu.RLock()
	declared := slices.Contains(e.s.emits, name)
	e.s.mu.RUnlock()
	if !declared {
		return "", fmt.Errorf("%w: plugin %q does not declare the signal %s in its metadata (Emits)", sdk.ErrPermissionDenied, e.s.instance, name)
	}
	raw, ok := args.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(args); err != nil {
			return "", fmt.Errorf("%w: encoding signal arguments: %v", sdk.ErrInvalidArgument, err)
		}
	}
	return e.s.emitter.EmitFromPlugin(ctx, name, e.s.instance, raw)
}

// Interface guards.
var (
	_ sdk.Host    = (*Services)(nil)
	_ sdk.Users   = users{}
	_ sdk.Emitter = emitter{}
)

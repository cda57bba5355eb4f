// Package hostsvc implements the services the host offers each plugin
// instance (sdk.Host) on top of the host's storage and signal dispatcher.
package hostsvc

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Emitter is where plugin signals go (the host's dispatcher).
type Emitter interface {
	EmitRaw(ctx context.Context, name, sender string, args json.RawMessage) (string, error)
}

// Services is the sdk.Host of one plugin instance: its storage is the
// instance's own namespace, and signals it emits without a sender are sent
// in its name.
type Services struct {
	store    *storage.Store
	instance string
	emitter  Emitter
}

// New returns the services for the named instance.
func New(store *storage.Store, instance string, emitter Emitter) *Services {
	return &Services{store: store, instance: instance, emitter: emitter}
}

func (s *Services) Users() sdk.Users     { return users{s.store} }
func (s *Services) Storage() sdk.Storage { return s.store.KV(s.instance) }
func (s *Services) Signals() sdk.Emitter { return signals{s} }

type users struct{ store *storage.Store }

func (u users) LookupUser(ctx context.Context, username string) (sdk.User, error) {
	usr, err := u.store.UserByUsername(ctx, username)
	if err != nil {
		return sdk.User{}, err
	}
	return sdk.User{ID: usr.ID, Username: usr.Username, PasswordHash: usr.PasswordHash, Disabled: usr.Disabled}, nil
}

func (u users) SetPasswordHash(ctx context.Context, userID, oldHash, newHash string) error {
	return u.store.ReplacePasswordHash(ctx, userID, oldHash, newHash)
}

type signals struct{ s *Services }

// Emit implements sdk.Emitter. args arrives from the wire as JSON; a value
// given in-process is encoded first.
func (e signals) Emit(ctx context.Context, name, sender string, args any) (string, error) {
	raw, ok := args.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(args); err != nil {
			return "", fmt.Errorf("%w: encoding signal arguments: %v", sdk.ErrInvalidArgument, err)
		}
	}
	if sender == "" {
		sender = e.s.instance
	}
	return e.s.emitter.EmitRaw(ctx, name, sender, raw)
}

// Interface guards.
var (
	_ sdk.Host    = (*Services)(nil)
	_ sdk.Users   = users{}
	_ sdk.Emitter = signals{}
)

// Package hostsvc implements the services the host offers each plugin
// instance (sdk.Host) on top of the host's storage.
package hostsvc

import (
	"context"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Services is the sdk.Host of one plugin instance.
type Services struct {
	store    *storage.Store
	instance string
}

// New returns the services for the named instance.
func New(store *storage.Store, instance string) *Services {
	return &Services{store: store, instance: instance}
}

func (s *Services) Users() sdk.Users     { return users{s.store} }
func (s *Services) Storage() sdk.Storage { return unimplementedStorage{} }
func (s *Services) Signals() sdk.Emitter { return unimplementedEmitter{} }

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

var errNoStorage = fmt.Errorf("%w: plugin storage is not available in this version", sdk.ErrUnimplemented)

type unimplementedStorage struct{}

func (unimplementedStorage) Get(context.Context, string) (sdk.Entry, error) {
	return sdk.Entry{}, errNoStorage
}
func (unimplementedStorage) Put(context.Context, string, []byte, time.Duration) error {
	return errNoStorage
}
func (unimplementedStorage) Delete(context.Context, string) (bool, error) { return false, errNoStorage }
func (unimplementedStorage) List(context.Context, string) ([]sdk.Entry, error) {
	return nil, errNoStorage
}
func (unimplementedStorage) Increment(context.Context, string, int64, time.Duration) (int64, error) {
	return 0, errNoStorage
}
func (unimplementedStorage) CompareAndSwap(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return false, errNoStorage
}

type unimplementedEmitter struct{}

func (unimplementedEmitter) Emit(context.Context, string, string, any) (string, error) {
	return "", fmt.Errorf("%w: signal emission is not available in this version", sdk.ErrUnimplemented)
}

// Interface guards.
var (
	_ sdk.Host    = (*Services)(nil)
	_ sdk.Users   = users{}
	_ sdk.Storage = unimplementedStorage{}
	_ sdk.Emitter = unimplementedEmitter{}
)

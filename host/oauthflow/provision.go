package oauthflow

import (
	"context"
	"errors"
	"fmt"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// localUser maps the identity a backend read to a local user: the one
// its subject is linked to, or, the first time, the one the backend's
// provisioning policy gives (link: the only active user with the same
// verified email; create: a new user without a password; deny: none).
// It adds the roles the provider's groups map to. The provider's tokens
// are not kept here but with the session the sign-in starts (Callback).
func (s *Service) localUser(ctx context.Context, backend string, resp *redirect.CompleteResponse) (storage.User, error) {
	id := resp.Identity
	if id.Subject == "" || len(id.Subject) > 512 {
		return storage.User{}, &ProviderError{Type: redirect.FailureNoIdentity, Description: "the identity has no subject"}
	}
	var user storage.User
	link, err := s.opts.Store.ExternalIdentityOf(ctx, backend, id.Subject)
	switch {
	case err == nil:
		if user, err = s.opts.Store.UserByID(ctx, link.UserID); errors.Is(err, sdk.ErrNotFound) {
			return storage.User{}, fmt.Errorf("the account this identity was linked to was removed: %w", ErrNotProvisioned)
		} else if err != nil {
			return storage.User{}, err
		}
	case errors.Is(err, sdk.ErrNotFound):
		if user, err = s.provision(ctx, id); err != nil {
			return storage.User{}, err
		}
		e := storage.ExternalIdentity{Backend: backend, Subject: id.Subject, UserID: user.ID}
		if err := s.opts.Store.LinkExternalIdentity(ctx, e); errors.Is(err, sdk.ErrConflict) {
			// Two first sign-ins at once: the other linked it.
			return s.localUser(ctx, backend, resp)
		} else if err != nil {
			return storage.User{}, err
		}
	default:
		return storage.User{}, err
	}
	if user.Disabled {
		return storage.User{}, fmt.Errorf("the account is disabled: %w", ErrNotProvisioned)
	}
	for _, role := range id.Roles {
		// A group mapped to a role that does not exist here gives none.
		if _, err := s.opts.Store.AddUserRole(ctx, user.Username, role); err != nil && !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, sdk.ErrInvalidArgument) {
			return storage.User{}, err
		}
	}
	return user, nil
}

// provision finds or makes the local user of a first-time identity.
func (s *Service) provision(ctx context.Context, id *redirect.Identity) (storage.User, error) {
	switch id.Provisioning {
	case redirect.ProvisionLink:
		if !id.EmailVerified || id.Email == "" {
			return storage.User{}, fmt.Errorf("the provider vouches for no verified email to link by: %w", ErrNotProvisioned)
		}
		users, err := s.opts.Store.UsersByEmail(ctx, id.Email)
		if err != nil {
			return storage.User{}, err
		}
		if len(users) != 1 {
			return storage.User{}, fmt.Errorf("no single local user has this verified email: %w", ErrNotProvisioned)
		}
		return users[0], nil
	case redirect.ProvisionCreate:
		name, err := usernames.Canonical(id.Username)
		if err != nil || id.Username == "" {
			return storage.User{}, fmt.Errorf("the provider's username cannot be a username here: %w", ErrNotProvisioned)
		}
		// No password: the user signs in through the provider only.
		u, err := s.opts.Store.CreateUser(ctx, name, "")
		if errors.Is(err, sdk.ErrConflict) {
			return storage.User{}, fmt.Errorf("a local user named %s exists; it is not taken over (use provisioning: link): %w", usernames.Quote(name), ErrNotProvisioned)
		}
		if err != nil {
			return storage.User{}, err
		}
		if id.EmailVerified && id.Email != "" {
			if err := s.opts.Store.SetUserEmail(ctx, u.Username, id.Email); err != nil && !errors.Is(err, sdk.ErrInvalidArgument) {
				return storage.User{}, err
			}
		}
		return u, nil
	}
	return storage.User{}, ErrNotProvisioned // deny, or a policy this host does not know
}

package admin

import (
	"context"
	"fmt"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
)

// AuthRequests returns a page of the authorization requests q selects,
// newest first (of every app, and the host's two-factor logins).
func (s *Service) AuthRequests(ctx context.Context, q storage.AuthRequestQuery, username string) (PageOf[storage.AuthRequest], error) {
	if s.opts.AuthRequests == nil {
		return PageOf[storage.AuthRequest]{}, fmt.Errorf("authorization requests: %w", ErrUnavailable)
	}
	q.Page = page(q.Page)
	if username != "" {
		u, err := s.findUser(ctx, username)
		if err != nil {
			return PageOf[storage.AuthRequest]{}, err
		}
		q.UserID = u.ID
	}
	// Requests whose time is up read expired here too.
	if _, err := s.opts.AuthRequests.ExpireDue(ctx); err != nil {
		return PageOf[storage.AuthRequest]{}, err
	}
	items, total, err := s.opts.AuthRequests.List(ctx, q)
	if err != nil {
		return PageOf[storage.AuthRequest]{}, err
	}
	if items == nil {
		items = []storage.AuthRequest{}
	}
	return PageOf[storage.AuthRequest]{Items: items, Total: total, Offset: q.Offset, Limit: q.Limit}, nil
}

// AuthRequest returns one authorization request as it stands.
func (s *Service) AuthRequest(ctx context.Context, id string) (storage.AuthRequest, error) {
	if s.opts.AuthRequests == nil {
		return storage.AuthRequest{}, fmt.Errorf("authorization requests: %w", ErrUnavailable)
	}
	return s.opts.AuthRequests.Get(ctx, id)
}

// DecideAuthRequest grants, denies or cancels a waiting authorization
// request (reason "admin"); one that is not waiting is sdk.ErrConflict,
// with the request as it stands.
func (s *Service) DecideAuthRequest(ctx context.Context, c Caller, id, to string) (storage.AuthRequest, error) {
	if s.opts.AuthRequests == nil {
		return storage.AuthRequest{}, fmt.Errorf("authorization requests: %w", ErrUnavailable)
	}
	r, err := s.opts.AuthRequests.Decide(ctx, id, to, "admin")
	if err != nil {
		return r, err
	}
	s.audit(ctx, c, "authorization_request_"+to, id, map[string]any{"slug": r.Slug, "user": usernames.Display(r.Username)})
	return r, nil
}

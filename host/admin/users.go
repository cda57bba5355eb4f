package admin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
	"github.com/portcullis-auth/portcullis/sdk/signals"
)

// PageOf is one page of a list, with the number of rows the filter
// matches in all.
type PageOf[T any] struct {
	Items  []T   `json:"items"`
	Total  int64 `json:"total"`
	Offset int   `json:"offset"`
	Limit  int   `json:"limit"`
}

// Next is the offset of the next page, or -1 on the last.
func (p PageOf[T]) Next() int {
	if n := p.Offset + len(p.Items); int64(n) < p.Total && len(p.Items) > 0 {
		return n
	}
	return -1
}

// Prev is the offset of the previous page, or -1 on the first.
func (p PageOf[T]) Prev() int {
	if p.Offset == 0 {
		return -1
	}
	return max(p.Offset-p.Limit, 0)
}

// DefaultLimit is a page's size when none is asked for.
const DefaultLimit = 50

// page fills in a page's defaults and bounds.
func page(p storage.Page) storage.Page {
	if p.Limit <= 0 {
		p.Limit = DefaultLimit
	}
	p.Limit = min(p.Limit, storage.MaxPage)
	p.Offset = max(p.Offset, 0)
	return p
}

// User is a user as admins see it: never its password hash.
type User struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Disabled  bool      `json:"disabled"`
	Superuser bool      `json:"superuser"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

func userView(u storage.User, roles []string) User {
	if roles == nil {
		roles = []string{}
	}
	return User{ID: u.ID, Username: u.Username, Disabled: u.Disabled, Superuser: u.Superuser, Roles: roles, CreatedAt: u.CreatedAt}
}

// Users returns a page of the users q selects, with their roles.
func (s *Service) Users(ctx context.Context, q storage.UserQuery) (PageOf[User], error) {
	q.Page = page(q.Page)
	users, total, err := s.opts.Store.QueryUsers(ctx, q)
	if err != nil {
		return PageOf[User]{}, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	roles, err := s.opts.Store.RolesOfUsers(ctx, ids)
	if err != nil {
		return PageOf[User]{}, err
	}
	out := PageOf[User]{Items: make([]User, len(users)), Total: total, Offset: q.Offset, Limit: q.Limit}
	for i, u := range users {
		out.Items[i] = userView(u, roles[u.ID])
	}
	return out, nil
}

// User returns one user by username.
func (s *Service) User(ctx context.Context, username string) (User, error) {
	u, err := s.findUser(ctx, username)
	if err != nil {
		return User{}, err
	}
	roles, err := s.opts.Store.RolesOfUsers(ctx, []string{u.ID})
	if err != nil {
		return User{}, err
	}
	return userView(u, roles[u.ID]), nil
}

// findUser looks a user up by the name as given, then in its canonical
// form.
func (s *Service) findUser(ctx context.Context, username string) (storage.User, error) {
	u, err := s.opts.Store.UserByUsername(ctx, username)
	if errors.Is(err, sdk.ErrNotFound) {
		if c, cerr := usernames.Canonical(username); cerr == nil && c != username {
			u, err = s.opts.Store.UserByUsername(ctx, c)
		}
	}
	if errors.Is(err, sdk.ErrNotFound) {
		return storage.User{}, fmt.Errorf("user %s: %w", usernames.Quote(username), sdk.ErrNotFound)
	}
	return u, err
}

// hash hashes a user's password with the password backend.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if s.opts.HashPassword == nil {
		return "", fmt.Errorf("no password backend is configured to hash users' passwords: %w", ErrUnavailable)
	}
	switch {
	case pw == "":
		return "", fmt.Errorf("the password must not be empty: %w", sdk.ErrInvalidArgument)
	case len(pw) > MaxPasswordBytes:
		return "", fmt.Errorf("the password is longer than %d bytes: %w", MaxPasswordBytes, sdk.ErrInvalidArgument)
	}
	return s.opts.HashPassword(ctx, pw)
}

// CreateUser adds a user with a password and, optionally, roles.
func (s *Service) CreateUser(ctx context.Context, c Caller, username, pw string, roles []string) (User, error) {
	name, err := usernames.Canonical(username)
	if err != nil {
		return User{}, fmt.Errorf("%s: %w", err, sdk.ErrInvalidArgument)
	}
	for _, r := range roles {
		if _, err := s.opts.Store.RoleByName(ctx, r); err != nil {
			return User{}, err
		}
	}
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return User{}, err
	}
	u, err := s.opts.Store.CreateUser(ctx, name, hash)
	if err != nil {
		return User{}, err
	}
	s.audit(ctx, c, "user_created", u.Username, nil)
	for _, r := range roles {
		if _, err := s.opts.Store.AddUserRole(ctx, u.Username, r); err != nil {
			return User{}, err
		}
		s.audit(ctx, c, "user_role_added", u.Username, map[string]any{"role": r})
	}
	return s.User(ctx, u.Username)
}

// SetUserPassword replaces a user's password and ends the user's sessions.
func (s *Service) SetUserPassword(ctx context.Context, c Caller, username, pw string) (ended int, err error) {
	u, err := s.findUser(ctx, username)
	if err != nil {
		return 0, err
	}
	hash, err := s.hash(ctx, pw)
	if err != nil {
		return 0, err
	}
	sessions, err := s.opts.Store.SetPassword(ctx, u.Username, hash)
	if err != nil {
		return 0, err
	}
	s.ended(ctx, u.ID, sessions)
	s.audit(ctx, c, "user_password_set", u.Username, map[string]any{"sessions_ended": len(sessions)})
	return len(sessions), nil
}

// SetUserDisabled disables a user (ending its sessions) or enables it. It
// reports whether anything changed.
func (s *Service) SetUserDisabled(ctx context.Context, c Caller, username string, disabled bool) (bool, error) {
	u, err := s.findUser(ctx, username)
	if err != nil {
		return false, err
	}
	if !disabled {
		changed, err := s.opts.Store.EnableUser(ctx, u.ID)
		if err == nil && changed {
			s.audit(ctx, c, "user_enabled", u.Username, nil)
		}
		return changed, err
	}
	changed, sessions, err := s.opts.Store.DisableUser(ctx, u.ID)
	if err != nil {
		return false, err
	}
	s.ended(ctx, u.ID, sessions)
	if changed || len(sessions) > 0 {
		s.audit(ctx, c, "user_disabled", u.Username, map[string]any{"sessions_ended": len(sessions)})
	}
	return changed, nil
}

// SetSuperuser sets or clears a user's superuser flag.
func (s *Service) SetSuperuser(ctx context.Context, c Caller, username string, on bool) error {
	u, err := s.findUser(ctx, username)
	if err != nil {
		return err
	}
	if err := s.opts.Store.SetSuperuser(ctx, u.Username, on); err != nil {
		return err
	}
	s.audit(ctx, c, "user_superuser_set", u.Username, map[string]any{"superuser": on})
	return nil
}

// AddUserRole gives a user a role; it reports whether the user lacked it.
func (s *Service) AddUserRole(ctx context.Context, c Caller, username, role string) (bool, error) {
	u, err := s.findUser(ctx, username)
	if err != nil {
		return false, err
	}
	added, err := s.opts.Store.AddUserRole(ctx, u.Username, role)
	if err == nil && added {
		s.audit(ctx, c, "user_role_added", u.Username, map[string]any{"role": role})
	}
	return added, err
}

// RemoveUserRole takes a role from a user; it reports whether the user
// held it.
func (s *Service) RemoveUserRole(ctx context.Context, c Caller, username, role string) (bool, error) {
	u, err := s.findUser(ctx, username)
	if err != nil {
		return false, err
	}
	removed, err := s.opts.Store.RemoveUserRole(ctx, u.Username, role)
	if err == nil && removed {
		s.audit(ctx, c, "user_role_removed", u.Username, map[string]any{"role": role})
	}
	return removed, err
}

// ended tells the host of user sessions a change ended.
func (s *Service) ended(ctx context.Context, userID string, sessions []string) {
	if s.opts.OnUserSessionsEnded != nil && len(sessions) > 0 {
		s.opts.OnUserSessionsEnded(ctx, userID, sessions)
	}
}

// audit sends the admin_action signal of a change.
func (s *Service) audit(ctx context.Context, c Caller, action, target string, details map[string]any) {
	via := c.Via
	if via == "" {
		via = "cli"
	}
	if c.TokenName != "" {
		// An admin may make a token that acts as another: the token's
		// name ties the action to the admin_token_created that made it.
		details = withDetail(details, "token", c.TokenName)
	}
	s.emit(ctx, &signals.AdminAction{Admin: c.Username, Via: via, Action: action, Target: target, Details: details})
}

func withDetail(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}

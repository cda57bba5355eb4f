package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/sdk"
)

// Role is a named set of permissions that users are given.
type Role struct {
	ID   string
	Name string
	// Permissions are the role's permissions, sorted (byte order).
	Permissions []string
	// Users is how many users hold the role.
	Users     int
	CreatedAt time.Time
}

// Authz is what a user is allowed, as an access token carries it.
type Authz struct {
	// Roles are the names of the user's roles and Permissions the union of
	// their permissions, sorted (byte order) and without repeats.
	Roles, Permissions []string
	Superuser          bool
}

type roleRow struct {
	ID        string `gorm:"primaryKey;size:36"`
	Name      string `gorm:"size:64;not null;uniqueIndex"`
	CreatedAt time.Time
}

func (roleRow) TableName() string { return "roles" }

// rolePermissionRow grants a permission to a role.
//
// The role tables have no foreign keys, as no table of the host has (on
// SQLite a table rebuilt by a migration would cascade its deletes):
// DeleteRole and RemoveUser delete what refers to the row they delete, in
// the same transaction, and every read joins through roles and users, so
// a row left behind would be seen by nobody. Writes that add a row
// referring to a role or user first lock that row (FOR SHARE, on
// PostgreSQL; SQLite runs one write transaction at a time), and a delete
// deletes the role or user row before what refers to it: of a delete and
// an add at once, either the add sees no role or user, or the delete sees
// the added row.
type rolePermissionRow struct {
	RoleID     string    `gorm:"primaryKey;size:36"`
	Permission string    `gorm:"primaryKey;size:128"`
	CreatedAt  time.Time `gorm:"not null"`
}

func (rolePermissionRow) TableName() string { return "role_permissions" }

// userRoleRow gives a role to a user.
type userRoleRow struct {
	UserID    string    `gorm:"primaryKey;size:36"`
	RoleID    string    `gorm:"primaryKey;size:36;index"`
	CreatedAt time.Time `gorm:"not null"`
}

func (userRoleRow) TableName() string { return "user_roles" }

// ValidateRoleName checks a role's name by the rules of an app key's
// name (ValidateAppKeyName): 1 to 64 characters, each an ASCII letter or
// digit, '.', '_' or '-'. The error wraps sdk.ErrInvalidArgument and says
// what is wrong.
func ValidateRoleName(name string) error { return validateName("role", name) }

// ValidatePermission checks a permission: 1 to 128 bytes, each printable
// ASCII other than the space (accesstoken.ValidatePermission, the rule
// apps and the host's permission check apply too). The error wraps
// sdk.ErrInvalidArgument and says what is wrong.
func ValidatePermission(p string) error {
	if err := accesstoken.ValidatePermission(p); err != nil {
		return fmt.Errorf("%w: %w", err, sdk.ErrInvalidArgument)
	}
	return nil
}

// validatePermissions checks a list of permissions to grant or revoke.
func validatePermissions(perms []string) error {
	if len(perms) == 0 {
		return fmt.Errorf("name at least one permission: %w", sdk.ErrInvalidArgument)
	}
	for _, p := range perms {
		if err := ValidatePermission(p); err != nil {
			return err
		}
	}
	return nil
}

// CreateRole makes a role without permissions. The name must pass
// ValidateRoleName; a name taken is sdk.ErrConflict.
func (s *Store) CreateRole(ctx context.Context, name string) (Role, error) {
	if err := ValidateRoleName(name); err != nil {
		return Role{}, err
	}
	row := roleRow{ID: uuid.NewString(), Name: name}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return Role{}, fmt.Errorf("role %q already exists: %w", name, sdk.ErrConflict)
	}
	if err != nil {
		return Role{}, fmt.Errorf("creating role: %w", err)
	}
	return Role{ID: row.ID, Name: row.Name, Permissions: []string{}, CreatedAt: row.CreatedAt}, nil
}

// DeleteRole deletes the role named name, its grants and its memberships
// in one transaction; sdk.ErrNotFound if there is none. Its users' tokens
// lose it at their next token.
func (s *Store) DeleteRole(ctx context.Context, name string) error {
	if err := ValidateRoleName(name); err != nil {
		return err
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		id, err := roleID(tx, name, false)
		if err != nil {
			return err
		}
		// The role first: its row lock waits for a grant or membership
		// being added, which the deletes below then see.
		res := tx.Where("id = ?", id).Delete(&roleRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("role %q: %w", name, sdk.ErrNotFound)
		}
		if err := tx.Where("role_id = ?", id).Delete(&userRoleRow{}).Error; err != nil {
			return err
		}
		return tx.Where("role_id = ?", id).Delete(&rolePermissionRow{}).Error
	})
	if err != nil && !errors.Is(err, sdk.ErrNotFound) {
		err = fmt.Errorf("deleting role: %w", err)
	}
	return err
}

// roleID returns the id of the role named name, or sdk.ErrNotFound. With
// lock, the row is locked FOR SHARE until the transaction tx ends, so
// that the role is not deleted meanwhile (on PostgreSQL; SQLite has one
// writer at a time).
func roleID(tx *gorm.DB, name string, lock bool) (string, error) {
	var row roleRow
	if lock {
		tx = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthShare})
	}
	err := tx.Select("id").Where("name = ?", name).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", fmt.Errorf("role %q: %w", name, sdk.ErrNotFound)
	}
	return row.ID, err
}

// RoleByName returns the role named name with its permissions and the
// number of its users, or sdk.ErrNotFound.
func (s *Store) RoleByName(ctx context.Context, name string) (Role, error) {
	if err := ValidateRoleName(name); err != nil {
		return Role{}, err
	}
	roles, err := s.roles(ctx, &name)
	if err != nil {
		return Role{}, err
	}
	if len(roles) == 0 {
		return Role{}, fmt.Errorf("role %q: %w", name, sdk.ErrNotFound)
	}
	return roles[0], nil
}

// ListRoles returns every role by name (byte order), with its permissions
// and the number of its users.
func (s *Store) ListRoles(ctx context.Context) ([]Role, error) {
	return s.roles(ctx, nil)
}

// roles reads the roles (only the one named *name when name is not nil)
// with their permissions and member counts, in one transaction-free pass
// of three reads; sorted by name.
func (s *Store) roles(ctx context.Context, name *string) ([]Role, error) {
	db := s.db.WithContext(ctx)
	var rows []roleRow
	q := db.Model(&roleRow{})
	if name != nil {
		q = q.Where("name = ?", *name)
	}
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing roles: %w", err)
	}
	if len(rows) == 0 {
		return []Role{}, nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var grants []rolePermissionRow
	if err := db.Select("role_id", "permission").Where("role_id IN ?", ids).Find(&grants).Error; err != nil {
		return nil, fmt.Errorf("listing role permissions: %w", err)
	}
	var counts []struct {
		RoleID string
		N      int
	}
	// Joined with users: a membership left by a user removed from a
	// database without foreign keys enforced is not counted.
	err := db.Table("user_roles").Select("user_roles.role_id AS role_id, COUNT(*) AS n").
		Joins("JOIN users ON users.id = user_roles.user_id").
		Where("user_roles.role_id IN ?", ids).Group("user_roles.role_id").Scan(&counts).Error
	if err != nil {
		return nil, fmt.Errorf("counting role members: %w", err)
	}
	byID := make(map[string]*Role, len(rows))
	roles := make([]Role, len(rows))
	for i, r := range rows {
		roles[i] = Role{ID: r.ID, Name: r.Name, Permissions: []string{}, CreatedAt: r.CreatedAt}
		byID[r.ID] = &roles[i]
	}
	for _, g := range grants {
		if r := byID[g.RoleID]; r != nil {
			r.Permissions = append(r.Permissions, g.Permission)
		}
	}
	for _, c := range counts {
		if r := byID[c.RoleID]; r != nil {
			r.Users = c.N
		}
	}
	for i := range roles {
		slices.Sort(roles[i].Permissions)
	}
	slices.SortFunc(roles, func(a, b Role) int { return strings.Compare(a.Name, b.Name) })
	return roles, nil
}

// GrantPermissions gives perms to the role named role and returns how
// many it did not hold before. Every permission must pass
// ValidatePermission and at least one must be given, or nothing changes
// (sdk.ErrInvalidArgument); an unknown role is sdk.ErrNotFound.
func (s *Store) GrantPermissions(ctx context.Context, role string, perms ...string) (added int, err error) {
	if err := ValidateRoleName(role); err != nil {
		return 0, err
	}
	if err := validatePermissions(perms); err != nil {
		return 0, err
	}
	perms = sortedSet(perms)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		id, err := roleID(tx, role, true)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		rows := make([]rolePermissionRow, len(perms))
		for i, p := range perms {
			rows[i] = rolePermissionRow{RoleID: id, Permission: p, CreatedAt: now}
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows)
		added = int(res.RowsAffected)
		return res.Error
	})
	if err != nil {
		if !errors.Is(err, sdk.ErrNotFound) {
			err = fmt.Errorf("granting permissions: %w", err)
		}
		return 0, err
	}
	return added, nil
}

// RevokePermissions takes perms from the role named role and returns how
// many it held. Inputs are checked as GrantPermissions checks them.
func (s *Store) RevokePermissions(ctx context.Context, role string, perms ...string) (removed int, err error) {
	if err := ValidateRoleName(role); err != nil {
		return 0, err
	}
	if err := validatePermissions(perms); err != nil {
		return 0, err
	}
	perms = sortedSet(perms)
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		id, err := roleID(tx, role, false)
		if err != nil {
			return err
		}
		res := tx.Where("role_id = ? AND permission IN ?", id, perms).Delete(&rolePermissionRow{})
		removed = int(res.RowsAffected)
		return res.Error
	})
	if err != nil {
		if !errors.Is(err, sdk.ErrNotFound) {
			err = fmt.Errorf("revoking permissions: %w", err)
		}
		return 0, err
	}
	return removed, nil
}

// AddUserRole gives the role named role to the user named username
// (exactly) and reports whether the user did not hold it. An unknown user
// or role is sdk.ErrNotFound.
func (s *Store) AddUserRole(ctx context.Context, username, role string) (added bool, err error) {
	if err := ValidateRoleName(role); err != nil {
		return false, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		uid, rid, err := userAndRole(tx, username, role)
		if err != nil {
			return err
		}
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).
			Create(&userRoleRow{UserID: uid, RoleID: rid, CreatedAt: time.Now().UTC()})
		added = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		if !errors.Is(err, sdk.ErrNotFound) {
			err = fmt.Errorf("adding a role to a user: %w", err)
		}
		return false, err
	}
	return added, nil
}

// RemoveUserRole takes the role named role from the user named username
// (exactly) and reports whether the user held it. An unknown user or role
// is sdk.ErrNotFound.
func (s *Store) RemoveUserRole(ctx context.Context, username, role string) (removed bool, err error) {
	if err := ValidateRoleName(role); err != nil {
		return false, err
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		uid, rid, err := userAndRole(tx, username, role)
		if err != nil {
			return err
		}
		res := tx.Where("user_id = ? AND role_id = ?", uid, rid).Delete(&userRoleRow{})
		removed = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		if !errors.Is(err, sdk.ErrNotFound) {
			err = fmt.Errorf("removing a role from a user: %w", err)
		}
		return false, err
	}
	return removed, nil
}

// userAndRole returns the ids of the user named username and the role
// named role, locked FOR SHARE (see roleID), or sdk.ErrNotFound.
func userAndRole(tx *gorm.DB, username, role string) (user, rid string, err error) {
	var row userRow
	err = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthShare}).
		Select("id").Where("username = ?", username).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", "", fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	if err != nil {
		return "", "", err
	}
	if rid, err = roleID(tx, role, true); err != nil {
		return "", "", err
	}
	return row.ID, rid, nil
}

// SetSuperuser makes the user named username (exactly) a superuser, whose
// every permission check passes, or an ordinary user again;
// sdk.ErrNotFound if there is no such user. It takes effect at the user's
// next token.
func (s *Store) SetSuperuser(ctx context.Context, username string, on bool) error {
	res := s.db.WithContext(ctx).Model(&userRow{}).Where("username = ?", username).
		Updates(map[string]any{"superuser": on, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("setting superuser: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("user %q: %w", username, sdk.ErrNotFound)
	}
	return nil
}

// UserAuthz returns what the user whose id is userID is allowed: its
// roles, the union of their permissions, and whether it is a superuser,
// read in one statement (one consistent view). A subject that is not a
// user of the users table (an identity of another backend) gets the zero
// Authz, without an error: no role, no permission.
func (s *Store) UserAuthz(ctx context.Context, userID string) (Authz, error) {
	rows, err := s.db.WithContext(ctx).Raw(`SELECT u.superuser, r.name, rp.permission
		FROM users u
		LEFT JOIN user_roles ur ON ur.user_id = u.id
		LEFT JOIN roles r ON r.id = ur.role_id
		LEFT JOIN role_permissions rp ON rp.role_id = r.id
		WHERE u.id = ?`, userID).Rows()
	if err != nil {
		return Authz{}, fmt.Errorf("reading a user's roles: %w", err)
	}
	defer rows.Close()
	var a Authz
	found := false
	roles, perms := map[string]struct{}{}, map[string]struct{}{}
	for rows.Next() {
		var (
			superuser  bool
			role, perm *string
		)
		if err := rows.Scan(&superuser, &role, &perm); err != nil {
			return Authz{}, fmt.Errorf("reading a user's roles: %w", err)
		}
		found, a.Superuser = true, superuser
		if role != nil {
			roles[*role] = struct{}{}
		}
		if perm != nil {
			perms[*perm] = struct{}{}
		}
	}
	if err := rows.Err(); err != nil {
		return Authz{}, fmt.Errorf("reading a user's roles: %w", err)
	}
	if !found {
		return Authz{}, nil
	}
	a.Roles, a.Permissions = sortedKeys(roles), sortedKeys(perms)
	return a, nil
}

// RolesAuthz returns what the roles named in names allow, for the roles a
// login's backend vouched for (Session.Roles): Roles are all the names,
// sorted and without repeats, and Permissions the union of the
// permissions of those the roles table defines. A name the table does not
// define is kept, without permissions, as the backend's mapping named it:
// an app that decides from role names (forward-auth's X-Portcullis-Roles)
// still sees it, and it gains permissions once a role of that name is
// created and granted some. Each name must pass ValidateRoleName.
func (s *Store) RolesAuthz(ctx context.Context, names []string) (Authz, error) {
	names = sortedSet(names)
	for _, n := range names {
		if err := ValidateRoleName(n); err != nil {
			return Authz{}, err
		}
	}
	if len(names) == 0 {
		return Authz{Roles: []string{}, Permissions: []string{}}, nil
	}
	var perms []string
	err := s.db.WithContext(ctx).Raw(`SELECT DISTINCT rp.permission
		FROM roles r JOIN role_permissions rp ON rp.role_id = r.id
		WHERE r.name IN ?`, names).Scan(&perms).Error
	if err != nil {
		return Authz{}, fmt.Errorf("reading the permissions of vouched roles: %w", err)
	}
	slices.Sort(perms)
	return Authz{Roles: names, Permissions: nonNilSlice(perms)}, nil
}

// Union returns the roles and permissions of a and b together, sorted and
// without repeats, and Superuser if either is one.
func (a Authz) Union(b Authz) Authz {
	return Authz{
		Roles:       sortedSet(append(slices.Clone(a.Roles), b.Roles...)),
		Permissions: sortedSet(append(slices.Clone(a.Permissions), b.Permissions...)),
		Superuser:   a.Superuser || b.Superuser,
	}
}

func nonNilSlice(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

func sortedKeys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// sortedSet returns ss sorted, without repeats.
func sortedSet(ss []string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return slices.Compact(out)
}

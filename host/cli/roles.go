package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/portcullis-auth/portcullis/accesstoken"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/usernames"
	"github.com/portcullis-auth/portcullis/sdk"
)

// nextToken is how the commands that change what a user may do say when
// the change is seen.
const nextToken = "A change reaches a user's access tokens from its next token (a login or a refresh);\n" +
	"a token already issued keeps what it had until it expires."

func rolesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "roles",
		Short: "Manage roles and the permissions they grant",
		Long: "Manage roles: named sets of permissions that users are given (portcullis users roles add USER ROLE).\n" +
			"A role name is 1 to 64 of the characters A-Z, a-z, 0-9, '.', '_' and '-'; a permission is 1 to 128\n" +
			"printable ASCII characters other than the space.\n" + nextToken,
	}

	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Make a role, without permissions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := storage.ValidateRoleName(args[0]); err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				r, err := store.CreateRole(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "Role %s created (id %s).\n", strconv.Quote(r.Name), r.ID)
				return nil
			})
		},
	}

	remove := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a role: its permissions and its users' membership go with it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := storage.ValidateRoleName(args[0]); err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				r, err := store.RoleByName(cmd.Context(), args[0])
				if err == nil {
					err = store.DeleteRole(cmd.Context(), args[0])
				}
				if err != nil {
					return roleError(args[0], err)
				}
				fmt.Fprintf(e.stdout, "Role %s deleted; %d user%s held it, with %d permission%s.\n", strconv.Quote(r.Name),
					r.Users, plural(r.Users, "", "s"), len(r.Permissions), plural(len(r.Permissions), "", "s"))
				return nil
			})
		},
	}

	list := &cobra.Command{
		Use:   "list",
		Short: "List the roles, with their permissions and how many users hold each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				roles, err := store.ListRoles(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tUSERS\tCREATED\tPERMISSIONS")
				for _, r := range roles {
					fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", r.Name, r.Users, appKeyTime(r.CreatedAt), permissionList(r.Permissions))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%d role(s).\n", len(roles))
				return nil
			})
		},
	}

	grant := &cobra.Command{
		Use:   "grant ROLE PERMISSION...",
		Short: "Give permissions to a role",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, perms := args[0], args[1:]
			if err := checkRoleAndPermissions(role, perms); err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				added, err := store.GrantPermissions(cmd.Context(), role, perms...)
				if err != nil {
					return roleError(role, err)
				}
				fmt.Fprintf(e.stdout, "%d permission%s granted to role %s%s.\n", added, plural(added, "", "s"), strconv.Quote(role),
					already(distinctCount(perms)-added, "it already held"))
				if r, err := store.RoleByName(cmd.Context(), role); err == nil && len(r.Permissions) > accesstoken.MaxTokenPermissions {
					fmt.Fprintf(e.stderr, "Warning: role %s holds %d permissions; an access token carries at most %d, so its users' tokens carry none, "+
						"and every permission check with them fails (permissions_overflow), but a superuser's.\n",
						strconv.Quote(role), len(r.Permissions), accesstoken.MaxTokenPermissions)
				}
				return nil
			})
		},
	}

	revoke := &cobra.Command{
		Use:   "revoke ROLE PERMISSION...",
		Short: "Take permissions from a role",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			role, perms := args[0], args[1:]
			if err := checkRoleAndPermissions(role, perms); err != nil {
				return err
			}
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				removed, err := store.RevokePermissions(cmd.Context(), role, perms...)
				if err != nil {
					return roleError(role, err)
				}
				fmt.Fprintf(e.stdout, "%d permission%s revoked from role %s%s.\n", removed, plural(removed, "", "s"), strconv.Quote(role),
					already(distinctCount(perms)-removed, "it did not hold"))
				return nil
			})
		},
	}

	cmd.AddCommand(create, remove, list, grant, revoke)
	return cmd
}

// userRolesCmd is `users roles`: the roles a user holds.
func userRolesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "roles", Short: "Give roles to a user, take them away, list them"}

	add := &cobra.Command{
		Use:   "add USERNAME ROLE",
		Short: "Give a role to a user",
		Long:  "Give a role to a user.\n" + nextToken,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withUserAndRole(cmd.Context(), args[0], args[1], func(store *storage.Store, u storage.User) error {
				added, err := store.AddUserRole(cmd.Context(), u.Username, args[1])
				if err != nil {
					return roleError(args[1], err)
				}
				if added {
					fmt.Fprintf(e.stdout, "Role %s given to user %s.\n", strconv.Quote(args[1]), usernames.Quote(u.Username))
				} else {
					fmt.Fprintf(e.stdout, "User %s already holds role %s.\n", usernames.Quote(u.Username), strconv.Quote(args[1]))
				}
				return nil
			})
		},
	}

	remove := &cobra.Command{
		Use:   "remove USERNAME ROLE",
		Short: "Take a role from a user",
		Long:  "Take a role from a user.\n" + nextToken,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withUserAndRole(cmd.Context(), args[0], args[1], func(store *storage.Store, u storage.User) error {
				removed, err := store.RemoveUserRole(cmd.Context(), u.Username, args[1])
				if err != nil {
					return roleError(args[1], err)
				}
				if removed {
					fmt.Fprintf(e.stdout, "Role %s taken from user %s.\n", strconv.Quote(args[1]), usernames.Quote(u.Username))
				} else {
					fmt.Fprintf(e.stdout, "User %s does not hold role %s.\n", usernames.Quote(u.Username), strconv.Quote(args[1]))
				}
				return nil
			})
		},
	}

	list := &cobra.Command{
		Use:   "list USERNAME",
		Short: "List a user's roles and their permissions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				u, err := findUser(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				authz, err := store.UserAuthz(cmd.Context(), u.ID)
				if err != nil {
					return err
				}
				roles, err := store.ListRoles(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ROLE\tPERMISSIONS")
				for _, r := range roles {
					if slices.Contains(authz.Roles, r.Name) {
						fmt.Fprintf(tw, "%s\t%s\n", r.Name, permissionList(r.Permissions))
					}
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				super := "not a superuser"
				if authz.Superuser {
					super = "a superuser (every permission check passes)"
				}
				fmt.Fprintf(e.stdout, "User %s holds %d role(s) and %d permission(s); it is %s.\n",
					usernames.Quote(u.Username), len(authz.Roles), len(authz.Permissions), super)
				return nil
			})
		},
	}

	cmd.AddCommand(add, remove, list)
	return cmd
}

// superuserCmd is `users superuser USERNAME on|off`.
func superuserCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "superuser USERNAME on|off",
		Short: "Make a user a superuser, whose every permission check passes, or an ordinary user again",
		Long: "Make a user a superuser, whose every permission check passes, or an ordinary user again.\n" + nextToken +
			"\nA superuser's roles are kept, and count again when it is an ordinary user.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var on bool
			switch args[1] {
			case "on":
				on = true
			case "off":
			default:
				return fmt.Errorf("say on or off, not %s", strconv.QuoteToASCII(args[1]))
			}
			return e.withStore(cmd.Context(), func(store *storage.Store) error {
				u, err := findUser(cmd.Context(), store, args[0])
				if err != nil {
					return err
				}
				if err := store.SetSuperuser(cmd.Context(), u.Username, on); err != nil {
					return err
				}
				name := usernames.Quote(u.Username)
				switch {
				case on && u.Superuser:
					fmt.Fprintf(e.stdout, "User %s was already a superuser.\n", name)
				case on:
					fmt.Fprintf(e.stdout, "User %s is now a superuser: every permission check passes from its next token.\n", name)
				case u.Superuser:
					fmt.Fprintf(e.stdout, "User %s is no longer a superuser, from its next token.\n", name)
				default:
					fmt.Fprintf(e.stdout, "User %s was not a superuser.\n", name)
				}
				return nil
			})
		},
	}
}

// withStore opens the store, calls f and closes it.
func (e *env) withStore(ctx context.Context, f func(store *storage.Store) error) error {
	_, store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	return f(store)
}

// withUserAndRole checks the role's name, finds the user and calls f.
func (e *env) withUserAndRole(ctx context.Context, username, role string, f func(store *storage.Store, u storage.User) error) error {
	if err := storage.ValidateRoleName(role); err != nil {
		return err
	}
	return e.withStore(ctx, func(store *storage.Store) error {
		u, err := findUser(ctx, store, username)
		if err != nil {
			return err
		}
		return f(store, u)
	})
}

// checkRoleAndPermissions checks a role name and permissions before the
// database is opened, so that a mistake changes nothing.
func checkRoleAndPermissions(role string, perms []string) error {
	if err := storage.ValidateRoleName(role); err != nil {
		return err
	}
	for _, p := range perms {
		if err := storage.ValidatePermission(p); err != nil {
			return err
		}
	}
	return nil
}

// roleError words an unknown role.
func roleError(role string, err error) error {
	if errors.Is(err, sdk.ErrNotFound) {
		return fmt.Errorf("no role %s (see portcullis roles list)", strconv.QuoteToASCII(role))
	}
	return err
}

// already says how many of the permissions named did nothing (" (1 it
// already held)"), or nothing.
func already(n int, what string) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" (%d %s)", n, what)
}

func distinctCount(ss []string) int {
	seen := map[string]bool{}
	for _, s := range ss {
		seen[s] = true
	}
	return len(seen)
}

// permissionList prints permissions (which hold no space) on one line.
func permissionList(perms []string) string {
	if len(perms) == 0 {
		return "-"
	}
	return strings.Join(perms, " ")
}

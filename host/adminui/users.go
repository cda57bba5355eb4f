package adminui

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/storage"
)

// userKeys are the user list's query: its filters and page.
var userKeys = []string{"q", "role", "disabled", "offset", "limit"}

// usersData is the users page's.
type usersData struct {
	Filter userFilter
	// Roles are every role's name, for the filter and the forms.
	Roles []string
	Rows  []admin.User
	Pager pager
	// Keep is the list's query, carried by each form's action.
	Keep string
	// NewUsername is the name of a user the create form was refused for.
	NewUsername string
}

type userFilter struct {
	Q, Role, Disabled string
}

// usersView loads the users page for the list query q.
func (p *Page) usersView(ctx context.Context, q url.Values) (view, error) {
	uq, err := httpapi.UserQueryOf(q)
	if err != nil {
		return view{}, err
	}
	page, err := p.svc.Users(ctx, uq)
	if err != nil {
		return view{}, err
	}
	roles, err := p.svc.Roles(ctx)
	if err != nil {
		return view{}, err
	}
	keep := kept(q, userKeys...)
	d := usersData{
		Filter: userFilter{Q: uq.Search, Role: uq.Role, Disabled: q.Get("disabled")},
		Rows:   page.Items,
		Pager:  paginate("/admin/users", keep, page),
		Keep:   keep.Encode(),
	}
	for _, role := range roles {
		d.Roles = append(d.Roles, role.Name)
	}
	return view{Title: "Users", Section: "users", Data: d}, nil
}

func (p *Page) users(w http.ResponseWriter, r *http.Request, s session) {
	p.usersPage(w, r, s, outcomeOf(r.URL.Query()), "")
}

// usersPage shows the list of r's query with o above it; newUsername
// fills the create form again after a refusal.
func (p *Page) usersPage(w http.ResponseWriter, r *http.Request, s session, o outcome, newUsername string) {
	v, err := p.usersView(r.Context(), r.URL.Query())
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	d := v.Data.(usersData)
	d.NewUsername = newUsername
	v.Data, v.Notice, v.Error = d, o.Notice, o.Error
	p.render(w, o.Status, "users", v, s)
}

// usersDone redirects back to the user list after a change.
func usersDone(w http.ResponseWriter, r *http.Request, code string) {
	done(w, r, "/admin/users", kept(r.URL.Query(), userKeys...), code, 0)
}

// createUser adds a user: fields username, password and role (any
// number). The password is never shown again, not even after a refusal.
func (p *Page) createUser(w http.ResponseWriter, r *http.Request, s session) {
	form := r.PostForm
	username := form.Get("username")
	var roles []string
	for _, role := range form["role"] {
		if role != "" {
			roles = append(roles, role)
		}
	}
	if _, err := p.svc.CreateUser(r.Context(), s.caller, username, form.Get("password"), roles); err != nil {
		p.usersPage(w, r, s, p.refused(r, err), username)
		return
	}
	usersDone(w, r, "user-created")
}

// setDisabled disables or enables the user of field username.
func (p *Page) setDisabled(disabled bool) handler {
	return func(w http.ResponseWriter, r *http.Request, s session) {
		changed, err := p.svc.SetUserDisabled(r.Context(), s.caller, r.PostForm.Get("username"), disabled)
		switch {
		case err != nil:
			p.usersPage(w, r, s, p.refused(r, err), "")
		case !changed:
			usersDone(w, r, "unchanged")
		case disabled:
			usersDone(w, r, "user-disabled")
		default:
			usersDone(w, r, "user-enabled")
		}
	}
}

// userRole gives (add) or takes a role: fields username and role.
func (p *Page) userRole(add bool) handler {
	return func(w http.ResponseWriter, r *http.Request, s session) {
		user, role := r.PostForm.Get("username"), r.PostForm.Get("role")
		var changed bool
		var err error
		if add {
			changed, err = p.svc.AddUserRole(r.Context(), s.caller, user, role)
		} else {
			changed, err = p.svc.RemoveUserRole(r.Context(), s.caller, user, role)
		}
		switch {
		case err != nil:
			p.usersPage(w, r, s, p.refused(r, err), "")
		case !changed:
			usersDone(w, r, "unchanged")
		case add:
			usersDone(w, r, "role-added")
		default:
			usersDone(w, r, "role-removed")
		}
	}
}

// rolesData is the roles page's.
type rolesData struct {
	Roles []storage.Role
	// NewName and NewPermissions fill the create form again after a
	// refusal.
	NewName, NewPermissions string
}

func (p *Page) roles(w http.ResponseWriter, r *http.Request, s session) {
	p.rolesPage(w, r, s, outcomeOf(r.URL.Query()), rolesData{})
}

// rolesPage shows every role with o above it.
func (p *Page) rolesPage(w http.ResponseWriter, r *http.Request, s session, o outcome, d rolesData) {
	roles, err := p.svc.Roles(r.Context())
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	d.Roles = roles
	p.render(w, o.Status, "roles", view{Title: "Roles", Section: "roles", Notice: o.Notice, Error: o.Error, Data: d}, s)
}

// permissionsOf splits a form's permissions field: separated by spaces,
// commas or new lines.
func permissionsOf(field string) []string {
	return strings.FieldsFunc(field, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
}

// createRole adds a role: fields name and permissions (optional). The
// permissions are checked before the role is made, as the admin API does,
// so that a refused permission leaves no role behind.
func (p *Page) createRole(w http.ResponseWriter, r *http.Request, s session) {
	name, field := strings.TrimSpace(r.PostForm.Get("name")), r.PostForm.Get("permissions")
	perms := permissionsOf(field)
	refused := func(err error) {
		p.rolesPage(w, r, s, p.refused(r, err), rolesData{NewName: name, NewPermissions: field})
	}
	for _, perm := range perms {
		if err := storage.ValidatePermission(perm); err != nil {
			refused(err)
			return
		}
	}
	if _, err := p.svc.CreateRole(r.Context(), s.caller, name); err != nil {
		refused(err)
		return
	}
	if len(perms) > 0 {
		if _, err := p.svc.GrantPermissions(r.Context(), s.caller, name, perms); err != nil {
			refused(err)
			return
		}
	}
	done(w, r, "/admin/roles", nil, "role-created", 0)
}

// deleteRole removes the role of field role.
func (p *Page) deleteRole(w http.ResponseWriter, r *http.Request, s session) {
	if err := p.svc.DeleteRole(r.Context(), s.caller, r.PostForm.Get("role")); err != nil {
		p.rolesPage(w, r, s, p.refused(r, err), rolesData{})
		return
	}
	done(w, r, "/admin/roles", nil, "role-deleted", 0)
}

// grant grants or revokes permissions: fields role and permissions.
func (p *Page) grant(grant bool) handler {
	return func(w http.ResponseWriter, r *http.Request, s session) {
		role, perms := r.PostForm.Get("role"), permissionsOf(r.PostForm.Get("permissions"))
		var n int
		var err error
		code := "granted"
		if grant {
			n, err = p.svc.GrantPermissions(r.Context(), s.caller, role, perms)
		} else {
			code = "revoked"
			n, err = p.svc.RevokePermissions(r.Context(), s.caller, role, perms)
		}
		if err != nil {
			p.rolesPage(w, r, s, p.refused(r, err), rolesData{})
			return
		}
		done(w, r, "/admin/roles", nil, code, n)
	}
}

package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/portcullis-auth/portcullis/host/admin"
	"github.com/portcullis-auth/portcullis/host/limiter"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/sdk"
)

// adminRoutes registers the admin API. Every endpoint but login needs an
// admin session (with the CSRF proof on writes) or an admin token.
func (s *Server) adminRoutes() {
	a := func(pattern string, h adminHandler) { s.mux.HandleFunc(pattern, s.requireAdmin(h)) }
	s.mux.HandleFunc("POST /v1/admin/login", s.handleAdminLogin)
	a("POST /v1/admin/logout", s.handleAdminLogout)
	a("GET /v1/admin/session", s.handleAdminSession)
	a("POST /v1/admin/register", s.handleAdminRegister)
	a("GET /v1/admin/overview", s.handleAdminOverview)
	a("GET /v1/admin/users", s.handleAdminUsers)
	a("POST /v1/admin/users", s.handleAdminCreateUser)
	a("GET /v1/admin/users/{username}", s.handleAdminUser)
	a("POST /v1/admin/users/{username}/disable", s.handleAdminDisable(true))
	a("POST /v1/admin/users/{username}/enable", s.handleAdminDisable(false))
	a("POST /v1/admin/users/{username}/password", s.handleAdminSetPassword)
	a("POST /v1/admin/users/{username}/superuser", s.handleAdminSuperuser)
	a("POST /v1/admin/users/{username}/roles/{role}", s.handleAdminUserRole(true))
	a("DELETE /v1/admin/users/{username}/roles/{role}", s.handleAdminUserRole(false))
	a("GET /v1/admin/roles", s.handleAdminRoles)
	a("POST /v1/admin/roles", s.handleAdminCreateRole)
	a("DELETE /v1/admin/roles/{role}", s.handleAdminDeleteRole)
	a("POST /v1/admin/roles/{role}/grant", s.handleAdminGrant(true))
	a("POST /v1/admin/roles/{role}/revoke", s.handleAdminGrant(false))
	a("GET /v1/admin/lockouts", s.handleAdminLockouts)
	a("POST /v1/admin/lockouts/reset", s.handleAdminResetLockouts)
	a("GET /v1/admin/access-log", s.handleAdminAccessLog)
	a("GET /v1/admin/plugins", s.handleAdminPlugins)
	a("GET /v1/admin/signals/deliveries", s.handleAdminDeliveries)
	a("POST /v1/admin/signals/deliveries/{id}/retry", s.handleAdminRetry)
	a("GET /v1/admin/authorization-requests", s.handleAdminAuthRequests)
	a("GET /v1/admin/authorization-requests/{id}", s.handleAdminAuthRequest)
	for _, d := range []struct{ verb, state string }{
		{"grant", storage.AuthRequestGranted}, {"deny", storage.AuthRequestDenied}, {"cancel", storage.AuthRequestCancelled},
	} {
		a("POST /v1/admin/authorization-requests/{id}/"+d.verb, s.handleAdminDecideAuthRequest(d.state))
	}
	a("GET /v1/admin/devices", s.handleAdminDevices)
	a("POST /v1/admin/devices/{id}/revoke", s.handleAdminRevokeDevice)
	a("GET /v1/admin/tokens", s.handleAdminTokens)
	a("POST /v1/admin/tokens", s.handleAdminCreateToken)
	a("DELETE /v1/admin/tokens/{name}", s.handleAdminRevokeToken)
	if s.opts.AdminPage != nil {
		s.mux.Handle("/admin/", s.opts.AdminPage)
	}
}

// queryPage reads offset and limit from a query.
func queryPage(q url.Values) (storage.Page, error) {
	var p storage.Page
	for _, f := range []struct {
		name string
		dst  *int
		max  int
	}{{"offset", &p.Offset, 1 << 30}, {"limit", &p.Limit, storage.MaxPage}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > f.max {
			return p, fmt.Errorf("%s must be a whole number from 0 to %d: %w", f.name, f.max, sdk.ErrInvalidArgument)
		}
		*f.dst = n
	}
	return p, nil
}

// queryBool reads an optional true/false from a query.
func queryBool(q url.Values, name string) (*bool, error) {
	switch q.Get(name) {
	case "":
		return nil, nil
	case "true", "1":
		t := true
		return &t, nil
	case "false", "0":
		f := false
		return &f, nil
	}
	return nil, fmt.Errorf("%s must be true or false: %w", name, sdk.ErrInvalidArgument)
}

// UserQueryOf parses a user list's query parameters (the admin page reads
// the same ones).
func UserQueryOf(q url.Values) (storage.UserQuery, error) {
	uq := storage.UserQuery{Search: q.Get("q"), Role: q.Get("role")}
	var err error
	if uq.Page, err = queryPage(q); err != nil {
		return uq, err
	}
	uq.Disabled, err = queryBool(q, "disabled")
	return uq, err
}

// LockoutQueryOf parses a lockout list's query parameters.
func LockoutQueryOf(q url.Values) (admin.LockoutQuery, error) {
	lq := admin.LockoutQuery{Backend: q.Get("backend"), Username: q.Get("username"), IPAddress: q.Get("ip")}
	var err error
	if lq.Page, err = queryPage(q); err != nil {
		return lq, err
	}
	locked, err := queryBool(q, "locked")
	lq.LockedOnly = locked != nil && *locked
	return lq, err
}

// AccessQueryOf parses an access-log list's query parameters.
func AccessQueryOf(q url.Values) (storage.AccessQuery, error) {
	aq := storage.AccessQuery{Username: q.Get("username"), IPAddress: q.Get("ip")}
	if b := q.Get("backend"); b != "" {
		aq.Backends = []string{b}
	}
	var err error
	if aq.Page, err = queryPage(q); err != nil {
		return aq, err
	}
	aq.Failed, err = queryBool(q, "failed")
	return aq, err
}

func (s *Server) handleAdminOverview(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	o, err := s.opts.Admin.Overview(r.Context())
	s.adminAnswer(w, r, o, err)
}

// adminAnswer answers 200 with v, or the error.
func (s *Server) adminAnswer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) handleAdminUsers(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	q, err := UserQueryOf(r.URL.Query())
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	page, err := s.opts.Admin.Users(r.Context(), q)
	s.adminAnswer(w, r, page, err)
}

func (s *Server) handleAdminUser(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	u, err := s.opts.Admin.User(r.Context(), r.PathValue("username"))
	s.adminAnswer(w, r, u, err)
}

type createUserBody struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Roles    []string `json:"roles"`
}

func (s *Server) handleAdminCreateUser(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body createUserBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	u, err := s.opts.Admin.CreateUser(r.Context(), c, body.Username, body.Password, body.Roles)
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Server) handleAdminDisable(disabled bool) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c admin.Caller) {
		changed, err := s.opts.Admin.SetUserDisabled(r.Context(), c, r.PathValue("username"), disabled)
		s.adminAnswer(w, r, map[string]bool{"changed": changed}, err)
	}
}

type passwordBody struct {
	Password string `json:"password"`
}

func (s *Server) handleAdminSetPassword(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body passwordBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	ended, err := s.opts.Admin.SetUserPassword(r.Context(), c, r.PathValue("username"), body.Password)
	s.adminAnswer(w, r, map[string]int{"sessions_ended": ended}, err)
}

type superuserBody struct {
	Superuser *bool `json:"superuser"`
}

func (s *Server) handleAdminSuperuser(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body superuserBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	if body.Superuser == nil {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "superuser (true or false) is required", nil)
		return
	}
	err := s.opts.Admin.SetSuperuser(r.Context(), c, r.PathValue("username"), *body.Superuser)
	s.adminAnswer(w, r, map[string]bool{"superuser": *body.Superuser}, err)
}

func (s *Server) handleAdminUserRole(add bool) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c admin.Caller) {
		user, role := r.PathValue("username"), r.PathValue("role")
		var changed bool
		var err error
		if add {
			changed, err = s.opts.Admin.AddUserRole(r.Context(), c, user, role)
		} else {
			changed, err = s.opts.Admin.RemoveUserRole(r.Context(), c, user, role)
		}
		s.adminAnswer(w, r, map[string]bool{"changed": changed}, err)
	}
}

func (s *Server) handleAdminRoles(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	roles, err := s.opts.Admin.Roles(r.Context())
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	items := make([]map[string]any, len(roles))
	for i, role := range roles {
		items[i] = roleView(role)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

func roleView(r storage.Role) map[string]any {
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	return map[string]any{"name": r.Name, "permissions": perms, "users": r.Users, "created_at": r.CreatedAt}
}

type createRoleBody struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

func (s *Server) handleAdminCreateRole(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body createRoleBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	for _, p := range body.Permissions {
		if err := storage.ValidatePermission(p); err != nil {
			s.adminFailed(w, r, err)
			return
		}
	}
	if _, err := s.opts.Admin.CreateRole(r.Context(), c, body.Name); err != nil {
		s.adminFailed(w, r, err)
		return
	}
	if len(body.Permissions) > 0 {
		if _, err := s.opts.Admin.GrantPermissions(r.Context(), c, body.Name, body.Permissions); err != nil {
			s.adminFailed(w, r, err)
			return
		}
	}
	role, err := s.opts.Admin.Store().RoleByName(r.Context(), body.Name)
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, roleView(role))
}

func (s *Server) handleAdminDeleteRole(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	err := s.opts.Admin.DeleteRole(r.Context(), c, r.PathValue("role"))
	s.adminAnswer(w, r, map[string]any{}, err)
}

type permissionsBody struct {
	Permissions []string `json:"permissions"`
}

func (s *Server) handleAdminGrant(grant bool) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c admin.Caller) {
		var body permissionsBody
		if err := decodeJSON(r, &body); err != nil {
			writeBadRequest(w, err)
			return
		}
		role := r.PathValue("role")
		if grant {
			n, err := s.opts.Admin.GrantPermissions(r.Context(), c, role, body.Permissions)
			s.adminAnswer(w, r, map[string]int{"added": n}, err)
			return
		}
		n, err := s.opts.Admin.RevokePermissions(r.Context(), c, role, body.Permissions)
		s.adminAnswer(w, r, map[string]int{"removed": n}, err)
	}
}

func (s *Server) handleAdminLockouts(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	q, err := LockoutQueryOf(r.URL.Query())
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	page, err := s.opts.Admin.Lockouts(r.Context(), q)
	s.adminAnswer(w, r, page, err)
}

type resetBody struct {
	Backend  string `json:"backend"`
	Username string `json:"username"`
	IP       string `json:"ip"`
	All      bool   `json:"all"`
}

func (s *Server) handleAdminResetLockouts(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body resetBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	n, err := s.opts.Admin.ResetLockouts(r.Context(), c, body.Backend, limiter.Filter{Username: body.Username, IPAddress: body.IP, All: body.All})
	s.adminAnswer(w, r, map[string]int{"removed": n}, err)
}

func (s *Server) handleAdminAccessLog(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	q, err := AccessQueryOf(r.URL.Query())
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	page, err := s.opts.Admin.AccessLog(r.Context(), q)
	s.adminAnswer(w, r, page, err)
}

func (s *Server) handleAdminPlugins(w http.ResponseWriter, _ *http.Request, _ admin.Caller) {
	writeJSON(w, http.StatusOK, map[string]any{"items": s.opts.Admin.Plugins()})
}

func (s *Server) handleAdminDeliveries(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	p, err := queryPage(r.URL.Query())
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	ds, err := s.opts.Admin.Deliveries(r.Context(), r.URL.Query().Get("state"), p.Limit)
	s.adminAnswer(w, r, map[string]any{"items": ds}, err)
}

func (s *Server) handleAdminRetry(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, codeInvalidRequest, "a delivery id is a positive whole number", nil)
		return
	}
	err = s.opts.Admin.RetryDelivery(r.Context(), c, id)
	s.adminAnswer(w, r, map[string]any{"retried": id}, err)
}

func (s *Server) handleAdminTokens(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	ts, err := s.opts.Admin.Store().ListAdminTokens(r.Context())
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	items := make([]map[string]any, len(ts))
	for i, t := range ts {
		items[i] = map[string]any{"name": t.Name, "admin": t.Admin.Username, "created_at": t.CreatedAt, "revoked": t.Revoked()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

type createTokenBody struct {
	Name string `json:"name"`
	// Admin is the admin the token acts as; the caller when empty.
	Admin string `json:"admin"`
}

func (s *Server) handleAdminCreateToken(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	var body createTokenBody
	if err := decodeJSON(r, &body); err != nil {
		writeBadRequest(w, err)
		return
	}
	if body.Admin == "" {
		body.Admin = c.Username
	}
	token, t, err := s.opts.Admin.CreateToken(r.Context(), c, body.Admin, body.Name)
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"name": t.Name, "admin": body.Admin, "token": token})
}

func (s *Server) handleAdminRevokeToken(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	revoked, err := s.opts.Admin.RevokeToken(r.Context(), c, r.PathValue("name"))
	s.adminAnswer(w, r, map[string]bool{"revoked": revoked}, err)
}

func (s *Server) handleAdminAuthRequests(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	q := r.URL.Query()
	p, err := queryPage(q)
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	page, err := s.opts.Admin.AuthRequests(r.Context(), storage.AuthRequestQuery{State: q.Get("state"), Slug: q.Get("slug"), Page: p}, q.Get("user"))
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	items := make([]map[string]any, len(page.Items))
	for i, req := range page.Items {
		items[i] = AuthRequestView(req)
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": page.Total, "offset": page.Offset, "limit": page.Limit})
}

func (s *Server) handleAdminAuthRequest(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	req, err := s.opts.Admin.AuthRequest(r.Context(), r.PathValue("id"))
	if err != nil {
		s.authRequestFailed(w, r, err, req)
		return
	}
	writeJSON(w, http.StatusOK, AuthRequestView(req))
}

func (s *Server) handleAdminDecideAuthRequest(to string) adminHandler {
	return func(w http.ResponseWriter, r *http.Request, c admin.Caller) {
		req, err := s.opts.Admin.DecideAuthRequest(r.Context(), c, r.PathValue("id"), to)
		if err != nil {
			s.authRequestFailed(w, r, err, req)
			return
		}
		writeJSON(w, http.StatusOK, AuthRequestView(req))
	}
}

// handleAdminDevices lists the mobile devices, of one user with ?user=.
func (s *Server) handleAdminDevices(w http.ResponseWriter, r *http.Request, _ admin.Caller) {
	raw, err := s.opts.Admin.Devices(r.Context(), r.URL.Query().Get("user"))
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, raw)
}

// handleAdminRevokeDevice revokes a mobile device.
func (s *Server) handleAdminRevokeDevice(w http.ResponseWriter, r *http.Request, c admin.Caller) {
	raw, err := s.opts.Admin.RevokeDevice(r.Context(), c, r.PathValue("id"))
	if err != nil {
		s.adminFailed(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, raw)
}

package httpapi

import (
	"net/http"
	"time"

	"github.com/portcullis-auth/portcullis/host/admin"
)

// The admin web page (package adminui, mounted as Options.AdminPage) logs
// admins in and out through the server, so that the page and the admin
// API share one cookie, one origin rule and one login path. These methods
// give it what it needs of the server; AdminLogin and AdminSession are in
// admin.go.

// SameOrigin reports whether a browser request comes from the host's own
// pages or a trusted origin: the rule every cookie-authenticated write of
// the API follows. The admin page applies it to each form it takes,
// its login form included.
func (s *Server) SameOrigin(r *http.Request) bool { return s.sameOrigin(r) }

// AdminLogout ends the admin session of c and clears the admin cookie. The
// caller has checked the request's CSRF proof.
func (s *Server) AdminLogout(w http.ResponseWriter, r *http.Request, c admin.Caller) error {
	if s.opts.Admin == nil {
		return admin.ErrUnavailable
	}
	if err := s.opts.Admin.Logout(r.Context(), c); err != nil {
		return err
	}
	if c.Via == "session" {
		s.setAdminCookie(w, "", time.Time{})
	}
	return nil
}

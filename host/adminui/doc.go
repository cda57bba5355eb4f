// Package adminui is the admin web page, served under /admin/: the host's
// overview, lockouts, users and roles, and signal dead letters.
//
// The page is rendered on the server with html/template (everything it
// shows is escaped) from templates and one CSS file embedded in the
// binary. It needs no JavaScript: every change is a plain HTML form posted
// and answered with a redirect (POST-redirect-GET), and every form carries
// the admin session's CSRF token in a hidden csrf_token field, checked in
// constant time, together with the same-origin rule of the HTTP API. The
// login form, which has no session yet, is guarded by the same-origin rule.
// Every answer forbids framing, scripts and caching (Content-Security-
// Policy, X-Frame-Options, Referrer-Policy, Cache-Control: no-store).
//
// The page is a view over package admin: it reads and changes nothing but
// through admin.Service, the code the admin API calls, and logs admins in
// and out through the HTTP API's server (httpapi.Server.AdminLogin,
// AdminSession, AdminLogout), which owns the admin cookie. Without a live
// admin session every page but the login form redirects (303) to
// /admin/login.
package adminui

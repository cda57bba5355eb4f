package httpapi

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/oauthflow"
	"github.com/portcullis-auth/portcullis/host/storage"
	"github.com/portcullis-auth/portcullis/host/tokens"
	"github.com/portcullis-auth/portcullis/sdk"
)

// OAuth2 serves sign-ins with external providers (docs/oauth2.md):
// GET /v1/oauth2/{backend}/start sends the browser to the provider, and
// GET /v1/oauth2/{backend}/callback finishes the sign-in with a session,
// as a password login through POST /v1/session would (or, when the start
// asked for grant=tokens, with tokens as POST /v1/login would), with the
// same lockout, two-factor and signal rules.
type OAuth2 struct {
	Service *oauthflow.Service
	// Chains finish a sign-in, by backend: the login chain's lockout
	// links, then a link that grants the identity the provider vouched
	// for (SignedIn).
	Chains map[string]*chain.Chain
	// CookieSecure marks the flow cookie Secure (the host is served over
	// https).
	CookieSecure bool
	// FlowTTL is how long the flow cookie lives (oauth2.flow_ttl).
	FlowTTL time.Duration
}

// flowCookie names the cookie that binds a flow to its browser; one per
// backend, so that two sign-ins in two tabs do not clash.
func flowCookie(backend string) string { return "portcullis_oauth2_" + backend }

func (s *Server) oauth2Routes() {
	s.mux.HandleFunc("GET /v1/oauth2/{backend}/start", s.handleOAuth2Start)
	s.mux.HandleFunc("GET /v1/oauth2/{backend}/callback", s.timedLogin(s.handleOAuth2Callback))
}

func (s *Server) handleOAuth2Start(w http.ResponseWriter, r *http.Request) {
	o := s.opts.OAuth2
	if o == nil {
		s.oauth2Failed(w, r, oauthflow.ErrUnknownBackend)
		return
	}
	backend := r.PathValue("backend")
	q := r.URL.Query()
	started, err := o.Service.Start(r.Context(), backend, q.Get("return_to"), q.Get("grant"))
	if err != nil {
		s.oauth2Failed(w, r, err)
		return
	}
	// Lax: the provider's redirect back is a top-level GET from another
	// site, which a Strict cookie would not come with.
	http.SetCookie(w, &http.Cookie{Name: flowCookie(backend), Value: started.Browser, Path: "/v1/oauth2/" + backend + "/",
		HttpOnly: true, Secure: o.CookieSecure, SameSite: http.SameSiteLaxMode, MaxAge: int(o.FlowTTL.Seconds())})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, started.URL, http.StatusFound)
}

// signedInKey carries the identity a provider vouched for to SignedIn.
type signedInKey struct{}

// SignedIn is the last link of an OAuth2 backend's chain: it grants the
// identity the callback put in the context, and abstains otherwise (it is
// never asked by a password login: only the callback runs this chain).
type SignedIn struct{}

// Authenticate implements sdk.Authenticator.
func (SignedIn) Authenticate(ctx context.Context, _ *sdk.AuthenticateRequest, resp *sdk.AuthenticateResponse) error {
	id, ok := ctx.Value(signedInKey{}).(sdk.Identity)
	if !ok || id.Subject == "" {
		resp.Abstain(sdk.ReasonInvalidCredentials)
		return nil
	}
	resp.Grant(id)
	return nil
}

// returnToKey carries where a session started by a sign-in sends the
// browser (startSession).
type returnToKey struct{}

func returnTo(ctx context.Context) string {
	to, _ := ctx.Value(returnToKey{}).(string)
	return to
}

func (s *Server) handleOAuth2Callback(w http.ResponseWriter, r *http.Request) {
	o := s.opts.OAuth2
	if o == nil {
		s.oauth2Failed(w, r, oauthflow.ErrUnknownBackend)
		return
	}
	backend := r.PathValue("backend")
	browser := ""
	if c, err := r.Cookie(flowCookie(backend)); err == nil {
		browser = c.Value
	}
	client, _ := s.trusted.clientFacts(r, nil)
	done, ok := s.admit.admit(w, r, client.IP)
	if !ok {
		return
	}
	defer done()
	finished, err := o.Service.Callback(r.Context(), backend, r.URL.Query(), browser)
	if !errors.Is(err, oauthflow.ErrBadState) {
		// The flow was used: its cookie has done its work. A callback
		// with a state that is not the browser's (forged, say) leaves
		// the cookie, so that it changes nothing.
		http.SetCookie(w, &http.Cookie{Name: flowCookie(backend), Value: "", Path: "/v1/oauth2/" + backend + "/", MaxAge: -1,
			HttpOnly: true, Secure: o.CookieSecure, SameSite: http.SameSiteLaxMode})
	}
	if err != nil {
		s.oauth2Failed(w, r, err)
		return
	}
	ch := o.Chains[backend]
	if ch == nil {
		s.oauth2Failed(w, r, oauthflow.ErrUnknownBackend)
		return
	}
	req := &sdk.AuthenticateRequest{RequestID: w.Header().Get("X-Request-Id"), Username: finished.Identity.Username,
		Client: client, Path: r.URL.Path}
	ctx := context.WithValue(r.Context(), signedInKey{}, finished.Identity)
	ctx = context.WithValue(ctx, returnToKey{}, finished.ReturnTo)
	// The session the sign-in starts keeps the provider, so that its
	// refreshes ask the provider whether it still vouches for the user.
	ctx = tokens.WithUpstream(ctx, finished.Upstream)
	r = r.WithContext(ctx)
	kind := grantSession
	if finished.Grant == storage.OAuth2GrantTokens {
		kind = grantTokens
	}
	s.answer(w, r, ch.Run(ctx, req), req, kind, true)
}

// wantsHTML reports whether the client is a browser asking for a page.
func wantsHTML(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "text/html") && !strings.Contains(a, "application/json")
}

var oauth2ErrorPage = template.Must(template.New("e").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in failed</title></head>
<body><h1>Sign-in failed</h1><p>{{.Description}}</p><p>Error: <code>{{.Code}}</code></p></body></html>
`))

// oauth2Failed answers a sign-in that failed: JSON, or a page for a
// browser that asks for one (by Accept).
func (s *Server) oauth2Failed(w http.ResponseWriter, r *http.Request, err error) {
	status, code, desc := http.StatusServiceUnavailable, codeBackendUnavailable, "the sign-in could not be finished; try again later"
	var pe *oauthflow.ProviderError
	switch {
	case errors.Is(err, oauthflow.ErrUnknownBackend):
		status, code, desc = http.StatusNotFound, codeNotFound, "no such OAuth2 backend"
	case errors.Is(err, oauthflow.ErrBadReturn):
		status, code, desc = http.StatusBadRequest, codeInvalidRequest, "return_to must be a path on this host or a URL of a configured origin"
	case errors.Is(err, oauthflow.ErrBadGrant):
		status, code, desc = http.StatusBadRequest, codeInvalidRequest, "grant must be session, or tokens without return_to (tokens are never put in a redirect)"
	case errors.Is(err, oauthflow.ErrBadState):
		status, code, desc = http.StatusBadRequest, "invalid_state", "this sign-in is not valid (expired, used, or started in another browser): start again"
	case errors.Is(err, oauthflow.ErrNotProvisioned):
		status, code, desc = http.StatusForbidden, "not_provisioned", strings.TrimSuffix(err.Error(), ": "+sdk.ErrPermissionDenied.Error())
	case errors.As(err, &pe) && pe.Upstream:
		status, code, desc = http.StatusBadGateway, "provider_error", "the provider could not be reached or failed ("+pe.Type+")"
	case errors.As(err, &pe):
		status, code, desc = http.StatusUnauthorized, pe.Type, "the provider did not sign you in ("+pe.Type+")"
	case errors.Is(err, oauthflow.ErrUnavailable):
	default:
		s.log.ErrorContext(r.Context(), "OAuth2 sign-in", "request_id", w.Header().Get("X-Request-Id"), "error", err)
	}
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		w.WriteHeader(status)
		_ = oauth2ErrorPage.Execute(w, map[string]string{"Code": code, "Description": desc})
		return
	}
	writeError(w, status, code, desc, nil)
}

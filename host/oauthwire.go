package host

import (
	"slices"
	"strings"
	"time"

	"github.com/portcullis-auth/portcullis/host/chain"
	"github.com/portcullis-auth/portcullis/host/httpapi"
	"github.com/portcullis-auth/portcullis/host/oauthflow"
	"github.com/portcullis-auth/portcullis/sdk/hostside"
	"github.com/portcullis-auth/portcullis/sdk/redirect"
)

// limiterLinks are the login chain's lockout links: a login finished
// another way (a second factor, an external provider) goes through them,
// with the same counters, before it is granted.
func limiterLinks(links []chain.Link) []chain.Link {
	var out []chain.Link
	for _, l := range links {
		if l.Limiter != nil {
			out = append(out, chain.Link{Name: l.Name, Limiter: l.Limiter, Timeout: l.Timeout})
		}
	}
	return out
}

// oauth2 serves sign-ins through every backend whose plugin is a redirect
// authenticator (the oauth2 plugin), or nil when there is none.
func (h *Host) oauth2(links []chain.Link) *httpapi.OAuth2 {
	backends := map[string]redirect.Authenticator{}
	chains := map[string]*chain.Chain{}
	for _, b := range h.cfg.Backends {
		inst := h.sup.Instance(b.Name)
		if !inst.Status().Info.Has(hostside.Redirect) {
			continue
		}
		backends[b.Name] = inst.RedirectAuthenticator()
		chains[b.Name] = chain.New(h.log, append(limiterLinks(links),
			chain.Link{Name: b.Name, Authenticator: httpapi.SignedIn{}, Timeout: 10 * time.Second})...)
	}
	if len(backends) == 0 {
		return nil
	}
	origins := slices.Clone(h.cfg.OAuth2.ReturnOrigins)
	for i, o := range origins {
		origins[i] = strings.TrimSuffix(o, "/")
	}
	svc := oauthflow.New(oauthflow.Options{
		Store: h.store, Backends: backends, Key: h.sealer.Derive("oauth2 flows"), Sealer: h.sealer,
		FlowTTL: h.cfg.OAuth2.FlowTTL.D(), ReturnOrigins: origins, Logger: h.log,
	})
	return &httpapi.OAuth2{Service: svc, Chains: chains, CookieSecure: *h.cfg.Sessions.Secure, FlowTTL: h.cfg.OAuth2.FlowTTL.D()}
}

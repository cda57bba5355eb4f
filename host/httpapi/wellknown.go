package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// jwksMaxAge is how long clients may cache the key set. A new key is
// published before it signs anything only on the host that made it, so
// clients must also re-fetch on an unknown kid (the Go client does).
const jwksMaxAge = "max-age=300"

// handleJWKS publishes the keys that verify access tokens:
// GET /.well-known/jwks.json.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := s.opts.Tokens.Keys().Set()
	if err != nil {
		s.log.ErrorContext(r.Context(), "publishing the signing keys", "error", err)
		writeError(w, http.StatusServiceUnavailable, codeBackendUnavailable, "the signing keys cannot be read; try again later", nil)
		return
	}
	writeCacheable(w, "application/jwk-set+json", "public, "+jwksMaxAge, set)
}

// writeCacheable answers 200 with v in JSON, cacheable as cacheControl says.
func writeCacheable(w http.ResponseWriter, contentType, cacheControl string, v any) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", cacheControl)
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// handleOpenIDConfiguration is the minimal discovery document standard
// OIDC libraries need to verify Portcullis tokens:
// GET /.well-known/openid-configuration.
func (s *Server) handleOpenIDConfiguration(w http.ResponseWriter, _ *http.Request) {
	issuer := s.opts.Issuer
	writeCacheable(w, "application/json", "public, max-age=3600", map[string]any{
		"issuer":                                issuer,
		"jwks_uri":                              strings.TrimSuffix(issuer, "/") + "/.well-known/jwks.json",
		"id_token_signing_alg_values_supported": []string{s.opts.Algorithm},
		"introspection_endpoint":                strings.TrimSuffix(issuer, "/") + "/v1/token/introspect",
		"revocation_endpoint":                   strings.TrimSuffix(issuer, "/") + "/v1/token/revoke",
	})
}

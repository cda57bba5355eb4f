// Command bare-forward-auth is the yardstick of the token benchmarks
// (testkit/bench/tokens-wrk.sh): bare net/http handlers for the host's
// GET /v1/forward-auth and POST /v1/token/introspect that do as little as
// an HTTP service answering those requests can.
//
//   - GET /v1/forward-auth reads the Authorization header and answers 200
//     with an X-Portcullis-User header when it holds a Bearer token, 401
//     otherwise. What it costs is the floor of one HTTP hop.
//   - POST /v1/token/introspect reads the app key's Authorization header
//     and the JSON body {"token": ...} with encoding/json, and answers
//     {"active":true,...} with the token's username.
//
// With -jwks URL it also verifies the token as golang-jwt alone does (the
// signature with the key its kid names in the key set read once from URL,
// the alg, and the expiry), no issuer or audience check, no store, no
// signals: the cost of verifying an Ed25519 JWT becomes visible next to
// the bare hop.
//
// It listens on the address given as its only argument (127.0.0.1:0 for
// any free port) and prints the address it listens on as its first line.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis-auth/portcullis/accesstoken"
)

func main() {
	jwksURL := flag.String("jwks", "", "verify tokens with the keys of this JSON Web Key Set (the host's /.well-known/jwks.json)")
	flag.Parse()
	addr := "127.0.0.1:0"
	if flag.NArg() > 0 {
		addr = flag.Arg(0)
	}
	// check returns the token's username, or an error when it is refused.
	check := func(token string) (string, error) { return "bare", nil }
	if *jwksURL != "" {
		keys, err := fetchKeys(*jwksURL)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		parser := jwt.NewParser(jwt.WithValidMethods(accesstoken.Algorithms), jwt.WithExpirationRequired())
		keyFunc := func(t *jwt.Token) (any, error) {
			kid, _ := t.Header["kid"].(string)
			k, ok := keys[kid]
			if !ok || k.Algorithm != t.Method.Alg() {
				return nil, errors.New("unknown key")
			}
			return k.Public, nil
		}
		check = func(token string) (string, error) {
			var claims accesstoken.Claims
			if _, err := parser.ParseWithClaims(token, &claims, keyFunc); err != nil {
				return "", err
			}
			return claims.Username, nil
		}
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/forward-auth", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		user, err := check(token)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Portcullis-User", user)
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /v1/token/introspect", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var body struct {
			Token *string `json:"token"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body.Token == nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		answer := map[string]any{"active": false}
		if user, err := check(*body.Token); err == nil {
			answer = map[string]any{"active": true, "username": user, "token_type": "access_token"}
		}
		out, _ := json.Marshal(answer)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
	_ = http.Serve(ln, mux)
}

// fetchKeys reads the key set at url.
func fetchKeys(url string) (map[string]accesstoken.Key, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return accesstoken.ParseSet(data)
}

// Command app is a small app that accepts Portcullis access tokens: GET
// /hello with "Authorization: Bearer <access token>" greets the user.
//
//	go run ./examples/app -host https://auth.example.com -audience portcullis
package main

import (
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/portcullis-auth/portcullis/client"
)

func main() {
	host := flag.String("host", envOr("PORTCULLIS_HOST_URL", "http://127.0.0.1:8700"), "base URL of the Portcullis host ($PORTCULLIS_HOST_URL)")
	audience := flag.String("audience", envOr("PORTCULLIS_AUDIENCE", "portcullis"), "the aud of the host's tokens, its tokens.audience ($PORTCULLIS_AUDIENCE)")
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	introspect := flag.Bool("introspect", false, "ask the host about every token (needs $PORTCULLIS_APP_KEY)")
	flag.Parse()

	c, err := client.New(client.Options{
		HostURL:  *host,
		Audience: *audience,
		AppKey:   os.Getenv("PORTCULLIS_APP_KEY"),
		Logger:   slog.Default(), // says why a token could not be checked
	})
	if err != nil {
		log.Fatal(err)
	}
	protect := c.Middleware
	if *introspect {
		if os.Getenv("PORTCULLIS_APP_KEY") == "" {
			log.Fatal("-introspect needs an app key in $PORTCULLIS_APP_KEY")
		}
		protect = c.IntrospectionMiddleware
	}

	mux := http.NewServeMux()
	mux.Handle("GET /hello", protect(http.HandlerFunc(hello)))

	srv := &http.Server{
		Addr:              *addr,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
	}
	log.Printf("listening on %s, accepting tokens of %s for %q", *addr, *host, *audience)
	log.Fatal(srv.ListenAndServe())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// hello greets the user the access token names.
func hello(w http.ResponseWriter, r *http.Request) {
	claims, ok := client.ClaimsFrom(r.Context())
	if !ok { // cannot happen behind the middleware
		http.Error(w, "no user", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	fmt.Fprintf(w, "Hello, %s!\n", claims.Username)
}

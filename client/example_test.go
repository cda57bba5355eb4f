package client_test

import (
	"fmt"
	"log"
	"net/http"

	"github.com/portcullis-auth/portcullis/client"
)

func ExampleClient_Middleware() {
	c, err := client.New(client.Options{
		HostURL:  "https://auth.example.com",
		Audience: "orders-app",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/orders", c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := client.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "orders of %s\n", claims.Subject)
	})))
	log.Fatal(http.ListenAndServe(":8080", mux))
}

func ExampleClient_Introspect() {
	c, err := client.New(client.Options{
		HostURL:  "https://auth.example.com",
		Audience: "orders-app",
		AppKey:   "the app key the host gave this app",
	})
	if err != nil {
		log.Fatal(err)
	}
	// Protect a route whose requests must stop as soon as the session is
	// revoked: each request asks the host.
	http.Handle("/account/delete", c.IntrospectionMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := client.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "deleting the account of %s\n", claims.Username)
	})))
	log.Fatal(http.ListenAndServe(":8080", nil))
}

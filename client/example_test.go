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

func ExampleClient_RequirePermissions() {
	c, err := client.New(client.Options{
		HostURL:  "https://auth.example.com",
		Audience: "orders-app",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	// Every permission is needed to list orders; one of the two to see a
	// report. Others get 403 permission_denied with what they lack.
	mux.Handle("GET /orders", c.Middleware(c.RequirePermissions("orders.read")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the orders")
	}))))
	mux.Handle("GET /reports", c.Middleware(c.RequireAnyPermission("reports.read", "reports.admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "the reports")
	}))))
	log.Fatal(http.ListenAndServe(":8080", mux))
}

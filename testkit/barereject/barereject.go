// Package barereject is the yardstick of the lockout's rejection
// benchmarks: a bare net/http handler that decodes a login's JSON body as
// the host's does (username, password, client) and answers 429 from an
// in-memory counter of the username and address, with a JSON error body
// like the host's. It keeps nothing durably: what it costs is the floor of
// any HTTP service refusing a login. testkit/cmd/bare-reject serves it.
package barereject

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// login is the body of POST /v1/login, as the host reads it.
type login struct {
	Username    *string           `json:"username"`
	Password    *string           `json:"password"`
	Credentials map[string]string `json:"credentials"`
	Client      *struct {
		IP        string `json:"ip"`
		UserAgent string `json:"user_agent"`
	} `json:"client"`
}

// Handler returns the yardstick, serving POST /v1/login.
func Handler() http.Handler {
	var counters sync.Map // username + address → *atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/login", func(w http.ResponseWriter, r *http.Request) {
		var body login
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body.Username == nil || body.Password == nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		key := *body.Username
		if body.Client != nil {
			key += "\x00" + body.Client.IP
		}
		c, _ := counters.LoadOrStore(key, new(atomic.Int64))
		n := c.(*atomic.Int64).Add(1)
		out, _ := json.Marshal(map[string]any{
			"error": "locked_out", "error_description": "too many failed login attempts",
			"failure_count": n, "failure_limit": 5,
		})
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Retry-After", strconv.Itoa(1800))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(out)
	})
	return mux
}

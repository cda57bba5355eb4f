package oidcprovider

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// OtherClientID is a second client the provider registers whenever
// Options has clients, with every redirect URI of theirs. WrongAudience sends the
// caller's flow through it, so the provider really issues the ID token to
// another audience instead of a forged token being handed out.
const OtherClientID = "oidcprovider-other-client"

// Fault is a misbehaviour injected in front of the real server, so a
// relying party's error handling can be tested against failures a real
// provider or network produces. The zero value is NoFault. Set a fault
// before the flow it should affect starts: a fault that rewrites requests
// on the way in (WrongNonce, WrongAudience) must see both the
// authorization and the token request to stay consistent.
type Fault struct {
	kind   faultKind
	status int
	delay  time.Duration
}

type faultKind int

const (
	faultNone faultKind = iota
	faultTokenStatus
	faultTokenDelay
	faultWrongNonce
	faultWrongAudience
)

var (
	// NoFault lets every request through untouched.
	NoFault = Fault{}
	// WrongNonce changes the nonce of authorization requests to "wrong-"
	// followed by the nonce sent, before the server sees them, so the ID
	// token carries a nonce the relying party did not send.
	WrongNonce = Fault{kind: faultWrongNonce}
	// WrongAudience moves the flow to OtherClientID: the authorization
	// request's client_id, and the token request's client credentials when
	// they are a registered client's, are rewritten to it. The ID token
	// is then genuinely issued with aud set to OtherClientID.
	WrongAudience = Fault{kind: faultWrongAudience}
)

// TokenHTTPError makes the token endpoint answer status with a plain-text
// body, as a failing gateway in front of a provider does.
func TokenHTTPError(status int) Fault { return Fault{kind: faultTokenStatus, status: status} }

// TokenDelay holds every token request for d before the server sees it;
// a client that gives up earlier leaves the code unspent.
func TokenDelay(d time.Duration) Fault { return Fault{kind: faultTokenDelay, delay: d} }

func (f Fault) String() string {
	switch f.kind {
	case faultTokenStatus:
		return fmt.Sprintf("TokenHTTPError(%d)", f.status)
	case faultTokenDelay:
		return fmt.Sprintf("TokenDelay(%s)", f.delay)
	case faultWrongNonce:
		return "WrongNonce"
	case faultWrongAudience:
		return "WrongAudience"
	}
	return "NoFault"
}

// maxBody bounds what the fault handler reads of a request; token and
// authorization requests are far smaller.
const maxBody = 1 << 20

// faults is the handler in front of the op package's router.
type faults struct {
	provider  *Provider
	next      http.Handler
	authPath  string
	tokenPath string
}

func (h *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == h.tokenPath && r.Method == http.MethodPost {
		// Counted before any fault answers: what is counted is that the
		// relying party asked.
		if err := bufferBody(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if isRefreshGrant(r) {
			h.provider.countRefreshGrant()
		}
	}
	f := h.provider.currentFault()
	switch {
	case f.kind == faultNone:
	case r.URL.Path == h.tokenPath && f.kind == faultTokenStatus:
		http.Error(w, "injected fault: "+http.StatusText(f.status), f.status)
		return
	case r.URL.Path == h.tokenPath && f.kind == faultTokenDelay:
		// Reading the body first lets the server notice a client that
		// hangs up while it waits, so the wait ends with it instead of
		// holding up Down.
		if err := bufferBody(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(f.delay):
		case <-r.Context().Done():
			return
		}
	case r.URL.Path == h.authPath && f.kind == faultWrongNonce:
		if err := rewriteParams(r, func(v url.Values) {
			v.Set("nonce", "wrong-"+v.Get("nonce"))
		}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	case r.URL.Path == h.authPath && f.kind == faultWrongAudience:
		if err := rewriteParams(r, func(v url.Values) {
			if h.provider.storage.hasClient(v.Get("client_id")) {
				v.Set("client_id", OtherClientID)
			}
		}); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	case r.URL.Path == h.tokenPath && f.kind == faultWrongAudience:
		if err := h.swapCredentials(r); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	h.next.ServeHTTP(w, r)
}

// swapCredentials replaces a registered client's valid credentials with
// the other client's, in whichever place the caller sent them. Wrong
// credentials are left alone for the server to refuse.
func (h *faults) swapCredentials(r *http.Request) error {
	other := h.provider.otherSecret
	inHeader := false
	if id, secret, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		if id != OtherClientID && h.provider.storage.validSecret(id, secret) {
			r.SetBasicAuth(url.QueryEscape(OtherClientID), url.QueryEscape(other))
			inHeader = true
		}
	}
	return rewriteParams(r, func(v url.Values) {
		id := v.Get("client_id")
		switch {
		case id == "" || id == OtherClientID:
		case inHeader:
			// The form's client_id only has to agree with the header.
			v.Set("client_id", OtherClientID)
		case h.provider.storage.validSecret(id, v.Get("client_secret")):
			v.Set("client_id", OtherClientID)
			v.Set("client_secret", other)
		}
	})
}

// isRefreshGrant reports whether a token request, whose body bufferBody
// has read, is a refresh_token grant; the body is left for the server.
func isRefreshGrant(r *http.Request) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return false
	}
	form, err := url.ParseQuery(string(body))
	return err == nil && form.Get("grant_type") == "refresh_token"
}

// bufferBody reads the request body into memory, as a buffering proxy
// does, and hands the server an identical copy.
func bufferBody(r *http.Request) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}

// rewriteParams edits the request's query and, for a form POST, its
// body, as one rewriting proxy in front of the server would.
func rewriteParams(r *http.Request, edit func(url.Values)) error {
	q := r.URL.Query()
	if len(q) > 0 {
		edit(q)
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return err
	}
	edit(form)
	encoded := form.Encode()
	r.Body = io.NopCloser(strings.NewReader(encoded))
	r.ContentLength = int64(len(encoded))
	r.Header.Set("Content-Length", strconv.Itoa(len(encoded)))
	return nil
}

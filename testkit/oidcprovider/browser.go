package oidcprovider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// maxHops bounds the redirects followed inside the provider, so a
// redirect loop fails the test instead of hanging it.
const maxHops = 10

// Login signs username in as a person in a browser would: it GETs
// authorizeURL, follows the provider's redirects to the login form,
// submits it, and returns the redirect to the client's redirect_uri
// without following it. That URL carries code and state, or error and
// state when the provider refused the request.
//
// c plays the browser and must have a cookie jar; its redirect policy
// does not matter, redirects are followed here only while they stay on
// the provider. A wrong password is an error: the provider shows the
// form again instead of redirecting.
func (p *Provider) Login(c *http.Client, authorizeURL, username, password string) (*url.URL, error) {
	return p.browse(c, authorizeURL, actionSignIn, func(v url.Values) {
		v.Set(fieldUsername, username)
		v.Set(fieldPassword, password)
	})
}

// Deny is Login where the person presses Cancel on the login form; the
// returned redirect carries error=access_denied and the state.
func (p *Provider) Deny(c *http.Client, authorizeURL string) (*url.URL, error) {
	return p.browse(c, authorizeURL, actionDeny, func(url.Values) {})
}

func (p *Provider) browse(c *http.Client, authorizeURL, button string, fill func(url.Values)) (*url.URL, error) {
	if c == nil || c.Jar == nil {
		return nil, errors.New("oidcprovider: the browser's http.Client needs a cookie jar")
	}
	b := *c
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	req, err := http.NewRequest(http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, err
	}
	page, callback, err := p.follow(&b, req)
	if err != nil || callback != nil {
		return callback, err
	}
	form, err := parseLoginForm(page)
	if err != nil {
		return nil, err
	}
	if !form.hasButton(fieldAction, button) {
		return nil, fmt.Errorf("oidcprovider: the login form at %s has no %q button", page.url, button)
	}
	fill(form.fields)
	form.fields.Set(fieldAction, button)

	req, err = http.NewRequest(http.MethodPost, form.action.String(), strings.NewReader(form.fields.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	page, callback, err = p.follow(&b, req)
	if err != nil || callback != nil {
		return callback, err
	}
	if msg := page.errorText(); msg != "" {
		return nil, fmt.Errorf("oidcprovider: sign-in refused: %s", msg)
	}
	return nil, fmt.Errorf("oidcprovider: the provider answered the login form with another page instead of a redirect")
}

// htmlPage is a page the provider showed the browser.
type htmlPage struct {
	url  *url.URL
	root *html.Node
}

// follow sends req and follows redirects while they stay on the provider.
// It returns the page the browser stops at, or the first redirect that
// leaves the provider, which is the answer to the client.
func (p *Provider) follow(b *http.Client, req *http.Request) (*htmlPage, *url.URL, error) {
	issuer, err := url.Parse(p.Issuer)
	if err != nil {
		return nil, nil, err
	}
	for range maxHops {
		resp, err := b.Do(req)
		if err != nil {
			return nil, nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err != nil {
			return nil, nil, err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			loc, err := resp.Location()
			if err != nil {
				return nil, nil, fmt.Errorf("oidcprovider: redirect from %s: %w", req.URL, err)
			}
			if loc.Scheme != issuer.Scheme || loc.Host != issuer.Host {
				return nil, loc, nil
			}
			if req, err = http.NewRequest(http.MethodGet, loc.String(), nil); err != nil {
				return nil, nil, err
			}
		case resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"):
			root, err := html.Parse(bytes.NewReader(body))
			if err != nil {
				return nil, nil, fmt.Errorf("oidcprovider: page at %s: %w", req.URL, err)
			}
			return &htmlPage{url: req.URL, root: root}, nil, nil
		default:
			return nil, nil, fmt.Errorf("oidcprovider: %s %s answered %s: %s",
				req.Method, req.URL, resp.Status, strings.TrimSpace(string(body)))
		}
	}
	return nil, nil, fmt.Errorf("oidcprovider: more than %d redirects inside the provider", maxHops)
}

// loginForm is the login form as a browser would submit it.
type loginForm struct {
	action  *url.URL
	fields  url.Values
	buttons [][2]string // name, value
}

func (f *loginForm) hasButton(name, value string) bool {
	for _, b := range f.buttons {
		if b == [2]string{name, value} {
			return true
		}
	}
	return false
}

func parseLoginForm(page *htmlPage) (*loginForm, error) {
	formNode := find(page.root, func(n *html.Node) bool {
		return n.Type == html.ElementNode && n.Data == "form" && attr(n, "id") == "login"
	})
	if formNode == nil {
		return nil, fmt.Errorf("oidcprovider: no login form at %s", page.url)
	}
	action, err := page.url.Parse(attr(formNode, "action"))
	if err != nil {
		return nil, err
	}
	f := &loginForm{action: action, fields: url.Values{}}
	walk(formNode, func(n *html.Node) {
		if n.Type != html.ElementNode || attr(n, "name") == "" {
			return
		}
		switch {
		case n.Data == "input":
			f.fields.Set(attr(n, "name"), attr(n, "value"))
		case n.Data == "button" && attr(n, "type") == "submit":
			f.buttons = append(f.buttons, [2]string{attr(n, "name"), attr(n, "value")})
		}
	})
	return f, nil
}

// errorText is the alert a login page shows after a failed sign-in.
func (pg *htmlPage) errorText() string {
	n := find(pg.root, func(n *html.Node) bool {
		return n.Type == html.ElementNode && attr(n, "role") == "alert"
	})
	if n == nil {
		return ""
	}
	var sb strings.Builder
	walk(n, func(n *html.Node) {
		if n.Type == html.TextNode {
			sb.WriteString(n.Data)
		}
	})
	return strings.TrimSpace(sb.String())
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func walk(n *html.Node, visit func(*html.Node)) {
	visit(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, visit)
	}
}

func find(n *html.Node, match func(*html.Node) bool) *html.Node {
	if match(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if found := find(c, match); found != nil {
			return found
		}
	}
	return nil
}

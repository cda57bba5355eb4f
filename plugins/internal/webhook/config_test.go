package webhook

import (
	"slices"
	"strings"
	"testing"
)

const secret = "a webhook secret of some length"

func TestCheck(t *testing.T) {
	tests := []struct {
		name, url, secret string
		paths             []string
		plain             bool
	}{
		{"neither", "", "", nil, false},
		{"https", "https://x.example/hook", secret, nil, false},
		{"plain http", "http://x.example/hook", secret, nil, true},
		{"http to localhost", "http://localhost:8080/hook", secret, nil, false},
		{"http to 127.0.0.1", "http://127.0.0.1/hook", secret, nil, false},
		{"http to ::1", "http://[::1]/hook", secret, nil, false},
		{"no secret", "https://x.example/", "", []string{"p.secret"}, false},
		{"no webhook", "", secret, []string{"p.secret"}, false},
		{"short secret", "https://x.example/", "short", []string{"p.secret"}, false},
		{"bad whsec", "https://x.example/", "whsec_!!!", []string{"p.secret"}, false},
		{"ftp", "ftp://x.example/", secret, []string{"p.webhook"}, false},
		{"no host", "https:///path", secret, []string{"p.webhook"}, false},
		{"unparsable", "https://u:p@h:port/", secret, []string{"p.webhook"}, false},
		{"both wrong", "gopher://x/", "s", []string{"p.secret", "p.webhook"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ps := Check("p", tt.url, tt.secret)
			var paths []string
			for _, p := range ps {
				paths = append(paths, p.Path)
			}
			slices.Sort(paths)
			if !slices.Equal(paths, tt.paths) {
				t.Fatalf("problems %v, want at %q", ps, tt.paths)
			}
			if got.PlainHTTP != tt.plain {
				t.Errorf("plain http %v, want %v", got.PlainHTTP, tt.plain)
			}
			if len(ps) == 0 && tt.url != "" && (got.URL != tt.url || string(got.Key) != tt.secret) {
				t.Errorf("target %+v", got)
			}
		})
	}
}

func TestCheckQuotesNoSecret(t *testing.T) {
	_, ps := Check("p", "gopher://user:pa55word@x.example/?token=t0ken", "whsec_c2VjcmV0")
	for _, p := range ps {
		for _, s := range []string{"pa55word", "t0ken", "c2VjcmV0"} {
			if strings.Contains(p.Message, s) {
				t.Errorf("%q is in the problem %v", s, p)
			}
		}
	}
	if got := (Target{URL: "https://u:p@x.example/a?k=v"}).Shown(); got != "https://x.example/a?…" {
		t.Errorf("shown %q", got)
	}
}

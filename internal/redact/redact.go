package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Unparsable stands for a URL that cannot be parsed, and so cannot be
// shown safely in part.
const Unparsable = "(a URL that cannot be parsed)"

// URL returns raw without its user information, query or fragment, e.g.
// "https://siem.example.com/hook?…" for
// "https://user:pass@siem.example.com/hook?token=t#f". A query, even an
// empty one ("?"), is marked "?…". A URL that cannot be parsed is shown as
// Unparsable; an opaque one ("mailto:…") as its scheme and ":…".
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return Unparsable
	}
	if u.Opaque != "" {
		return u.Scheme + ":…"
	}
	query := u.RawQuery != "" || u.ForceQuery
	shown := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	s := shown.String()
	if query {
		s += "?…"
	}
	return s
}

// inText matches what looks like an absolute URL inside a message: a
// scheme, "://", and everything up to a space, a quote, a backslash (of an
// escaped quote) or an angle bracket.
var inText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>\\` + "`" + `]+`)

// URLs returns text with every URL in it shown as URL shows it, for a
// message (an error from an HTTP client, say) that may quote one.
// Punctuation right after a URL (".,:;)]}") is kept as text, so that
// URLs(URLs(text)) == URLs(text).
func URLs(text string) string {
	return inText.ReplaceAllStringFunc(text, func(m string) string {
		u := strings.TrimRight(m, ".,:;)]}")
		return URL(u) + m[len(u):]
	})
}

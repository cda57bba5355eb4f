// Package setcookie checks the attributes of Set-Cookie headers in tests.
package setcookie

import (
	"slices"
	"strings"
	"testing"
)

// CheckAttrs fails t unless the Set-Cookie header (named what in the
// messages) has every attribute of want, exactly, and none that starts
// with one of not. The cookie's own name=value is not an attribute.
func CheckAttrs(t testing.TB, what, header string, want, not []string) {
	t.Helper()
	attrs := strings.Split(header, "; ")[1:]
	for _, w := range want {
		if !slices.Contains(attrs, w) {
			t.Errorf("%s Set-Cookie %q lacks %s", what, header, w)
		}
	}
	for _, n := range not {
		if slices.ContainsFunc(attrs, func(a string) bool { return strings.HasPrefix(a, n) }) {
			t.Errorf("%s Set-Cookie %q has %s", what, header, n)
		}
	}
}

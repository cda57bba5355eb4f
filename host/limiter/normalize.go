package limiter

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/portcullis-auth/portcullis/sdk/attempts"
)

// caseFold folds case the Unicode way after compatibility normalization,
// so that "Bob", "BOB" and "ｂｏｂ" count together. A Caser keeps state
// and must not be shared between goroutines, so each call makes its own.
func caseFold(u string) string {
	return cases.Fold().String(norm.NFKC.String(u))
}

// normalizer returns the username normalization a rule names.
func normalizer(name string) (func(string) string, bool) {
	switch name {
	case attempts.NormalizeNone:
		return func(u string) string { return u }, true
	case attempts.NormalizeLowercase:
		return strings.ToLower, true
	case attempts.NormalizeCasefold:
		return caseFold, true
	}
	return nil, false
}

package lockout

import (
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

var folder = cases.Fold()

// caseFold folds case the Unicode way after compatibility normalization,
// so that "Bob", "BOB" and "ｂｏｂ" count together.
func caseFold(u string) string {
	return folder.String(norm.NFKC.String(u))
}

package usernames

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzCanonical: any string is either refused with a message or turned
// into a canonical name that is valid UTF-8, its own canonical form, has a
// key, and is what the slow path makes of it too; and whatever the input,
// Display shows it on one line without a control, invisible or
// reordering character.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		"alice", "Alice", "al ice", " alice", "alice ", "José", "Jose\u0301", "аlice", "алиса",
		"al\u200bice", "alice\u202e", "a\x00b", "\xff", "ＡＬＩＣＥ", "straße", "ǅemal", "Ⅸ", "ﬀ",
		"山田", "user@example.com", strings.Repeat("a", MaxBytes), strings.Repeat("é", MaxBytes/2+1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := Canonical(name)
		if err != nil {
			if _, ok := err.(*Error); !ok || err.Error() == "" {
				t.Fatalf("Canonical(%q) = %T %v, want a username *Error with a message", name, err, err)
			}
		} else {
			if !utf8.ValidString(c) || c == "" || len(c) > MaxBytes {
				t.Fatalf("Canonical(%q) = %q: not a name", name, c)
			}
			if again, err := Canonical(c); err != nil || again != c {
				t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %q, %v: not idempotent", name, c, c, again, err)
			}
			if _, err := Key(c); err != nil {
				t.Fatalf("Key(%q) = %v for a canonical name", c, err)
			}
			if plainASCII(name) {
				if slow, err := canonical(name); err != nil || slow != c {
					t.Fatalf("fast path gives %q for %q, PRECIS %q, %v", c, name, slow, err)
				}
			}
		}
		shown := Display(name)
		for _, r := range shown {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(bidiControls, r) || r == utf8.RuneError && !strings.ContainsRune(name, utf8.RuneError) {
				t.Fatalf("Display(%q) = %q shows %U", name, shown, r)
			}
		}
		if q := Quote(name); !strings.HasPrefix(q, `"`) || !strings.HasSuffix(q, `"`) || strings.ContainsAny(q, "\n\r") {
			t.Fatalf("Quote(%q) = %q", name, q)
		}
	})
}

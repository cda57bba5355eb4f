package usernames

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/secure/precis"
	"golang.org/x/text/unicode/runenames"
)

// MaxBytes bounds a username, as typed and in its canonical form.
const MaxBytes = 255

// Error is why a name is not a username. Its message starts with
// "username" and says what to change.
type Error struct {
	msg string
}

func (e *Error) Error() string { return e.msg }

func refuse(format string, args ...any) error {
	return &Error{msg: fmt.Sprintf(format, args...)}
}

// Canonical returns the canonical form of name, or an *Error saying why
// name is not a username. It is idempotent: the canonical form of a
// canonical name is itself.
func Canonical(name string) (string, error) {
	switch {
	case name == "":
		return "", refuse("username must not be empty")
	case len(name) > MaxBytes:
		return "", refuse("username is longer than %d bytes", MaxBytes)
	case !utf8.ValidString(name):
		return "", refuse("username is not valid UTF-8")
	case plainASCII(name):
		// Printable ASCII without spaces is its own canonical form: PRECIS
		// allows every such character and maps none, and its letters are
		// all Latin. Most names are such names.
		return name, nil
	}
	return canonical(name)
}

// canonical is Canonical for any valid UTF-8 name of at most MaxBytes.
func canonical(name string) (string, error) {
	for _, r := range name {
		if err := checkRune(r); err != nil {
			return "", err
		}
	}
	out, err := precis.UsernameCasePreserved.String(name)
	if err != nil {
		return "", precisError(name, err)
	}
	if err := checkScripts(out); err != nil {
		return "", err
	}
	if len(out) > MaxBytes {
		return "", refuse("username is longer than %d bytes in its canonical form", MaxBytes)
	}
	return out, nil
}

// plainASCII reports whether name is printable ASCII without spaces.
func plainASCII(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return false
		}
	}
	return true
}

// Key returns the form two usernames are compared by for uniqueness: the
// canonical form mapped to lower case (PRECIS UsernameCaseMapped). Two
// names with one key are one name to a user, whatever their case or width.
func Key(name string) (string, error) {
	c, err := Canonical(name)
	if err != nil {
		return "", err
	}
	k, err := precis.UsernameCaseMapped.String(c)
	if err != nil {
		return "", precisError(c, err)
	}
	return k, nil
}

// bidiControls are the characters that reorder text (Unicode's
// Bidi_Control property): one in a name can make a line it is printed in
// read differently from what it holds.
var bidiControls = unicode.Bidi_Control

// checkRune refuses the characters that are never part of a username, with
// a message naming the kind of character and the character.
func checkRune(r rune) error {
	switch {
	case unicode.Is(bidiControls, r):
		return refuse("username must not contain bidirectional control characters (%s)", describe(r))
	case unicode.IsControl(r):
		return refuse("username must not contain control characters (%s)", describe(r))
	case unicode.IsSpace(r) || unicode.Is(unicode.Zs, r):
		return refuse("username must not contain spaces (%s)", describe(r))
	case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) ||
		unicode.Is(unicode.Variation_Selector, r):
		return refuse("username must not contain invisible characters (%s)", describe(r))
	case r == utf8.RuneError:
		return refuse("username must not contain U+FFFD REPLACEMENT CHARACTER (it stands for bytes that were not UTF-8)")
	}
	return nil
}

// precisError words a refusal of the PRECIS profile. PRECIS does not say
// which character it refused: the first one it refuses on its own is named;
// if each passes on its own, the combination broke a rule that looks at
// the whole name, which for a username is the bidi rule.
func precisError(name string, err error) error {
	for _, r := range name {
		if _, e := precis.UsernameCasePreserved.String(string(r)); e != nil {
			kind := "characters other than letters, digits and printable ASCII"
			switch {
			case !unicode.Is(unicode.Letter, r) && !unicode.Is(unicode.Digit, r) && !unicode.Is(unicode.Mark, r) && r > unicode.MaxASCII:
				kind = "symbols or punctuation other than ASCII"
			case !isAssigned(r):
				kind = "unassigned characters"
			}
			return refuse("username must not contain %s (%s)", kind, describe(r))
		}
	}
	if strings.Contains(err.Error(), "bidi") {
		return refuse("username mixes left-to-right and right-to-left characters in a way that displays misleadingly (RFC 5893)")
	}
	return refuse("username is not a valid username (%v)", err)
}

func isAssigned(r rune) bool {
	for _, t := range unicode.Categories {
		if unicode.Is(t, r) {
			return true
		}
	}
	return false
}

// scriptNames are the names of unicode.Scripts, sorted, for a stable
// answer.
var scriptNames = func() []string {
	var names []string
	for n := range unicode.Scripts {
		if n != "Common" && n != "Inherited" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}()

// scriptOf returns the script of r, or "" for a character used with every
// script (Common: digits, ASCII punctuation; Inherited: combining marks,
// which take their base's script).
func scriptOf(r rune) string {
	for _, n := range scriptNames {
		if unicode.Is(unicode.Scripts[n], r) {
			return n
		}
	}
	return ""
}

// scriptSets are the sets of scripts one name may mix (Unicode TS #39,
// "highly restrictive"): the scripts written together in Japanese, Chinese
// and Korean, each with Latin.
var scriptSets = [][]string{
	{"Latin", "Han", "Hiragana", "Katakana"},
	{"Latin", "Han", "Bopomofo"},
	{"Latin", "Han", "Hangul"},
}

// checkScripts refuses a name whose letters come from scripts that are not
// written together: a Latin name with a Cyrillic "а" in it looks like a
// Latin name that it is not.
func checkScripts(name string) error {
	var seen []string
	var first []rune // the first character of each script seen
	for _, r := range name {
		s := scriptOf(r)
		if s == "" || slices.Contains(seen, s) {
			continue
		}
		seen, first = append(seen, s), append(first, r)
		if !mixable(seen) {
			var with []string
			for i, sc := range seen[:len(seen)-1] {
				with = append(with, fmt.Sprintf("%s (%s)", sc, describe(first[i])))
			}
			return refuse("username mixes scripts: %s with %s (%s); write a name in one script",
				strings.Join(with, ", "), s, describe(r))
		}
	}
	return nil
}

func mixable(scripts []string) bool {
	if len(scripts) <= 1 {
		return true
	}
	for _, set := range scriptSets {
		ok := true
		for _, s := range scripts {
			ok = ok && slices.Contains(set, s)
		}
		if ok {
			return true
		}
	}
	return false
}

// describe names a character for a message: U+0430 CYRILLIC SMALL LETTER A.
func describe(r rune) string {
	if n := runenames.Name(r); n != "" && !strings.HasPrefix(n, "<") {
		return fmt.Sprintf("U+%04X %s", r, n)
	}
	return fmt.Sprintf("U+%04X", r)
}

// plain reports whether name can be printed as it is: it is a canonical
// username, so it holds no control, invisible or bidi character, and no
// quote or backslash that would make it read as something else.
func plain(name string) bool {
	c, err := Canonical(name)
	return err == nil && c == name && !strings.ContainsAny(name, `"\`)
}

// Quote returns name in double quotes for a message. A name that is not
// plain is escaped to ASCII (\u0430, \u200b), so that what it holds shows.
func Quote(name string) string {
	if plain(name) {
		return strconv.Quote(name)
	}
	return strconv.QuoteToASCII(name)
}

// Display returns name for a table: as it is when plain, else quoted and
// escaped as by Quote.
func Display(name string) string {
	if plain(name) {
		return name
	}
	return strconv.QuoteToASCII(name)
}

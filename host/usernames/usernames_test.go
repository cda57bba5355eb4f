package usernames

import (
	"errors"
	"strings"
	"testing"
)

const (
	joseNFC = "Jos\u00e9"  // é as one character
	joseNFD = "Jose\u0301" // e and a combining acute accent
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the canonical form; "" when refused
		err      string // in the error when refused
	}{
		{"ASCII", "alice", "alice", ""},
		{"case is kept", "Alice", "Alice", ""},
		{"email-like", "alice.smith+work@example.com", "alice.smith+work@example.com", ""},
		{"digits and ASCII punctuation", "bob_42-x", "bob_42-x", ""},
		{"NFC stays", joseNFC, joseNFC, ""},
		{"NFD becomes NFC", joseNFD, joseNFC, ""},
		{"full width folds", "\uff41\uff4c\uff49\uff43\uff45", "alice", ""},
		{"Cyrillic alone", "\u0430\u043b\u0438\u0441\u0430", "\u0430\u043b\u0438\u0441\u0430", ""},
		{"Cyrillic with digits and punctuation", "\u0431\u043e\u0440\u0438\u0441_1987", "\u0431\u043e\u0440\u0438\u0441_1987", ""},
		{"Greek alone", "\u03b1\u03bb\u03af\u03ba\u03b7", "\u03b1\u03bb\u03af\u03ba\u03b7", ""},
		{"Hebrew alone", "\u05d0\u05dc\u05d9\u05e1", "\u05d0\u05dc\u05d9\u05e1", ""},
		{"Japanese: Han, Hiragana and Katakana", "\u5c71\u7530\u305f\u308d\u3046\u30bf", "\u5c71\u7530\u305f\u308d\u3046\u30bf", ""},
		{"Korean with Latin", "kim\ud55c\uad6d", "kim\ud55c\uad6d", ""},

		{"empty", "", "", "username must not be empty"},
		{"too long", strings.Repeat("a", 256), "", "username is longer than 255 bytes"},
		{"not UTF-8", "al\xffice", "", "not valid UTF-8"},
		{"Latin a replaced by Cyrillic а", "\u0430lice", "", "username mixes scripts: Cyrillic (U+0430 CYRILLIC SMALL LETTER A) with Latin (U+006C LATIN SMALL LETTER L)"},
		{"Latin with one Cyrillic letter inside", "ali\u0441e", "", "username mixes scripts: Latin (U+0061 LATIN SMALL LETTER A) with Cyrillic (U+0441 CYRILLIC SMALL LETTER ES)"},
		{"Latin with Greek", "\u03bfscar", "", "username mixes scripts"},
		{"zero width space", "ali\u200bce", "", "invisible characters (U+200B ZERO WIDTH SPACE)"},
		{"zero width joiner", "ali\u200dce", "", "invisible characters (U+200D ZERO WIDTH JOINER)"},
		{"soft hyphen", "ali\u00adce", "", "invisible characters (U+00AD SOFT HYPHEN)"},
		{"byte order mark", "\ufeffalice", "", "invisible characters (U+FEFF ZERO WIDTH NO-BREAK SPACE)"},
		{"variation selector", "alice\ufe0f", "", "invisible characters (U+FE0F VARIATION SELECTOR-16)"},
		{"Hangul filler", "\u3164", "", "invisible characters (U+3164 HANGUL FILLER)"},
		{"right-to-left override", "alice\u202egnp.exe", "", "bidirectional control characters (U+202E RIGHT-TO-LEFT OVERRIDE)"},
		{"left-to-right mark", "alice\u200e", "", "bidirectional control characters (U+200E LEFT-TO-RIGHT MARK)"},
		{"right-to-left isolate", "\u2067alice", "", "bidirectional control characters (U+2067 RIGHT-TO-LEFT ISOLATE)"},
		{"trailing space", "alice ", "", "spaces (U+0020 SPACE)"},
		{"leading space", " alice", "", "spaces (U+0020 SPACE)"},
		{"inner space", "alice smith", "", "spaces (U+0020 SPACE)"},
		{"no-break space", "alice\u00a0", "", "spaces (U+00A0 NO-BREAK SPACE)"},
		{"ideographic space", "alice\u3000", "", "spaces (U+3000 IDEOGRAPHIC SPACE)"},
		{"tab", "al\tice", "", "control characters (U+0009"},
		{"NUL", "al\x00ice", "", "control characters (U+0000"},
		{"bell", "al\u0007ice", "", "control characters (U+0007"},
		{"escape sequence", "\x1b[2Jalice", "", "control characters (U+001B"},
		{"newline", "alice\nroot", "", "control characters (U+000A"},
		{"DEL", "alice\x7f", "", "control characters (U+007F"},
		{"emoji", "alice\U0001f600", "", "symbols or punctuation other than ASCII (U+1F600 GRINNING FACE)"},
		{"private use", "alice\ue000", "", "username must not contain"},
		{"unassigned", "alice\U000e0fff", "", "username must not contain"},
		{"replacement character", "al\ufffdice", "", "U+FFFD"},
		{"Hebrew after a digit breaks the bidi rule", "1\u05d0\u05dc\u05d9\u05e1", "", "right-to-left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.in)
			if tt.err != "" {
				var e *Error
				if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Canonical(%+q) = %+q, %v; want an *Error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Canonical(%+q) = %+q, %v; want %+q", tt.in, got, err, tt.want)
			}
			if again, err := Canonical(got); err != nil || again != got {
				t.Errorf("Canonical is not idempotent: Canonical(%+q) = %+q, %v", got, again, err)
			}
		})
	}
}

func TestKey(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"alice", "Alice", true},
		{"alice", "ALICE", true},
		{joseNFC, joseNFD, true},
		{"jos\u00e9", joseNFD, true},
		{"alice", "\uff21\uff4c\uff49\uff43\uff45", true},
		{"\u0430\u043b\u0438\u0441\u0430", "\u0410\u043b\u0438\u0441\u0430", true},
		{"alice", "alice2", false},
		{"alice", "\u0430\u043b\u0438\u0441\u0435", false},
	}
	for _, tt := range tests {
		t.Run(tt.a+" "+tt.b, func(t *testing.T) {
			ka, err := Key(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			kb, err := Key(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if (ka == kb) != tt.same {
				t.Fatalf("Key(%+q) = %+q, Key(%+q) = %+q; same = %v, want %v", tt.a, ka, tt.b, kb, ka == kb, tt.same)
			}
		})
	}
	if _, err := Key("ali\u200bce"); err == nil {
		t.Error("Key accepted a name Canonical refuses")
	}
}

func TestQuoteAndDisplay(t *testing.T) {
	tests := []struct {
		in, quote, display string
	}{
		{"alice", `"alice"`, "alice"},
		{joseNFC, `"José"`, "José"},
		{"\u0430\u043b\u0438\u0441\u0430", `"алиса"`, "алиса"},
		{joseNFD, `"Jose\u0301"`, `"Jose\u0301"`},
		{"\u0430lice", `"\u0430lice"`, `"\u0430lice"`},
		{"ali\u200bce", `"ali\u200bce"`, `"ali\u200bce"`},
		{"alice\u202egnp.exe", `"alice\u202egnp.exe"`, `"alice\u202egnp.exe"`},
		{"bob ", `"bob "`, `"bob "`},
		{"al\x1b[2Jice", `"al\x1b[2Jice"`, `"al\x1b[2Jice"`},
		{`a"b`, `"a\"b"`, `"a\"b"`},
		{"", `""`, `""`},
	}
	for _, tt := range tests {
		t.Run(tt.quote, func(t *testing.T) {
			if got := Quote(tt.in); got != tt.quote {
				t.Errorf("Quote(%+q) = %s, want %s", tt.in, got, tt.quote)
			}
			if got := Display(tt.in); got != tt.display {
				t.Errorf("Display(%+q) = %s, want %s", tt.in, got, tt.display)
			}
		})
	}
}

// TestPlainASCIIIsItsOwnForm: the shortcut for printable ASCII answers
// what the full rules answer, for every such name of one or two
// characters and for longer ones around them.
func TestPlainASCIIIsItsOwnForm(t *testing.T) {
	var names []string
	for a := byte('!'); a <= '~'; a++ {
		names = append(names, string(a), "x"+string(a)+"y")
		for b := byte('!'); b <= '~'; b++ {
			names = append(names, string([]byte{a, b}))
		}
	}
	names = append(names, "alice", "Bob.Smith+tag@example.com", strings.Repeat("Z", MaxBytes))
	for _, name := range names {
		if !plainASCII(name) {
			t.Fatalf("%q is not taken as plain ASCII", name)
		}
		fast, err1 := Canonical(name)
		full, err2 := canonical(name)
		if fast != full || (err1 == nil) != (err2 == nil) {
			t.Errorf("%q: the shortcut gives %q, %v; the rules give %q, %v", name, fast, err1, full, err2)
		}
	}
	for _, name := range []string{"a b", "a\tb", "a\x7f", "é", "a\x00"} {
		if plainASCII(name) {
			t.Errorf("%q is taken as plain ASCII", name)
		}
	}
}
